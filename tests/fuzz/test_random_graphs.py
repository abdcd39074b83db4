"""Property-based fuzzing of random network graphs (issue 16; tests/fuzz/graphs.py says what is drawn).

Every graph is a float64 System of fresh instances, its trainable parameters moved off their initial values
and its buffers warmed up by two training forwards. The properties:

- gradients: input and parameter gradients agree with finite differences (the drawn loss of each output);
- batching: a batch's outputs are each sample's alone, its input gradients each sample's / N and its
  parameter gradients the mean of theirs; in inference always, in training unless a layer keeps buffers
  (batch statistics) or draws from the System's random generator (Dropout);
- SGD: learn moves every trainable parameter (System.parameters()) by exactly -lr * its gradient and
  trains no buffer;
- model files: tn.save / tn.load keep parameters, buffers, outputs and gradients; the summary prints;
- losses: the System's loss is the sum of each output's loss in a System of its own (an output's loss
  means the same when a layer reads it too or it is listed twice).

Each property runs TN_FUZZ_EXAMPLES graphs (default DEFAULT_EXAMPLES: the module takes about 20 s on two
idle cores; set thousands for a long run). The examples are derandomized, so a run is reproducible, and a
failure is shrunk to a small graph that hypothesis prints.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings

import tn_core as tn
from tests.fuzz.graphs import Built, Graph, build, feed, graphs, targets, warm_up
from tn_core.testing import check_system_gradients

DEFAULT_EXAMPLES = 100
FUZZ = settings(
    max_examples=int(os.environ.get("TN_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_COORDS = 8  # finite-difference entries checked per parameter or input array
ROUND_OFF = 1e-9  # finite-difference tolerance per unit of loss
RTOL = 1e-9  # float64 agreement of computations that differ only in batching or order
LR = 0.05

Grads = dict[tuple[str, str], np.ndarray]


def ready(graph: Graph) -> tuple[Built, list[np.ndarray], list[np.ndarray]]:
    """The graph's System (buffers warmed up), its inputs and its targets."""
    built = build(graph)
    warm_up(graph, built)
    return built, feed(graph, built.inputs), targets(graph, built)


def by_name(system: tn.System, pgrads: dict) -> Grads:
    return {(system.names[owner], key): g for owner, grads in pgrads.items() for key, g in grads.items()}


def gap(got: np.ndarray, expected: np.ndarray) -> float:
    """The largest difference, relative to the size of ``expected``."""
    return float(np.max(np.abs(got - expected), initial=0.0)) / (1.0 + float(np.max(np.abs(expected), initial=0.0)))


def grad_gaps(what: str, got: Grads, expected: Grads, system: tn.System) -> list[str]:
    """One line per trainable parameter whose gradient differs (a missing gradient counts as zeros)."""
    lines = []
    for layer, key, p in system.parameters():
        zero = np.zeros_like(p)
        size = gap(got.get((layer, key), zero), expected.get((layer, key), zero))
        if size > RTOL:
            lines.append(f"{what}: gradient of {layer}.{key} differs by {size:.3g}")
    return lines


def stochastic(system: tn.System, xs: list[np.ndarray]) -> bool:
    """Whether a training forward draws from the System's random generator (Dropout does)."""
    before = system.rng.bit_generator.state
    system.forward(xs, training=True)
    return system.rng.bit_generator.state != before


def batch_gaps(graph: Graph, system: tn.System, xs: list[np.ndarray], ts: list[np.ndarray], training: bool) -> list:
    """How the batch's outputs and gradients differ from each sample's alone (gradients / N, mean)."""
    n, losses, mode = graph.batch, list(graph.losses), "training" if training else "inference"
    outs = system.guess(xs, training=training)
    pgrads, xgrads = system.gradients(xs, ts, loss=losses, training=training)
    mean: Grads = {}
    lines = []
    for i in range(n):
        alone_xs, alone_ts = [x[i] for x in xs], [t[i] for t in ts]
        for k, (out, alone) in enumerate(zip(outs, system.guess(alone_xs, training=training))):
            if gap(alone, out[i]) > RTOL:
                lines.append(f"{mode}: output {k} of sample {i} alone differs by {gap(alone, out[i]):.3g}")
        sample_p, sample_x = system.gradients(alone_xs, alone_ts, loss=losses, training=training)
        for k, (g, alone) in enumerate(zip(xgrads, sample_x)):
            if g is not None and gap(g[i], alone / n) > RTOL:
                lines.append(f"{mode}: gradient of input {k}, sample {i}, differs from its own / N "
                             f"by {gap(g[i], alone / n):.3g}")
        for name, g in by_name(system, sample_p).items():
            mean[name] = mean.get(name, 0) + g / n
    return lines + grad_gaps(f"{mode}: batch vs mean of samples", by_name(system, pgrads), mean, system)


@FUZZ
@given(graphs())
def test_gradients_match_finite_differences(graph: Graph) -> None:
    """The absolute tolerance grows with the loss: a central difference of a loss L carries round-off of
    about 1e-10 |L| (an RNN fed its own final state can make L large)."""
    built, xs, ts = ready(graph)
    losses = list(graph.losses)
    value = built.system.loss_gradients(built.system.forward(xs), ts, losses)[0]
    check_system_gradients(built.system, xs, ts, loss=losses, seed=graph.seed, max_coords=MAX_COORDS,
                           atol=1e-6 + ROUND_OFF * abs(value))


@FUZZ
@given(graphs())
def test_batch_equals_samples_alone(graph: Graph) -> None:
    """In inference always; in training too unless a layer keeps batch statistics (buffers) or draws noise."""
    built, xs, ts = ready(graph)
    lines = batch_gaps(graph, built.system, xs, ts, training=False)
    if not built.system.buffers() and not stochastic(built.system, xs):
        lines += batch_gaps(graph, built.system, xs, ts, training=True)
    assert not lines, "\n".join(lines)


@FUZZ
@given(graphs())
def test_sgd_moves_every_parameter_by_its_gradient(graph: Graph) -> None:
    """Two identical Systems (same seed: same dropout masks): one gives gradients, the other learns with SGD.

    In training mode, but in inference for a batch of one with buffers: batch statistics need two samples.
    """
    (reference, xs, ts), (learner, _, _) = ready(graph), ready(graph)
    losses = list(graph.losses)
    training = not (graph.batch == 1 and reference.system.buffers())
    grads = by_name(reference.system, reference.system.gradients(xs, ts, loss=losses, training=training)[0])
    system = learner.system
    trainable = {(system.names[owner], key) for owner, params in system.groups for key in params
                 if key not in owner.structure.buffers}
    before = {(layer, key): p.copy() for layer, key, p in system.parameters()}
    assert set(before) == trainable, f"System.parameters() lists {sorted(before)}, trainable are {sorted(trainable)}"
    _, state = system.guess(xs, return_state=True, training=training)
    system.learn(state, ts, method="sgd", scale=LR, loss=losses)
    lines = []
    for layer, key, p in system.parameters():
        expected = before[layer, key] - LR * grads.get((layer, key), 0)
        if not np.array_equal(p, expected):
            lines.append(f"{layer}.{key} moved by other than -lr * gradient (off by {gap(p, expected):.3g})")
    untrained = {(layer, key): b for layer, key, b in reference.system.buffers()}
    lines += [f"buffer {layer}.{key} differs from the gradient run's after the same forward"
              for layer, key, b in system.buffers() if not np.array_equal(b, untrained[layer, key])]
    assert not lines, "\n".join(lines)


@FUZZ
@given(graphs())
def test_model_file_round_trip(graph: Graph) -> None:
    """tn.save then tn.load: equal parameters, buffers, outputs and gradients; the summary prints."""
    built, xs, ts = ready(graph)
    system, losses = built.system, list(graph.losses)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.tn"
        tn.save(system, path)
        loaded = tn.load(path)
    with contextlib.redirect_stdout(io.StringIO()):
        system.summary()
    stored = {(layer, key): p for layer, key, p in [*system.parameters(), *system.buffers()]}
    restored = {(layer, key): p for layer, key, p in [*loaded.parameters(), *loaded.buffers()]}
    assert stored.keys() == restored.keys(), f"stored {sorted(stored)}, restored {sorted(restored)}"
    lines = [f"{layer}.{key} changed" for (layer, key), p in stored.items()
             if p.shape != restored[layer, key].shape or not np.array_equal(p, restored[layer, key])]
    lines += [f"output {k} differs" for k, (a, b) in enumerate(zip(system.guess(xs), loaded.guess(xs)))
              if not np.array_equal(a, b)]
    pgrads, xgrads = system.gradients(xs, ts, loss=losses, training=False)
    loaded_p, loaded_x = loaded.gradients(xs, ts, loss=losses, training=False)
    lines += [f"gradient of input {k} differs" for k, (a, b) in enumerate(zip(xgrads, loaded_x))
              if a is not None and not np.array_equal(a, b)]
    expected, got = by_name(system, pgrads), by_name(loaded, loaded_p)
    lines += [f"gradient of {layer}.{key} differs" for (layer, key), g in expected.items()
              if not np.array_equal(g, got.get((layer, key)))]
    assert not lines, "\n".join(lines)


@FUZZ
@given(graphs())
def test_loss_is_the_sum_of_each_outputs_loss(graph: Graph) -> None:
    """An output's loss means the same whether or not the output also feeds a layer or is listed twice:
    the System's loss equals the sum of the losses of one-output Systems (same parameters)."""
    built, xs, ts = ready(graph)
    total = built.system.loss_gradients(built.system.forward(xs), ts, list(graph.losses))[0]
    parts = []
    for k, loss in enumerate(graph.losses):
        alone = build(graph, outputs=[k])
        for inst, twin in zip(built.instances, alone.instances):
            for key, p in inst.params.items():
                twin.params[key][...] = p  # buffers too: the warm-up ran on the whole System
        state = alone.system.forward(feed(graph, alone.inputs))
        parts.append(alone.system.loss_gradients(state, [ts[k]], [loss])[0])
    assert abs(total - sum(parts)) <= RTOL * (1 + abs(total)), (
        f"the System's loss {total} is not the sum {sum(parts)} of its outputs' losses alone {parts}"
    )
