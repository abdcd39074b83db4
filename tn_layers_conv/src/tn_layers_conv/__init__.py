"""tensornet conv layers plugin."""
