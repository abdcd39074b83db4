"""The System: a compiled network DAG, run forward and backward over batches.

Compiling (once, when the System is built) numbers every output slot of the
network and turns each layer into a Call: its inputs' and outputs' slot
numbers and its parameters' places in the System's parameter buffer. A
forward or backward pass then walks the Calls over a list of slot values,
checking each layer's results against shapes computed once per batch size.
The trainable parameters live back to back in one buffer (:mod:`tn_core.packed`)
and each backward pass sums their gradients into a matching one, so an
elementwise optimizer updates all of them at once.
"""

from __future__ import annotations

import gc
import math
import numbers
import weakref
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import attrs
import numpy as np

from tn_core import training
from tn_core.errors import (
    ConfigError,
    NonFiniteError,
    PluginError,
    ShapeError,
    TensornetError,
    UnknownNameError,
    suggest,
    warn_renamed,
)
from tn_core.fields import check_int
from tn_core.losses import Loss, check_pairing, fuses, resolve_loss
from tn_core.optimizers import Optimizer, resolve_optimizer
from tn_core.packed import Packed, buffer, is_packed, same_objects, span, split
from tn_core.parallel import SINGLE, Parallel, parallel_of
from tn_core.plugins import get_plugins
from tn_core.seed import learn_options, set_adam_fields, verbose_layers
from tn_core.structure import (
    BackwardCall,
    Instance,
    OutputRef,
    Shape,
    as_refs,
    as_typed,
    call_backward,
    using_forward_rng,
)
from tn_core.summary import summary_table
from tn_core.training import SavedBuffers, UndoneUnlessUpdated, put_back
from tn_core.weights import load_weights, save_weights
from tn_core.wiring import Constant, Input

#: {owner instance: {param name: gradient}}; shared parameters appear once, under their first instance
ParamGrads = dict[Instance, dict[str, np.ndarray]]
#: dE/d(output) for the outputs a loss reaches
OutputGrads = dict[OutputRef, np.ndarray]
#: dE/dz for the Neurons whose activation a loss fuses with (z: the pre-activation)
PreactivationGrads = dict[Instance, np.ndarray]

#: the live Systems using each parameter set, by the id of its params dict (alive as long as they are)
_USERS: dict[int, weakref.WeakSet[System]] = {}


@attrs.define
class State:
    """What a forward pass keeps for backward (``guess(..., return_state=True)``)."""

    values: dict[OutputRef, np.ndarray]
    caches: dict[Instance, Any]
    outputs: list[np.ndarray]
    batched: bool
    batch_size: int
    #: the buffers as a training pass found them, to undo a failed step
    buffers: SavedBuffers = attrs.field(factory=list)


class Call(NamedTuple):
    """One layer of a compiled System: where its inputs and outputs are in the list of slot values."""

    inst: Instance
    args: tuple[int, ...]  #: the slots of its inputs
    first: int  #: the slot of its output 0; its outputs fill the slots first .. stop - 1
    stop: int
    constant: bool  #: a Constant (emits its value, no gradient)
    params: dict[str, int]  #: its trainable parameter names -> their index in ``System.parameters()``


def _describe(inst: Instance, name: str) -> str:
    return f"{inst.structure.type_name()} {name!r}"


def _short(value: Any) -> str:
    """What a value is, briefly: ``array (4, 3)``, ``list [array (4, 3), None]``, ``dict``."""
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    if isinstance(value, (list, tuple)):
        items = ", ".join(_short(item) for item in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"{type(value).__name__} [{items}]"
    return "None" if value is None else type(value).__name__


def _array_problem(value: Any, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """What keeps ``value`` from being a gradient of ``shape`` and ``dtype``, or None."""
    if not isinstance(value, np.ndarray):
        return f"{type(value).__name__}, not an array"
    if value.shape != shape:
        return f"shape {value.shape}, expected {shape}"
    if value.dtype != dtype:
        return f"dtype {value.dtype}, expected {dtype}"
    return None


class System:
    """A network from ``inputs`` (Input instances) to ``outputs`` (instances or slots).

    ``dtype`` (float32 or float64) is the precision of parameters and of every
    array the System computes; ``seed`` seeds stochastic layers and ``fit``.
    ``verbose`` is the seed's keyword (deprecated): True prints the layers, as
    ``print(system)`` does.

    Layers by name and in order: ``system.layers`` maps each name (its own,
    or ``<type>_<k>``: ``dense_1``, ``dense_2``, ...) to its Instance, inputs
    first; ``system["dense_1"]`` (or ``system[k]``, the k-th layer) is one
    Instance, and its ``.params`` its parameters, name -> array.
    """

    def __init__(
        self,
        inputs: Sequence[Instance],
        outputs: Sequence[Instance | OutputRef],
        dtype: Any = np.float32,
        seed: int | None = None,
        *,
        verbose: bool | None = None,
    ) -> None:
        try:
            self.dtype = np.dtype(dtype)
            ok = self.dtype in (np.float32, np.float64)
        except TypeError:
            ok = False
        if not ok:
            raise ConfigError(f"System dtype must be float32 or float64, got {dtype!r}")
        self.inputs = self._check_inputs(inputs)
        #: the dtype each input is fed as: the System's, or the integer dtype its Input declares
        self.input_dtypes = [np.dtype(i.structure.dtype or self.dtype) for i in self.inputs]
        self.outputs = as_refs(list(outputs), "System outputs")
        if not self.outputs:
            raise ShapeError("System needs at least one output")
        if not self.inputs:
            raise ShapeError("System needs at least one input: the arrays fed to the inputs set the batch size")
        self.order = self._topological_order()
        self.names = self._name_instances()
        #: name -> Instance, in the order the layers run (inputs first)
        self.layers: Mapping[str, Instance] = MappingProxyType({name: inst for inst, name in self.names.items()})
        self.groups = self._parameter_groups()
        #: the trainable (not buffer) parameter names of each group's owner, in update order
        self.trainable = {owner: sorted(set(params) - set(owner.structure.buffers)) for owner, params in self.groups}
        self.consumers = self._count_consumers()
        self._needs_grad = {with_inputs: self._needing_gradients(with_inputs) for with_inputs in (False, True)}
        self.rng = np.random.default_rng(None if seed is None else check_int(seed, "System: seed", low=0))
        self.optimizer: Optimizer | None = None
        self.step = 0
        self.stop_training = False
        self.loss: Any = "quad"  # the loss of the last fit: evaluate's default
        self._paired: set[tuple[OutputRef, type, str | None]] = set()  # (output, loss type, what it takes) checked
        #: loss name -> (the plugin registry it was resolved with, its _loss_terms)
        self._named_losses: dict[str, tuple[Any, tuple[list[Loss], list[list[Shape]], list[bool]]]] = {}
        #: (owner, name) of each trainable parameter, in update order, and the shapes of the parameters
        self._trainable_keys = [(owner, key) for owner, _ in self.groups for key in self.trainable[owner]]
        self._trainable_shapes = tuple(owner.params[key].shape for owner, key in self._trainable_keys)
        self._adopt_parameters()
        self._compile()
        if verbose is not None:
            verbose_layers(self, "System", verbose)

    # -- compilation ------------------------------------------------------------

    def _check_inputs(self, inputs: Sequence[Instance]) -> list[Instance]:
        checked = []
        for k, inst in enumerate(inputs):
            if not isinstance(inst, Instance) or not isinstance(inst.structure, Input):
                raise ShapeError(f"System inputs[{k}] must be an Input instance, got {inst!r}")
            if any(inst is other for other in checked):
                raise ShapeError(f"System inputs[{k}] ({inst!r}) is listed twice")
            checked.append(inst)
        return checked

    def _topological_order(self) -> list[Instance]:
        """The instances the outputs depend on, parents before children (iterative DFS), then the inputs
        no output depends on (fed, named, summarized and saved like the others)."""
        order: list[Instance] = []
        done: set[int] = set()
        for root in self.outputs:
            stack: list[tuple[Instance, bool]] = [(root.instance, False)]
            while stack:
                inst, expanded = stack.pop()
                if id(inst) in done:
                    continue
                if expanded:
                    done.add(id(inst))
                    order.append(inst)
                    continue
                stack.append((inst, True))
                stack.extend((ref.instance, False) for ref in reversed(inst.parents))
        for inst in order:
            if isinstance(inst.structure, Input) and not any(inst is i for i in self.inputs):
                raise ShapeError(
                    f"the outputs depend on {inst!r}{f' (named {inst.name!r})' if inst.name else ''}, "
                    "which is not in the System's inputs"
                )
        return order + [inst for inst in self.inputs if id(inst) not in done]

    def _name_instances(self) -> dict[Instance, str]:
        """Each instance's name: its own, or ``<type>_<k>`` counting that type in order."""
        names: dict[Instance, str] = {}
        taken: set[str] = set()
        counts: dict[str, int] = {}
        for inst in self.order:
            if inst.name is not None:
                name = inst.name
                if not (isinstance(name, str) and name and name.isprintable() and "/" not in name):
                    raise ConfigError(f"layer name {name!r} ({inst.structure.type_name()}): names are non-empty "
                                      "strings of printable characters without '/' (it separates the parts of "
                                      "the keys in weight files)")
            else:
                base = inst.structure.type_name().lower()
                counts[base] = counts.get(base, 0) + 1
                name = f"{base}_{counts[base]}"
            if name in taken:
                raise ConfigError(f"two layers of the System are named {name!r}")
            taken.add(name)
            names[inst] = name
        return names

    def _parameter_groups(self) -> list[tuple[Instance, dict[str, np.ndarray]]]:
        """(first instance, params dict) for each distinct parameter set, in order."""
        groups: list[tuple[Instance, dict[str, np.ndarray]]] = []
        seen: dict[int, Instance] = {}
        for inst in self.order:
            if inst.params and id(inst.params) not in seen:
                seen[id(inst.params)] = inst
                groups.append((inst, inst.params))
        self._owner = {inst: seen[id(inst.params)] for inst in self.order if inst.params}
        return groups

    def _adopt_parameters(self) -> None:
        """Cast the parameters to the System's dtype and pack the trainable ones (:meth:`_pack`), unless a live
        System of another dtype shares them.

        Systems sharing layers share their arrays (one encoder in two Systems trains once), so they must
        agree on the dtype: casting would silently change the other System's precision.
        """
        clashes = self._dtype_clashes()
        if clashes:
            gc.collect()  # a System that is only garbage in a reference cycle is not live
            clashes = self._dtype_clashes()
        if clashes:
            raise ConfigError(
                f"a {self.dtype.name} System cannot use the layers {sorted(clashes)}: a live System of dtype "
                f"{sorted(set(clashes.values()))} shares their parameters, and Systems sharing layers share one "
                "dtype; build this System with that dtype, or give it layers of its own (copy the weights "
                "across with save_weights / load_weights)"
            )
        for dead in [key for key, users in _USERS.items() if not users]:
            del _USERS[dead]
        for owner, params in self.groups:
            _USERS.setdefault(id(params), weakref.WeakSet()).add(self)
            for key in params.keys() - self.trainable[owner]:
                params[key] = params[key].astype(self.dtype, copy=False)
        self._pack([(owner.params, key) for owner, key in self._trainable_keys
                    if not (owner.params[key].dtype == self.dtype and is_packed(owner.params[key]))])

    def _pack(self, entries: list[tuple[dict[str, np.ndarray], str]]) -> None:
        """Move the arrays of ``entries`` (params dict, name) into one new buffer of the System's dtype, back to
        back in order: each entry becomes a view of it holding the same values.

        Arrays already in such a buffer stay where they are: they are another System's parameters (layers
        the two share), or were, and references to them stay valid.
        """
        shapes = [params[key].shape for params, key in entries]
        flat = buffer(sum(math.prod(shape) for shape in shapes), self.dtype)
        for (params, key), view in zip(entries, split(flat, shapes)):
            view[...] = params[key]
            params[key] = view

    def _dtype_clashes(self) -> dict[str, str]:
        """{layer name: dtype} for the parameter sets a live System of another dtype uses."""
        clashes = {}
        for owner, params in self.groups:
            other = next((s for s in _USERS.get(id(params), ()) if s.dtype != self.dtype), None)
            if other is not None:
                clashes[self.names[owner]] = other.dtype.name
        return clashes

    def _needing_gradients(self, with_inputs: bool) -> set[Instance]:
        """Instances whose output gradients are used: those with trainable parameters,
        the float Inputs when input gradients are asked for, and everything fed by them."""
        needed: set[Instance] = set()
        for inst in self.order:
            if (
                (inst.params and self.trainable[self._owner[inst]])
                or (with_inputs and isinstance(inst.structure, Input) and not inst.structure.discrete)
                or any(ref.instance in needed for ref in inst.parents)
            ):
                needed.add(inst)
        return needed

    def _compile(self) -> None:
        """Number the output slots (inputs first, then each layer's in order) and make each layer a Call."""
        self._refs = [OutputRef(inst, k) for inst in self.order for k in range(len(inst.output_shapes))]
        self._slot_of = {ref: k for k, ref in enumerate(self._refs)}
        self._input_slots = [self._slot_of[inst[0]] for inst in self.inputs]
        self._output_slots = [self._slot_of[ref] for ref in self.outputs]
        index = {(owner, key): k for k, (owner, key) in enumerate(self._trainable_keys)}
        self._calls = [
            Call(inst, tuple(self._slot_of[ref] for ref in inst.parents), self._slot_of[inst[0]],
                 self._slot_of[inst[0]] + len(inst.output_shapes), isinstance(inst.structure, Constant),
                 {key: index[self._owner[inst], key] for key in self.trainable[self._owner[inst]]} if inst.params
                 else {})
            for inst in self.order if not isinstance(inst.structure, Input)
        ]
        #: (index, Call, which of its inputs' gradients are used) of each Call a backward pass runs, last first
        self._backward_calls = {
            with_inputs: [(k, call, tuple(ref.instance in needed for ref in call.inst.parents))
                          for k, call in reversed(list(enumerate(self._calls)))
                          if call.inst in needed and not call.constant]
            for with_inputs, needed in self._needs_grad.items()
        }
        self._shapes_by_batch: dict[int, list[tuple[list[Shape], list[Shape]]]] = {}
        self._input_shapes = [inst.shape for inst in self.inputs]
        self._gradient_size = sum(math.prod(shape) for shape in self._trainable_shapes)
        self._listed: list[np.ndarray] = []  # the parameter arrays the last update found, and what it made of them
        self._parameter_arrays: list[np.ndarray] = []
        self._last_gradients: Packed | None = None
        self._update_buffer: Packed | None = None  # the gradients of the last update (_update_gradients)
        #: (params dict, name) of every buffer: what a training pass may move and a failed step puts back
        self._buffer_slots = [(params, key) for owner, params in self.groups for key in sorted(owner.structure.buffers)]

    def _batch_shapes(self, n: int) -> list[tuple[list[Shape], list[Shape]]]:
        """(output shapes, input shapes) of each Call for a batch of ``n``: what its results are checked against."""
        shapes = self._shapes_by_batch.get(n)
        if shapes is None:
            if len(self._shapes_by_batch) >= 8:  # the sizes of a fit (full and last batch), a few more
                self._shapes_by_batch.clear()
            shapes = self._shapes_by_batch[n] = [
                ([(n, *shape) for shape in call.inst.output_shapes], [(n, *shape) for shape in call.inst.input_shapes])
                for call in self._calls
            ]
        return shapes

    def _count_consumers(self) -> dict[OutputRef, int]:
        counts: dict[OutputRef, int] = {}
        for inst in self.order:
            for ref in inst.parents:
                counts[ref] = counts.get(ref, 0) + 1
        return counts

    def parameters(self) -> list[tuple[str, str, np.ndarray]]:
        """(layer name, parameter name, array) for every trainable parameter, in update order."""
        return [(self.names[owner], key, params[key]) for owner, params in self.groups for key in self.trainable[owner]]

    def buffers(self) -> list[tuple[str, str, np.ndarray]]:
        """(layer name, buffer name, array) for every buffer (state that is saved but not trained)."""
        return [
            (self.names[owner], key, params[key])
            for owner, params in self.groups
            for key in sorted(owner.structure.buffers)
        ]

    def __repr__(self) -> str:
        return "\n".join(f"{self.names[inst]}: {inst!r}" for inst in self.order)

    def __getitem__(self, key: str | int) -> Instance:
        """The layer named ``key`` (``system["dense_1"]``), or the ``key``-th in ``system.layers``."""
        if isinstance(key, str):
            if key not in self.layers:
                names = list(self.layers)
                shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
                raise UnknownNameError(f"the System has no layer {key!r}{suggest(key, names)}; its layers: {shown}")
            return self.layers[key]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -len(self.order) <= key < len(self.order):
                raise IndexError(f"the System has {len(self.order)} layers, asked for layer {key}")
            return self.order[key]
        raise TypeError(f"System layers are indexed by name or position, got {type(key).__name__} {key!r}")

    def __getattr__(self, name: str) -> Any:
        """Only reached for a missing attribute: the seed's ``.parts`` gets a pointer to ``.layers``."""
        if name == "parts":
            raise AttributeError("System.parts (the seed's list of layers) is now System.layers, name -> Instance "
                                 "in the order they run (inputs first): system['dense_1'].params['weights'] is "
                                 "the seed's parts[i].layer[0].weights")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- feeding --------------------------------------------------------------------

    def _as_arrays(
        self, arrays: Any, shapes: Sequence[Shape | list[Shape]], what: str, dtypes: list[np.dtype] | None = None,
        batched: bool | None = None,
    ) -> tuple[list[np.ndarray], bool, int]:
        """Check and cast arrays fed for ``shapes`` (each a shape, or a list of the shapes it may have) as
        ``dtypes`` (by default the System's), with a batch axis or without one unless ``batched`` says which;
        returns (batched arrays, batched, N)."""
        if isinstance(arrays, np.ndarray) and len(shapes) == 1:
            arrays = [arrays]
        if not isinstance(arrays, (list, tuple)):
            raise ShapeError(f"{what}: expected a list of {len(shapes)} arrays, got {type(arrays).__name__}")
        if len(arrays) != len(shapes):
            raise ShapeError(f"{what}: expected {len(shapes)} arrays, got {len(arrays)}")
        out, modes = [], set()
        for k, (array, shape) in enumerate(zip(arrays, shapes)):
            x = as_typed(array, dtypes[k] if dtypes else self.dtype, f"{what}[{k}]")
            allowed = shape if isinstance(shape, list) else [shape]
            if x.shape in allowed and batched is not True:
                x, one = x[np.newaxis], False
            elif x.ndim and x.shape[1:] in allowed and x.shape[0] > 0 and batched is not False:
                one = True
            elif x.ndim and x.shape[1:] in allowed and batched is not False:
                raise ShapeError(f"{what}[{k}]: a batch of 0 samples (shape {x.shape}); feed at least one")
            else:
                expected = ", or ".join(f"({', '.join(['N', *map(str, s)])}) or {s}" for s in allowed)
                raise ShapeError(f"{what}[{k}]: expected shape {expected}, got {x.shape}")
            modes.add((one, x.shape[0]))
            out.append(x)
        if len(modes) > 1:
            raise ShapeError(f"{what}: arrays disagree on the batch size: {[x.shape for x in out]}")
        batched, n = modes.pop()
        return out, batched, n

    # -- forward --------------------------------------------------------------------

    def forward(self, inputs: Any, training: bool = False) -> State:
        """Run the network; the State holds every value and cache."""
        xs, batched, n = self._as_arrays(inputs, self._input_shapes, "System inputs", self.input_dtypes)
        values: list[Any] = [None] * len(self._refs)
        for k, x in zip(self._input_slots, xs):
            values[k] = x
        caches: dict[Instance, Any] = {}
        buffers = [(params, key, params[key], params[key].copy()) for params, key in self._buffer_slots if training]
        inst = None
        try:
            with using_forward_rng(self.rng):
                for call, (shapes, _) in zip(self._calls, self._batch_shapes(n)):
                    inst = call.inst
                    if call.constant:
                        values[call.first] = inst.structure.emit(n, self.dtype)
                        continue
                    result = inst.structure.forward(inst.params, [values[k] for k in call.args], training)
                    outs, caches[inst] = self._checked_forward(inst, result, shapes)
                    values[call.first : call.stop] = outs
                    if training and inst.structure.buffers:
                        self._check_buffers_finite(inst)
        except BaseException as exc:
            put_back(buffers)
            if inst is not None:
                self._note_layer(exc, inst, "forward", [values[k] for k in call.args])
            raise
        return State(dict(zip(self._refs, values)), caches, [values[k] for k in self._output_slots], batched, n,
                     buffers)

    def _note_layer(self, exc: BaseException, inst: Instance, method: str, inputs: Sequence[Any] = ()) -> None:
        """Name the layer in the traceback of an error its own code raised (tensornet's errors name it already),
        and say which of its ``inputs`` hold integers: ids, which only layers that take ids (an Embedding) read.
        Python 3.11's notes; nothing before."""
        if not hasattr(exc, "add_note"):
            return
        if not isinstance(exc, TensornetError):
            exc.add_note(f"raised in {_describe(inst, self.names[inst])}.{method}")
        ids = [k for k, x in enumerate(inputs) if getattr(getattr(x, "dtype", None), "kind", "") in ("i", "u")]
        if ids:
            exc.add_note(f"its inputs {ids} hold integers (ids from an integer Input): layers other than those that "
                         "take ids, such as Embedding, compute with the System's floats")

    def _checked_forward(self, inst: Instance, result: Any, shapes: list[Shape]) -> tuple[list[np.ndarray], Any]:
        """(outputs, cache) from what ``forward`` returned; PluginError naming the layer unless the outputs are
        arrays of the promised ``shapes`` (with the batch axis) and of the System's dtype (or integers: ids
        passed along)."""
        if isinstance(result, (tuple, list)) and len(result) == 2:
            outs, cache = result
            if isinstance(outs, (tuple, list)) and len(outs) == len(shapes):
                for o, shape in zip(outs, shapes):
                    if not (isinstance(o, np.ndarray) and o.shape == shape
                            and (o.dtype == self.dtype or o.dtype.kind in "iu")):
                        break
                else:
                    return list(outs), cache
        where = f"{_describe(inst, self.names[inst])}.forward"
        if not isinstance(result, (tuple, list)) or len(result) != 2 or not isinstance(result[0], (tuple, list)):
            raise PluginError(f"{where} returned {_short(result)}; expected (list of outputs, cache)")
        outs = result[0]
        if [getattr(o, "shape", None) for o in outs] != shapes:
            raise PluginError(f"{where} returned outputs of shapes {[getattr(o, 'shape', None) for o in outs]}, "
                              f"expected {shapes}")
        not_arrays = [f"{k}: {type(o).__name__}" for k, o in enumerate(outs)
                      if not isinstance(getattr(o, "dtype", None), np.dtype)]
        if not_arrays:
            raise PluginError(f"{where} returned outputs that are not arrays (slot: type): {', '.join(not_arrays)}")
        wrong = [(k, o.dtype.name) for k, o in enumerate(outs) if o.dtype != self.dtype and o.dtype.kind not in "iu"]
        if wrong:
            raise PluginError(f"{where} returned outputs of dtype {wrong} (slot, dtype) in a {self.dtype} System")
        return list(outs), result[1]  # arrays of another type with the right shape and dtype

    def _check_buffers_finite(self, inst: Instance) -> None:
        """NonFiniteError naming the layer where its training pass left a buffer non-finite (statistics of
        inputs too large for the dtype): the pass fails and puts every buffer back, rather than a later
        inference reading inf for good."""
        bad = [key for key in sorted(inst.structure.buffers) if not np.isfinite(inst.params[key]).all()]
        if bad:
            raise NonFiniteError(f"{_describe(inst, self.names[inst])}: this training pass would make its buffers "
                                 f"{bad} non-finite (its inputs' statistics overflow {self.dtype.name}); every "
                                 "buffer is as before the pass")

    def _checked_backward(
        self, call: Call, result: Any, shapes: list[Shape]
    ) -> tuple[list[np.ndarray | None], dict[str, np.ndarray]]:
        """(input grads, param grads) from what ``backward`` returned; PluginError naming the layer unless every
        gradient has the shape and dtype of what it is the gradient of (the inputs': ``shapes``, with the batch
        axis), and every trainable parameter has one."""
        inst, dtype = call.inst, self.dtype
        if isinstance(result, (tuple, list)) and len(result) == 2:
            in_grads, p_grads = result
            if (isinstance(in_grads, (tuple, list)) and len(in_grads) == len(shapes)
                    and isinstance(p_grads, dict) and p_grads.keys() == call.params.keys()):
                for g, shape in zip(in_grads, shapes):
                    if g is not None and not (isinstance(g, np.ndarray) and g.shape == shape and g.dtype == dtype):
                        break
                else:
                    for key, g in p_grads.items():
                        if not (isinstance(g, np.ndarray) and g.shape == inst.params[key].shape and g.dtype == dtype):
                            break
                    else:
                        return list(in_grads), p_grads
        n = shapes[0][0] if shapes else 0
        where = f"{_describe(inst, self.names[inst])}.backward"
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise PluginError(f"{where} returned {_short(result)}; expected (input gradients, parameter gradients)")
        in_grads, p_grads = result
        if not isinstance(in_grads, (tuple, list)) or len(in_grads) != len(inst.parents):
            raise PluginError(f"{where} returned {_short(in_grads)} as input gradients; expected a list of "
                              f"{len(inst.parents)} (arrays or None)")
        problems = [
            f"input {k}: {_array_problem(g, (n, *ref.shape), self.dtype)}"
            for k, (g, ref) in enumerate(zip(in_grads, inst.parents))
            if g is not None and _array_problem(g, (n, *ref.shape), self.dtype)
        ]
        if not isinstance(p_grads, dict):
            raise PluginError(f"{where} returned {_short(p_grads)} as parameter gradients; expected a dict")
        # a sum over the batch of a 0-d parameter's gradient is a NumPy scalar: as a 0-d array it is one
        p_grads = {key: np.asarray(g) if isinstance(g, np.generic) else g for key, g in p_grads.items()}
        trainable = self.trainable[self._owner[inst]] if inst.params else []
        wrong = sorted(p_grads.keys() - trainable)
        if wrong:
            problems.append(f"gradients for {wrong}, which are not its trainable parameters {trainable}"
                            + (f" (buffers {list(inst.structure.buffers)} get none)" if inst.structure.buffers else ""))
        missing = [key for key in trainable if key not in p_grads]
        if missing:
            problems.append(f"no gradient for the parameters {missing}")
        problems += [
            f"parameter {key!r}: {_array_problem(g, inst.params[key].shape, self.dtype)}"
            for key, g in p_grads.items()
            if key in inst.params and _array_problem(g, inst.params[key].shape, self.dtype)
        ]
        if problems:
            raise PluginError(f"{where} returned " + "; ".join(problems))
        return list(in_grads), p_grads

    def guess(
        self, inputs: Any, return_state: bool = False, training: bool | None = None, *, verbose: bool | None = None
    ) -> Any:
        """Outputs for ``inputs`` (a batch, or one sample as in the seed).

        With ``return_state`` the forward pass runs in training mode (unless
        ``training=False``) and its State is returned for ``learn``.
        ``verbose`` is the seed's keyword (deprecated): True prints the layers first.
        """
        if verbose is not None:
            verbose_layers(self, "guess", verbose)
        state = self.forward(inputs, training=return_state if training is None else training)
        outputs = state.outputs if state.batched else [o[0] for o in state.outputs]
        return (outputs, state) if return_state else outputs

    # -- loss and backward ------------------------------------------------------------

    def _losses(self, loss: Any) -> list[Loss]:
        """One Loss per output, checked against the output's shape and activation (``losses.check_pairing``:
        a ConfigError, or a warning, the first time a kind of loss meets an output)."""
        return self._loss_terms(loss)[0]

    def _loss_terms(self, loss: Any) -> tuple[list[Loss], list[list[Shape]], list[bool]]:
        """(:meth:`_losses`, the per-sample target shapes each accepts, whether each is computed from its output's
        pre-activation: ``losses.fuses``), worked out once per plugin registry for a loss named by a string."""
        registry = get_plugins().registry()
        named = self._named_losses.get(loss) if isinstance(loss, str) else None
        if named is not None and named[0] is registry:  # resolved and paired before, with these plugins
            return named[1]
        specs = loss if isinstance(loss, (list, tuple)) else [loss] * len(self.outputs)
        if len(specs) != len(self.outputs):
            raise ConfigError(f"{len(specs)} losses given for {len(self.outputs)} outputs")
        losses = [resolve_loss(spec) for spec in specs]
        for ref, fn, spec in zip(self.outputs, losses, specs):
            pairing = (ref, type(fn), fn.takes())
            if pairing in self._paired:
                continue
            output = f"{self.names[ref.instance]}[{ref.slot}]"
            if fn.reduces_last_axis and ref.shape == ():
                raise ShapeError(
                    f"loss {type(fn).__name__} works along the last axis of each sample (the classes), and output "
                    f"{output} has per-sample shape (): it would mix the samples"
                )
            check_pairing(fn, ref, output, spec)
            self._paired.add(pairing)
        terms = (losses, [fn.target_shapes(ref.shape) for ref, fn in zip(self.outputs, losses)],
                 [fuses(fn, ref) for ref, fn in zip(self.outputs, losses)])
        if isinstance(loss, str):
            self._named_losses[loss] = (registry, terms)
        return terms

    def check_targets(self, targets: list[np.ndarray], losses: list[Loss]) -> None:
        """ShapeError naming the output when its targets do not suit its loss (``Loss.target_problem``)."""
        for k, (ref, t, fn) in enumerate(zip(self.outputs, targets, losses)):
            problem = fn.target_problem(t, ref.shape)
            if problem is not None:
                raise ShapeError(
                    f"true outputs[{k}] for output {self.names[ref.instance]}[{ref.slot}] ({type(fn).__name__}): "
                    f"{problem}"
                )

    def loss_gradients(self, state: State, targets: Any, loss: Any) -> tuple[float, OutputGrads, PreactivationGrads]:
        """(total loss, dE/d(outputs) of unfused losses, dE/dz of fused ones).

        A loss fuses with the activation of a single-output Neuron that
        declares its fusion, whoever else reads that output: it is computed
        from z, and the readers' dE/da joins dE/dz in ``backward``.
        """
        losses, shapes, fused_flags = self._loss_terms(loss)
        ts, _, n = self._as_arrays(targets, shapes, "true outputs", batched=state.batched)
        if n != state.batch_size:
            raise ShapeError(f"true outputs: {n} samples for a forward pass of {state.batch_size}")
        self.check_targets(ts, losses)
        total, output_grads, fused = 0.0, {}, {}
        for ref, y, t, fn, fuse in zip(self.outputs, state.outputs, ts, losses, fused_flags):
            inst = ref.instance
            if fuse:
                value, grad = fn.evaluate(inst.structure.preactivation(state.caches[inst]), t, True)
                fused[inst] = fused[inst] + grad if inst in fused else grad
            else:
                value, grad = fn.evaluate(y, t, False)
                output_grads[ref] = output_grads[ref] + grad if ref in output_grads else grad
            total += value
        return total, output_grads, fused

    def backward(
        self,
        state: State,
        output_grads: OutputGrads | None = None,
        fused: PreactivationGrads | None = None,
        input_grads: bool = True,
        *,
        seeds: OutputGrads | None = None,
    ) -> tuple[ParamGrads, list[np.ndarray | None]]:
        """Backpropagate ``output_grads`` (dE/d(outputs)) and, for Neurons in ``fused``, dE/dz; returns
        (parameter grads, dE/d(each input)).

        Gradients reaching one tensor from several layers are summed, and so
        are the gradients of parameters shared by several instances. Layers
        are told (``tn.input_grad_wanted``) which input gradients are used, so
        with ``input_grads=False`` the first layers skip dE/dx (and the input
        gradient list comes back empty). Integer inputs get None. The parameter
        gradients are views of one new buffer (in :meth:`parameters` order).
        ``seeds=`` is the former name of ``output_grads`` (deprecated).
        """
        if seeds is not None:
            warn_renamed("backward(seeds=)", "backward(output_grads=)")
            output_grads = seeds
        return self._backward(state, output_grads, fused, input_grads, self._new_gradient_buffer())

    def _update_gradients(self, state: State, targets: Any, loss: Any) -> tuple[float, ParamGrads]:
        """(loss, parameter gradients) for one update (learn's and fit's): :meth:`backward` without input
        gradients, into a buffer the System keeps for this. So the gradients live until the next update's:
        hooks that want them later (``tn_before_update``, ``tn_after_update``) copy them."""
        total, output_grads, fused = self.loss_gradients(state, targets, loss)
        if self._update_buffer is None:
            self._update_buffer = self._new_gradient_buffer()
        pgrads, _ = self._backward(state, output_grads, fused, False, self._update_buffer)
        return total, pgrads

    def _new_gradient_buffer(self) -> Packed:
        """An uninitialized buffer for a gradient of every trainable parameter, in :meth:`parameters` order."""
        return Packed(np.empty(self._gradient_size, self.dtype), self._trainable_shapes)

    def _backward(
        self, state: State, output_grads: OutputGrads | None, fused: PreactivationGrads | None, input_grads: bool,
        totals: Packed,
    ) -> tuple[ParamGrads, list[np.ndarray | None]]:
        """:meth:`backward`, summing the parameter gradients into ``totals``."""
        n = state.batch_size
        grads: list[np.ndarray | None] = [None] * len(self._refs)
        for ref, g in (output_grads or {}).items():
            k = self._slot_of.get(ref)
            if k is None:
                raise ShapeError(f"backward: a gradient for {ref.instance!r} slot {ref.slot}, which is not in this "
                                 "System")
            grads[k] = g if grads[k] is None else grads[k] + g
        fused = fused or {}
        written = [False] * len(totals)
        shapes, caches = self._batch_shapes(n), state.caches
        for k, call, wanted in self._backward_calls[input_grads]:
            inst = call.inst
            slot_grads = grads[call.first : call.stop]
            dz = fused.get(inst)
            if dz is None and all(g is None for g in slot_grads):
                continue
            targets = {id(inst.params[key]): totals[i] for key, i in call.params.items() if not written[i]}
            if dz is not None:
                method, args = inst.structure.backward_from_preactivation, (inst.params, caches[inst], dz,
                                                                           slot_grads[0])
            else:
                filled = [g if g is not None else np.zeros(shape, self.dtype)
                          for g, shape in zip(slot_grads, shapes[k][0])]
                method, args = inst.structure.backward, (inst.params, caches[inst], filled)
            try:
                result = call_backward(method, args, BackwardCall(wanted, targets))
            except Exception as exc:
                self._note_layer(exc, inst, "backward")
                raise
            in_grads, p_grads = self._checked_backward(call, result, shapes[k][1])
            for key, g in p_grads.items():
                i = call.params[key]
                if written[i]:  # a parameter shared with a layer that ran before (Clone)
                    np.add(totals[i], g, out=totals[i])
                elif g is not totals[i]:  # not computed in place (gradient_target)
                    np.copyto(totals[i], g)
                written[i] = True
            for j, g, use in zip(call.args, in_grads, wanted):
                if use and g is not None:
                    grads[j] = g if grads[j] is None else grads[j] + g
        pgrads: ParamGrads = {}
        for (owner, key), total, done in zip(self._trainable_keys, totals, written):
            if done:
                pgrads.setdefault(owner, {})[key] = total
        self._last_gradients = totals
        if not input_grads:
            return pgrads, []
        xgrads = [
            None if inst.structure.discrete else grads[k] if grads[k] is not None
            else np.zeros((n, *inst.shape), self.dtype)
            for inst, k in zip(self.inputs, self._input_slots)
        ]
        return pgrads, xgrads

    def gradients(
        self, inputs: Any, true_outputs: Any, loss: Any = "quad", training: bool = True
    ) -> tuple[ParamGrads, list[np.ndarray | None]]:
        """(parameter gradients, input gradients) of the loss, without any update.

        Integer inputs have no gradient (None); buffers are not parameters.
        """
        state = self.forward(inputs, training=training)
        _, output_grads, fused = self.loss_gradients(state, true_outputs, loss)
        pgrads, xgrads = self.backward(state, output_grads, fused)
        return pgrads, (xgrads if state.batched else [None if g is None else g[0] for g in xgrads])

    # -- updates -----------------------------------------------------------------------

    def use_optimizer(self, method: Any, lr: float | None = None) -> Optimizer:
        """The System's optimizer for ``method``, kept (with its state) while the method stays the same."""
        current = self.optimizer
        same = isinstance(method, str) and type(current) is get_plugins().lookup("optimizer", method)
        if current is not None and same:
            if lr is not None and lr != current.lr:
                current.lr = lr  # converted and checked by the field
            return current
        self.optimizer = resolve_optimizer(method, lr)
        return self.optimizer

    def apply_gradients(
        self, pgrads: ParamGrads, optimizer: Optimizer, loss: float, callbacks: Sequence[Any] = (), where: str = ""
    ) -> None:
        """One optimizer update from ``pgrads``, with the training hooks (and a fit's ``callbacks``) around it.

        Under a data-parallel plugin, ``pgrads`` and ``loss`` (this process's) first become the global
        batch's (``Parallel.reduce_gradients``), so the hooks and checks below decide alike everywhere.
        All or nothing: a non-finite loss, a non-finite gradient after the ``tn_before_update`` hooks, or
        an update that would make a parameter or the optimizer's state non-finite raises NonFiniteError
        (``where`` says which call) with every parameter and the optimizer's state as before the step.
        """
        unchanged = "the parameters and optimizer state are those before it"
        par = parallel_of(self)
        if par is not SINGLE:
            loss = self._reduced(par, pgrads, loss)
        if not math.isfinite(loss):
            raise NonFiniteError(f"{where}the loss is {loss} at step {self.step}; {unchanged}")
        plugins = get_plugins()
        plugins.call("tn_before_update", callbacks, system=self, grads=pgrads, optimizer=optimizer, step=self.step)
        grads = self._gradient_list(pgrads, where)
        self._last_gradients = None  # the buffer lives on only as long as the caller's pgrads
        try:
            optimizer.step(self._parameter_list(), grads)
        except NonFiniteError as exc:
            bad = getattr(exc, "parameter", None)
            culprit = "a parameter" if bad is None else ".".join(self.parameters()[bad][:2])
            if getattr(exc, "cause", None) == "gradient":
                raise NonFiniteError(f"{where}the gradient of {culprit} holds NaN or infinite values at step "
                                     f"{self.step}; {unchanged}") from None
            raise NonFiniteError(f"{where}step {self.step}: the {type(optimizer).__name__} update (lr "
                                 f"{optimizer.lr:g}) would make {culprit} or its optimizer state non-finite; "
                                 f"{unchanged}") from None
        self.step += 1  # the update is done, whatever the hooks after it do
        plugins.call("tn_after_update", callbacks, system=self, grads=pgrads, optimizer=optimizer, step=self.step - 1,
                     loss=loss)

    def _parameter_list(self) -> list[np.ndarray]:
        """The trainable parameter arrays in :meth:`parameters` order: Packed where they fill one buffer back to
        back (as the System packed them, unless an array was replaced since or another System packed some)."""
        arrays = [owner.params[key] for owner, key in self._trainable_keys]
        if not same_objects(arrays, self._listed):
            flat = span(arrays)
            self._listed = arrays
            self._parameter_arrays = arrays if flat is None else Packed(flat, self._trainable_shapes)
        return self._parameter_arrays

    def _gradient_list(self, pgrads: ParamGrads, where: str = "") -> list[np.ndarray | None]:
        """The gradient of each trainable parameter in :meth:`parameters` order (None where it has none):
        the last backward pass's Packed buffer where ``pgrads`` holds all of it. Otherwise each is checked
        (ShapeError): given by the caller, or put there by a ``tn_before_update`` hook, it must be a float
        array of its parameter's shape."""
        try:
            grads = [pgrads.get(owner, {}).get(key) for owner, key in self._trainable_keys]
        except AttributeError:
            raise ShapeError(f"{where}the gradients are {_short(pgrads)}; expected {{layer instance: {{parameter "
                             "name: array}}}} (after any tn_before_update hooks)") from None
        last = self._last_gradients
        if last is not None and same_objects(grads, last):
            return last
        for (owner, key), g in zip(self._trainable_keys, grads):
            shape = owner.params[key].shape
            if g is not None and not (isinstance(g, np.ndarray) and g.shape == shape and g.dtype.kind == "f"):
                got = f"array {g.shape} of {g.dtype}" if isinstance(g, np.ndarray) else _short(g)
                raise ShapeError(f"{where}the gradient of {self.names[owner]}.{key} is {got}; expected a float array "
                                 f"of shape {shape} (after any tn_before_update hooks)")
        return grads

    def _reduced(self, par: Parallel, pgrads: ParamGrads, loss: float) -> float:
        """Make ``pgrads`` (in place) and ``loss`` the global batch's under ``par``, a parallel run, where every
        process packs every parameter's gradient: zeros where it has none (an empty share of a last batch),
        written into the System's update buffer. So every process hands the hooks and the optimizer its
        gradients in the same buffer layout, and they compute the same bits: a BLAS reduction's (GradientClip's
        norm) may depend on where an array starts."""
        if self._update_buffer is None:
            self._update_buffer = self._new_gradient_buffer()
        if self._last_gradients is None:  # no backward pass since the last update: the buffer is all it can be
            self._last_gradients = self._update_buffer
        for (owner, key), slot in zip(self._trainable_keys, self._update_buffer):
            if key not in pgrads.get(owner, {}):
                slot.fill(0)
                pgrads.setdefault(owner, {})[key] = slot
        total = par.reduce_gradients(self, self._gradient_list(pgrads), loss)
        if not isinstance(total, numbers.Real):
            raise PluginError(f"{type(par).__name__}.reduce_gradients returned {_short(total)}; expected the global "
                              "batch's loss, a float")
        return total

    def learn(
        self,
        state: State,
        true_outputs: Any,
        method: Any = "sgd",
        scale: float | None = None,
        loss: Any = "quad",
        **seed_keywords: Any,
    ) -> float:
        """One update from a forward ``state`` (the seed's learn); returns the loss.

        ``scale`` is the learning rate. A non-finite loss, gradient or update
        raises NonFiniteError and leaves parameters and optimizer state unchanged;
        a learn that fails also leaves the System's optimizer (and its learning
        rate) as they were, and puts back the buffers the state's forward pass moved.
        ``seed_keywords``: the seed's ``b1=``, ``b2=``, ``epsilon=`` (Adam's beta1,
        beta2, eps) and ``batch=False``, deprecated (see :mod:`tn_core.seed`).
        """
        adam_fields = learn_options(seed_keywords) if seed_keywords else {}
        if not isinstance(state, State):
            raise ConfigError(f"learn needs the state from guess(..., return_state=True), got {type(state).__name__}")
        if not self._slot_of.keys() <= state.values.keys():
            raise ConfigError("learn: the state comes from another System's forward pass; "
                              "use the state this System's guess(..., return_state=True) returned")
        with UndoneUnlessUpdated(self, state.buffers, settings=True):
            total, pgrads = self._update_gradients(state, true_outputs, loss)
            optimizer = self.use_optimizer(method, scale)
            if adam_fields:
                set_adam_fields(optimizer, adam_fields)
            self.apply_gradients(pgrads, optimizer, total, where="learn: ")
        return total

    # -- training loop and files (training.py, weights.py, serialize.py) -----------------------

    # the functions of training.py, as methods (``system`` is self): help() and inspect show their real signatures
    fit = training.fit
    evaluate = training.evaluate
    predict = training.predict

    def summary(self) -> None:
        """Print a table of the layers, their output shapes and parameter counts."""
        print(summary_table(self))

    def save(self, path: Any, optimizer: bool = True) -> None:
        """Write architecture, parameters and optimizer state to a model file; see :func:`tn_core.serialize.save`."""
        from tn_core.serialize import save  # serialize.load builds Systems: a real import cycle

        save(self, path, optimizer=optimizer)

    def save_weights(self, path: Any, checkpoint: str = "default") -> None:
        """Write the parameters and buffers to an .npz file as a named checkpoint (atomically)."""
        save_weights(self, path, checkpoint)

    def load_weights(self, path: Any, checkpoint: str = "default") -> None:
        """Read a checkpoint, checked against this network before anything changes."""
        load_weights(self, path, checkpoint)
