"""The hooks a tensornet plugin can implement (pluggy project ``tensornet``).

A plugin is a module (or object) with functions decorated by ``tn.hookimpl``
whose names are the hooks below. Distributions announce their plugin module
under the ``tensornet`` entry-point group. The core registers its own
built-ins through these same hooks.

Registration hooks return lists of classes (or callables for initializers);
each is registered under its class name and its lower-case name. A plugin
whose registration hook raises or returns anything else is skipped with a
warning (and shown as failed by ``tn plugins``); a name two plugins register
is ambiguous: using it is an error naming both, every other name works.

Training hooks run inside ``System.learn`` and ``System.fit`` for every
System; an implementation that cares about one System compares ``system``.
``fit(callbacks=[...])`` calls its callbacks' implementations too, after the
registered plugins', for that fit alone. An implementation that raises is
named in the error (PluginError "tn_before_update of plugin 'x' raised ...").
Gradients arrive as ``{instance: {param name: array}}`` (trainable parameters
only: buffers are never passed) and may be changed in place (clipping) before
the optimizer sees them; under a data-parallel plugin (``tn_parallel``) they
are already the global batch's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tn_core.parallel import Parallel

hookspec = pluggy.HookspecMarker("tensornet")
hookimpl = pluggy.HookimplMarker("tensornet")


@hookspec
def tn_register_structures() -> list[type]:
    """Return Structure subclasses (layers) this plugin provides."""


@hookspec
def tn_register_activations() -> list[type]:
    """Return Activation subclasses this plugin provides."""


@hookspec
def tn_register_optimizers() -> list[type]:
    """Return Optimizer subclasses this plugin provides."""


@hookspec
def tn_register_losses() -> list[type]:
    """Return Loss subclasses this plugin provides."""


@hookspec
def tn_register_initializers() -> list[Any]:
    """Return weight initializers: callables ``init(shape, fan_in, fan_out, rng) -> ndarray``."""


@hookspec
def tn_register_callbacks() -> list[type]:
    """Return Callback subclasses (``tn_core.Callback``: fit callbacks such as DataParallel) this plugin provides."""


@hookspec
def tn_optimizer_kernels() -> dict[type, tuple[tuple[str, ...], Any]]:
    """Return fused update kernels: ``{optimizer class: (state names, kernel)}``.

    Collected once, at the first optimizer step (or by ``tn plugins``), so an
    implementation may import a compiler there; one that raises or returns
    anything else is skipped with a warning. A kernel serves its exact class
    only (a subclass keeps the NumPy path), and only steps in which every
    parameter, gradient and state array is a C-contiguous float32 or float64
    array of one dtype and shape; every other step takes the NumPy path. Two
    plugins with a kernel for one class: neither is used.

    ``kernel(optimizer, p, g, state, new_p, new_state) -> bool`` computes the
    optimizer's update of one parameter (``state`` are the optimizer's state
    arrays in the order of the names, ``optimizer.steps`` already counts this
    step), writes the new parameter and state values into ``new_p`` and
    ``new_state``, changes nothing else and returns whether every new value is
    finite. The optimizer stores them only when every parameter's kernel
    returned True, so a step stays all or nothing, and the state stays the
    optimizer's own (``state()`` and model files are the same either way).
    For an optimizer that declares ``elementwise``, a System's step gives the
    kernel all its parameters at once: ``p``, ``g`` and the state are then the
    1-d buffers they are packed in.

    A kernel whose attribute ``in_place`` is True writes the new parameter
    values into ``p`` itself instead, and each old value into ``new_p``
    before it overwrites it; where it returns False the optimizer copies
    them back. That saves copying the new values into ``p``: 7-10% of the
    seed MLP's step at batch 1 with tn-accel's Adam (``python -m
    benchmarks.accel --forms``). Such a kernel must not raise once it has
    changed ``p``: the optimizer could not undo a step it left half done.
    """


@hookspec
def tn_array_kernels() -> dict[str, Any]:
    """Return faster implementations of the core's array primitives: ``{primitive name: function}``.

    Collected once, at the first use of a primitive (or by ``tn plugins``),
    as ``tn_optimizer_kernels`` is: one that raises or returns anything else
    is skipped with a warning, and a primitive two plugins implement keeps
    the core's own code. The core calls a kernel only with the arrays its
    description names (never empty ones), and keeps its own code for all
    others. The primitives:

    - ``"outer"``: ``outer(a, b, out)`` writes a b^T into ``out``, each number
      ``a[i] * b[j]`` as ``np.multiply.outer`` computes it. ``a`` and ``b``
      are 1-d, ``out`` C-contiguous of shape (a.size, b.size), all three
      float32 or all float64. The weight gradient of one sample
      (``tn_core.kit.affine_backward``: Dense, Residual, the recurrent cells).
    """


@hookspec
def tn_structure_examples() -> list[tuple[Any, ...]]:
    """Return ``(structure, input_shapes)`` or ``(structure, input_shapes, inputs)`` examples of each
    registered Structure.

    ``inputs`` (arrays with a batch axis) are for layers on which random
    normals are meaningless: integer arrays among them are ids, fed through an
    integer ``Input``. The conformance suite (``tn_core.testing.check_structure``)
    runs its checks on every example; a registered Structure with no example
    fails the suite.
    """


@hookspec
def tn_before_update(system: Any, grads: dict, optimizer: Any, step: int) -> None:
    """Called after gradients are computed and before the optimizer applies them.

    Change ``grads`` in place (clip, average across workers) or the optimizer
    (``optimizer.lr`` for a schedule). ``step`` counts updates from 0. The
    System computes each update's gradients into the same arrays: copy the
    ones you keep beyond the next update.
    """


@hookspec
def tn_after_update(system: Any, grads: dict, optimizer: Any, step: int, loss: float) -> None:
    """Called after the optimizer changed the parameters (logging, statistics); ``grads`` as in
    ``tn_before_update``, valid until the next update. ``step`` is the update's number, counting from 0;
    ``system.step`` already counts it (step + 1), so a model saved here holds the update."""


@hookspec
def tn_train_begin(system: Any, config: dict) -> None:
    """Called when ``System.fit`` starts, with its arguments in ``config``."""


@hookspec
def tn_epoch_end(system: Any, epoch: int, logs: dict) -> None:
    """Called after each epoch of ``System.fit`` with that epoch's metrics in ``logs``.

    Set ``system.stop_training = True`` to end training after this epoch.
    """


@hookspec
def tn_train_end(system: Any, history: dict) -> None:
    """Called when ``System.fit`` ends, normally or by ``stop_training``."""


@hookspec
def tn_train_failed(system: Any, error: BaseException) -> None:
    """Called when ``System.fit`` raises ``error`` in or after ``tn_train_begin`` (``tn_train_end`` is not
    called then), before the error reaches the caller: undo what ``tn_train_begin`` set up (a schedule's
    starting learning rate, a data-parallel attachment), if it ran. The failed step is undone already. An
    implementation that raises does not replace ``error``: a RuntimeWarning names it.
    """


@hookspec(firstresult=True)
def tn_parallel(system: Any) -> Parallel | None:
    """Return the :class:`tn_core.kit.Parallel` that runs ``system`` data-parallel, or None.

    A data-parallel plugin returns its Parallel for the Systems attached to
    it (a fit callback may attach in ``tn_train_begin``); the first non-None
    answer counts. Asked at every update (``System.apply_gradients`` reduces
    the gradients with it before the ``tn_before_update`` hooks), by ``fit``
    and ``evaluate`` (which compute only this process's share of each batch
    and reduce their sums) and before printing progress or writing a file
    (``Parallel.writes_output``). No answer: the single process.
    """
