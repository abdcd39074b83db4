"""tensornet recurrent layers plugin."""
