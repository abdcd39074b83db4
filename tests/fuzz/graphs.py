"""Random network graphs over every registered layer, drawn by hypothesis.

A Graph lists its nodes in wiring order. It grows by steps, each one of:

- layer: a layer from the plugins' ``tn_structure_examples`` (so third-party
  layers take part) on tensors of its example's input shapes: ones the graph
  has (read again: fan-out; through a Reshape when only the size agrees) or
  fresh Inputs; integer Inputs for examples that take ids, fed draws from
  the example's own inputs;
- grow: a layer on a tensor the graph has, from the examples whose layer
  accepts that shape (in every input slot: fan-in from one tensor, or others
  of its shape);
- clone: another instance sharing an earlier layer's parameters (tn.Clone,
  up to three uses);
- split: a short vector split into per-sample scalars, a layer on one of them.

Every layer tensor no layer reads is an output; drawn inner tensors (slots
too) are outputs as well, and an output may be listed twice. Sometimes an
Input no output depends on is added. Every count and choice is drawn from a
strategy, so hypothesis shrinks a failure to a small graph; the numbers
(inputs, targets, parameter noise) come from the drawn ``seed``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

import tn_core as tn
from tn_core import kit
from tn_core.testing import structure_examples

MAX_STEPS = 6  # steps per graph (Inputs, Reshape adapters and Splits come on top of their layers)
MAX_USES = 3  # instances sharing one Clone's parameters
MAX_VALUES = 128  # per-sample values of any tensor a layer makes
MAX_PARAMS = 2000  # parameter values of one layer
MAX_SLICES = 5  # entries of a vector a Split step cuts into scalars
PERTURB = 0.5  # noise on trainable parameters: a backward right only at a gain of 1 or a bias of 0 fails
WARM_BATCH = 4  # samples of the training forwards that move buffers off their initial values

Ref = tuple[int, int]  # (node index, output slot)


def _fits(inst: tn.Instance) -> bool:
    """Whether an instance is small enough for fast examples."""
    params = sum(p.size for p in inst.params.values())
    return params <= MAX_PARAMS and all(math.prod(s) <= MAX_VALUES for s in [*inst.input_shapes, *inst.output_shapes])


def _layer_examples() -> list[tuple[kit.Structure, list[tuple[int, ...]], Any]]:
    """The registered examples but Input (the graphs make their own), small enough; layers that read inputs
    first, fewest parameters first (hypothesis shrinks towards the first)."""
    sized = []
    for structure, shapes, inputs in structure_examples():
        if isinstance(structure, tn.Input):
            continue
        inst = structure(*[tn.Input(s)() for s in shapes], rng=np.random.default_rng(0))
        if _fits(inst):
            key = (not shapes, sum(p.size for p in inst.params.values()), len(shapes), structure.type_name())
            sized.append((key, (structure, shapes, inputs)))
    return [example for _, example in sorted(sized, key=lambda row: row[0])]


LAYERS = _layer_examples()
#: how many of LAYERS read inputs (they come first; a graph starts with one)
READERS = sum(1 for structure, _, _ in LAYERS if structure.arity != (0, 0))


@functools.cache
def readers_of(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Indices into LAYERS of the examples (ids aside) whose layer accepts tensors of ``shape`` in every slot."""
    return tuple(k for k, (structure, shapes, inputs) in enumerate(LAYERS[:READERS])
                 if inputs is None and _accepts(structure, shape, len(shapes)))


def _accepts(structure: kit.Structure, shape: tuple[int, ...], count: int) -> bool:
    try:
        instance = structure(*[tn.Input(shape)()] * count, rng=np.random.default_rng(0))
    except tn.ShapeError:
        return False
    return _fits(instance)


@dataclass(frozen=True, eq=False)
class Node:
    """``structure`` on the ``parents`` tensors, with the parameters of node ``shares`` if set (Clone).

    An Input with ``values`` is fed draws from them: the example inputs of slot ``key`` = (example, slot).
    """

    structure: kit.Structure
    parents: tuple[Ref, ...] = ()
    shares: int | None = None
    values: np.ndarray | None = None
    key: tuple[int, int] | None = None

    @property
    def is_input(self) -> bool:
        return isinstance(self.structure, tn.Input)


@dataclass(frozen=True, eq=False)
class Graph:
    """Nodes in wiring order, the outputs with a loss each, the batch size and the seed of the numbers."""

    nodes: tuple[Node, ...]
    outputs: tuple[Ref, ...]
    losses: tuple[str, ...]
    batch: int
    seed: int

    def __repr__(self) -> str:
        consumed = {ref[0] for node in self.nodes for ref in node.parents} | {ref[0] for ref in self.outputs}
        lines = [f"Graph(batch={self.batch}, seed={self.seed})"]
        for i, node in enumerate(self.nodes):
            name = _name(self.nodes, i)
            if node.is_input:
                note = " (fed the example's inputs)" if node.values is not None else ""
                note += "" if i in consumed else " (read by no layer)"
                lines.append(f"  {name} = {node.structure!r}{note}")
                continue
            layer = f"Clone({_name(self.nodes, node.shares)})" if node.shares is not None else repr(node.structure)
            lines.append(f"  {name} = {layer}({', '.join(_ref_text(self.nodes, r) for r in node.parents)})")
        outputs = ", ".join(f"{_ref_text(self.nodes, r)} {loss}" for r, loss in zip(self.outputs, self.losses))
        lines.append(f"  outputs: {outputs}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis prints a failing example with this: the program above."""
        printer.text(repr(self))


def _name(nodes: Sequence[Node], i: int) -> str:
    return f"{'x' if nodes[i].is_input else 'h'}{i}"


def _ref_text(nodes: Sequence[Node], ref: Ref) -> str:
    return _name(nodes, ref[0]) + (f"[{ref[1]}]" if ref[1] else "")


class _Drawing:
    """A graph being drawn, wired as it grows (throwaway instances) to know every tensor's shape."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.nodes: list[Node] = []
        self.instances: list[tn.Instance] = []
        self.clones: dict[int, tn.Clone] = {}
        self.uses: dict[int, int] = {}
        #: the loss of each layer tensor should it be an output (drawn with the layer: a step shrinks away whole)
        self.losses: dict[Ref, str] = {}

    # -- tensors ---------------------------------------------------------------------

    def shape(self, ref: Ref) -> tuple[int, ...]:
        return self.instances[ref[0]].output_shapes[ref[1]]

    def float_refs(self) -> list[Ref]:
        """Every float tensor so far (integer Inputs are for the layers that take ids)."""
        return [
            (i, slot)
            for i, node in enumerate(self.nodes)
            if not (node.is_input and node.structure.discrete)
            for slot in range(len(self.instances[i].output_shapes))
        ]

    def add(self, node: Node) -> int:
        """Append and wire ``node``, drawing a loss for each of its tensors; returns its index."""
        refs = [self.instances[i][slot] for i, slot in node.parents]
        if node.is_input:
            instance = node.structure()
        elif node.shares is not None:
            instance = self.clones[node.shares](*refs)
        else:
            instance = node.structure(*refs, rng=np.random.default_rng(0))
        index = len(self.nodes)
        if not node.is_input and node.shares is None:
            self.clones[index] = tn.Clone(instance)
        self.nodes.append(node)
        self.instances.append(instance)
        if not node.is_input:
            for slot in range(len(instance.output_shapes)):
                self.losses[index, slot] = self.draw(st.sampled_from(self.losses_for((index, slot))))
        return index

    def source(self, shape: tuple[int, ...], values: np.ndarray | None, key: tuple[int, int] | None) -> Ref:
        """A tensor of ``shape`` for one input slot: a fresh Input or, drawn, one the graph has (through a
        Reshape when only the size agrees). A slot of example inputs (``key``) reads Inputs fed those only."""
        if key is not None:
            candidates = [(i, 0) for i, node in enumerate(self.nodes) if node.key == key]
        else:
            size = math.prod(shape)
            candidates = [ref for ref in self.float_refs() if math.prod(self.shape(ref)) == size]
        pick = self.draw(st.integers(0, len(candidates)))
        if pick == 0:
            dtype = values.dtype.name if values is not None and values.dtype.kind in "iu" else None
            return self.add(Node(tn.Input(shape, dtype=dtype), values=values, key=key)), 0
        ref = candidates[pick - 1]
        if self.shape(ref) == shape:
            return ref
        return self.add(Node(tn.Reshape(shape), (ref,))), 0

    # -- steps -----------------------------------------------------------------------

    def step(self) -> None:
        """A layer from an example on its shapes or on a tensor of the graph, another use of a layer's
        parameters, or a Split into slices."""
        clonable = [i for i in self.clones if self.uses.get(i, 1) < MAX_USES and self.instances[i].params]
        kind = self.draw(st.sampled_from(["layer", "grow", "clone", "split"])) if self.nodes else "layer"
        if kind == "grow":
            self.grow(self.draw(st.sampled_from(self.float_refs())))
        elif kind == "clone" and clonable:
            self.reuse(self.draw(st.sampled_from(clonable)))
        elif kind == "split":
            self.split()
        else:
            self.layer(self.draw(st.integers(0, (len(LAYERS) if self.nodes else READERS) - 1)))

    def layer(self, example: int) -> None:
        """A layer from an example on tensors of the example's input shapes."""
        structure, shapes, inputs = LAYERS[example]
        parents = []
        for k, shape in enumerate(shapes):
            values = None if inputs is None else np.asarray(inputs[k]).ravel()
            parents.append(self.source(tuple(shape), values, None if inputs is None else (example, k)))
        self.add(Node(structure, tuple(parents)))

    def grow(self, ref: Ref) -> None:
        """A layer on tensor ``ref`` (in every input slot, or others of its shape), from the examples whose
        layer accepts that shape."""
        accepting = readers_of(self.shape(ref))
        if accepting:
            structure, shapes, _ = LAYERS[self.draw(st.sampled_from(accepting))]
            others = [self.source(self.shape(ref), None, None) for _ in shapes[1:]]
            self.add(Node(structure, (ref, *others)))

    def split(self) -> None:
        """A vector of at most MAX_SLICES entries split into per-sample scalars, a layer on one of them
        (other Splits come from examples)."""
        vectors = [ref for ref in self.float_refs() if len(self.shape(ref)) == 1 and self.shape(ref)[0] <= MAX_SLICES]
        if vectors:
            vector = self.draw(st.sampled_from(vectors))
            index = self.add(Node(tn.Split(), (vector,)))
            self.grow((index, self.draw(st.integers(0, self.shape(vector)[0] - 1))))

    def reuse(self, first: int) -> None:
        """Another instance sharing the parameters of node ``first``, on tensors of its input shapes."""
        parents = []
        for ref in self.nodes[first].parents:
            node = self.nodes[ref[0]]
            parents.append(self.source(self.shape(ref), node.values, node.key))
        self.uses[first] = self.uses.get(first, 1) + 1
        self.add(Node(self.nodes[first].structure, tuple(parents), shares=first))

    # -- outputs ---------------------------------------------------------------------

    def losses_for(self, ref: Ref) -> list[str]:
        """quad always; ce on a sigmoid or softmax output (values in (0, 1)); softmax_ce with a class axis on
        outputs it suits (tn_core.losses: logits, a Softmax it fuses with, or an activation it cannot see)."""
        structure = self.nodes[ref[0]].structure
        activation = structure.activation if ref[1] == 0 and isinstance(structure, kit.Neuron) else None
        probabilities = getattr(activation, "fusion", None) in ("logistic", "softmax")
        softmax_ce = tn.SoftmaxCE()
        logits = activation is None or softmax_ce.pairing_problem(activation, softmax_ce.can_fuse(structure)) is None
        return ["quad"] + ["ce"] * probabilities + ["softmax_ce"] * (bool(self.shape(ref)) and logits)

    def finish(self, batch: int, seed: int) -> Graph:
        """Every unread layer tensor as an output, then drawn inner ones (read by a layer too) and maybe one
        output listed twice (with a loss of its own)."""
        read = {ref for node in self.nodes for ref in node.parents}
        outputs = [ref for ref in self.losses if ref not in read]
        inner = [ref for ref in self.losses if ref in read]
        if inner:
            outputs += self.draw(st.lists(st.sampled_from(inner), max_size=2, unique=True))
        losses = [self.losses[ref] for ref in outputs]
        if self.draw(st.booleans()):
            outputs.append(self.draw(st.sampled_from(outputs)))
            losses.append(self.draw(st.sampled_from(self.losses_for(outputs[-1]))))
        return Graph(tuple(self.nodes), tuple(outputs), tuple(losses), batch, seed)


@st.composite
def graphs(draw: Any) -> Graph:
    """A random Graph: 1 to MAX_STEPS steps, sometimes an Input no output needs, batch 1 to 4."""
    batch = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16 - 1))
    drawing = _Drawing(draw)
    drawing.step()
    for _ in range(MAX_STEPS - 1):  # "one more?" (7 in 8) before each step: the shrinker deletes a step whole
        if not draw(st.integers(0, 7)):
            break
        drawing.step()
    if draw(st.booleans()):
        drawing.add(Node(tn.Input((2,))))
    return drawing.finish(batch, seed)


# -- building and feeding ------------------------------------------------------------------


@dataclass
class Built:
    """A float64 System of fresh instances, its instance per node, and the nodes of its inputs."""

    system: tn.System
    instances: list[tn.Instance]
    inputs: list[int]


def _ancestors(graph: Graph, refs: Sequence[Ref]) -> set[int]:
    seen: set[int] = set()
    stack = [i for i, _ in refs]
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(j for j, _ in graph.nodes[i].parents)
    return seen


def build(graph: Graph, outputs: Sequence[int] | None = None) -> Built:
    """The graph's System (every Input), or one of the outputs at positions ``outputs`` (the Inputs they read,
    or the first Input, which gives the batch size, for outputs of Constants alone).

    Parameters are drawn from the seed, then trainable ones get N(0, PERTURB^2) noise.
    """
    instances: list[tn.Instance] = []
    clones: dict[int, tn.Clone] = {}
    for i, node in enumerate(graph.nodes):
        refs = [instances[j][slot] for j, slot in node.parents]
        if node.is_input:
            instances.append(node.structure())
            continue
        if node.shares is None:
            clones[i] = tn.Clone(node.structure)
        inst = clones[i if node.shares is None else node.shares](*refs, rng=np.random.default_rng([graph.seed, i]))
        if node.shares is None:
            noise = np.random.default_rng([graph.seed, i, 1])
            for key, value in inst.params.items():
                if key not in node.structure.buffers:
                    inst.params[key] = np.asarray(value + noise.normal(scale=PERTURB, size=value.shape))  # 0-d too
        instances.append(inst)
    refs = graph.outputs if outputs is None else [graph.outputs[k] for k in outputs]
    every = [i for i, node in enumerate(graph.nodes) if node.is_input]
    needed = _ancestors(graph, refs)
    inputs = every if outputs is None else [i for i in every if i in needed] or every[:1]  # a Constant: any Input
    system = tn.System([instances[i] for i in inputs], [instances[i][slot] for i, slot in refs],
                       dtype=np.float64, seed=graph.seed)
    return Built(system, instances, inputs)


def feed(graph: Graph, inputs: Sequence[int], batch: int | None = None, salt: int = 0) -> list[np.ndarray]:
    """Arrays for the Input nodes ``inputs``: N(0, 1), or draws from an example's own inputs (ids)."""
    n = graph.batch if batch is None else batch
    arrays = []
    for i in inputs:
        node, rng = graph.nodes[i], np.random.default_rng([graph.seed, i, 2, salt])
        shape = (n, *node.structure.shape)
        arrays.append(rng.normal(size=shape) if node.values is None else rng.choice(node.values, size=shape))
    return arrays


def targets(graph: Graph, built: Built) -> list[np.ndarray]:
    """A target per output of the whole graph: N(0, 1) for quad, in (0, 1) for ce, distributions for softmax_ce."""
    result = []
    for k, (ref, loss) in enumerate(zip(built.system.outputs, graph.losses)):
        rng = np.random.default_rng([graph.seed, k, 3])
        shape = (graph.batch, *ref.shape)
        if loss == "quad":
            result.append(rng.normal(size=shape))
        elif loss == "ce":
            result.append(rng.random(shape))
        else:
            t = rng.random(shape) + 0.1
            result.append(t / t.sum(axis=-1, keepdims=True))
    return result


def warm_up(graph: Graph, built: Built) -> None:
    """Two training forwards on other inputs, so buffers (running statistics) leave their initial values."""
    if built.system.buffers():
        for salt in (1, 2):
            built.system.forward(feed(graph, built.inputs, WARM_BATCH, salt), training=True)
