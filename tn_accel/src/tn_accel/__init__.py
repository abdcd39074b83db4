"""tensornet plugin: fused optimizer updates and array primitives compiled by numba.

With tn-accel installed, the built-in optimizers (sgd, momentum, rmsprop, adam,
adamw) update each parameter in one compiled pass instead of NumPy's one pass
per operation, with the same values and the same saved state, and one sample's
weight gradient (the core's primitive "outer") is one compiled loop. Nothing to
call: the plugin registers the kernels (hooks ``tn_optimizer_kernels`` and
``tn_array_kernels``) and numba is imported at their first use;
``TN_DISABLE_PLUGINS=accel`` turns it off.
"""
