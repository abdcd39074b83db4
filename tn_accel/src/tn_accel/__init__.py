"""tensornet plugin: fused optimizer updates compiled by numba.

With tn-accel installed, the built-in optimizers (sgd, momentum, rmsprop, adam,
adamw) update each parameter in one compiled pass instead of NumPy's one pass
per operation, with the same values and the same saved state. Nothing to call:
the plugin registers the kernels (hook ``tn_optimizer_kernels``) and numba is
imported at the first optimizer step; ``TN_DISABLE_PLUGINS=accel`` turns it off.
"""
