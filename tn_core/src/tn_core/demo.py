"""``tn demo``: the original library's OCR benchmark, end to end.

Generates block letters (:mod:`tn_core.data`), builds the original library's network
(32x32 -> Dense (15, 15) tanh -> Dense (15, 15) tanh -> Dense 26 sigmoid, or
a conv, recurrent or residual one), trains it with Adam on cross-entropy,
reports held-out accuracy and wall time, saves the model (``tn.save``) and,
with matplotlib installed, draws each letter's input weights.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import attrs
import numpy as np

import tn_core as tn
from tn_core import data
from tn_core.callbacks import Callback
from tn_core.errors import ConfigError
from tn_core.fields import check_int
from tn_core.summary import summary_table

TARGET = 0.995  # held-out accuracy the demo aims for (the original library reports 100%)
TEST_SAMPLES = 5200


def _mlp(x: tn.Instance, rng: np.random.Generator) -> tn.Instance:
    """The original library's OCR network."""
    h = tn.Dense((15, 15), activation="tanh")(x, rng=rng)
    h = tn.Dense((15, 15), activation="tanh")(h, rng=rng)
    return tn.Dense(26, activation="sigmoid")(h, rng=rng)


def _conv(x: tn.Instance, rng: np.random.Generator) -> tn.Instance:
    h = x
    for _ in range(3):
        h = tn.Conv((5, 5), out_shape=(5,), pad=True, activation="relu")(h, rng=rng)
    return tn.Dense(26, activation="sigmoid")(h, rng=rng)


def _recurrent(cell: str) -> Any:
    def build(x: tn.Instance, rng: np.random.Generator) -> tn.Instance:
        """The image read row by row: 32 steps of 32 features; the output reads every step's state."""
        layer = getattr(tn, cell)
        h = layer(20)(x, rng=rng)
        h = layer(20)(h[0], rng=rng)
        return tn.Dense(26, activation="sigmoid")(h[0], rng=rng)

    return build


def _residual(x: tn.Instance, rng: np.random.Generator) -> tn.Instance:
    h = tn.Dense((15, 15), activation="tanh")(x, rng=rng)
    for _ in range(2):
        h = tn.ResWrap(tn.Dense((15, 15), activation="tanh"))(h, rng=rng)
    return tn.Dense(26, activation="sigmoid")(h, rng=rng)


@attrs.frozen
class Recipe:
    """How a model is built and trained by default."""

    build: Any
    samples: int
    epochs: int
    batch_size: int
    lr: float


MODELS = {
    "mlp": Recipe(_mlp, samples=50000, epochs=6, batch_size=32, lr=2e-3),
    "conv": Recipe(_conv, samples=20000, epochs=4, batch_size=32, lr=2e-3),
    "rnn": Recipe(_recurrent("RNN"), samples=30000, epochs=10, batch_size=32, lr=3e-3),
    "lstm": Recipe(_recurrent("LSTM"), samples=30000, epochs=5, batch_size=32, lr=3e-3),
    "residual": Recipe(_residual, samples=50000, epochs=6, batch_size=32, lr=1e-3),
}


@attrs.define(eq=False)
class Clock(Callback):
    """Records the wall time at the end of each epoch of fit."""

    times: list[float] = attrs.Factory(list)
    _start: float = attrs.field(default=0.0, init=False)

    def on_train_begin(self, config: dict) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.times.append(time.perf_counter() - self._start)


def letter_weights(system: tn.System, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(26, *input shape): for each letter k, dz_k/dx averaged over the samples of k,
    z_k being output k's pre-activation: the input weights the network uses for that letter."""
    state = system.forward([x])
    ref = system.outputs[0]
    _, (grads,) = system.backward(state, {}, {ref.instance: y.astype(system.dtype)})
    sums = y.T @ grads.reshape(len(x), -1)
    return (sums / np.maximum(y.sum(axis=0), 1)[:, None]).reshape(len(data.LETTERS), *x.shape[1:])


def draw_weights(weights: np.ndarray, path: Path, title: str) -> bool:
    """A PNG grid of each letter's weights (blue positive, red negative); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cols = 7
    rows = math.ceil(len(weights) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.35 + 0.4), constrained_layout=True)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(weights):
            limit = float(np.abs(weights[k]).max()) or 1.0
            ax.imshow(weights[k], cmap="RdBu", vmin=-limit, vmax=limit)
            ax.set_title(data.LETTERS[k], fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def openblas_threads() -> tuple[Any, Any] | None:
    """(get, set) of the thread count of NumPy's OpenBLAS, found among the loaded libraries (Linux); else None."""
    if not os.path.exists("/proc/self/maps"):
        return None
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line})
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "")):
            get, put = (getattr(lib, f"{prefix}_{verb}_num_threads{suffix}", None) for verb in ("get", "set"))
            if get is not None and put is not None:
                return get, put
    return None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread, unless OPENBLAS_NUM_THREADS or OMP_NUM_THREADS says otherwise.

    The demo's matrix products are small (batches of 32), where extra BLAS
    threads cost more in synchronization than they gain; on a busy machine
    they made training 5-10 times slower. Does nothing where NumPy's
    OpenBLAS cannot be found.
    """
    api = None if {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"} & set(os.environ) else openblas_threads()
    if api is None:
        yield
        return
    get, put = api
    before = get()
    put(1)
    try:
        yield
    finally:
        put(before)


def output_folder(out: Any) -> Path:
    """``out`` as a folder the demo can write to (made if missing); ConfigError in one line otherwise."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(f"--out {out}: not a folder the demo can write to ({exc.strerror or exc})") from None
    return folder


def run(model: str = "mlp", epochs: int | None = None, samples: int | None = None, seed: int = 0,
        out: Any = ".", quiet: bool = False, stream: TextIO | None = None) -> dict[str, Any]:
    """Train and report; returns accuracy, times, the epoch that reached the target and the file paths."""
    stream = stream if stream is not None else sys.stdout
    if model not in MODELS:
        raise ConfigError(f"unknown demo model {model!r}; choose one of {', '.join(MODELS)}")
    recipe = MODELS[model]
    epochs = recipe.epochs if epochs is None else check_int(epochs, "demo: epochs")
    samples = recipe.samples if samples is None else check_int(samples, "demo: samples")
    seed = check_int(seed, "demo: seed", low=0)
    folder = output_folder(out)  # before training, not after it

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    x_in = tn.Input((32, 32))(name="image")
    system = tn.System([x_in], [recipe.build(x_in, rng)], seed=seed)
    x, y = data.block_letters(samples, seed=2 * seed)
    xt, yt = data.block_letters(TEST_SAMPLES, seed=2 * seed + 1)
    say(f"tensornet demo: {model} network on {samples:,} generated 32x32 block letters A-Z "
        f"(held out: {TEST_SAMPLES:,}), Adam lr {recipe.lr:g} with cosine decay, cross-entropy")
    if not quiet:
        say(summary_table(system))
    clock = Clock()
    with one_blas_thread():
        history = system.fit(x, y, epochs=epochs, batch_size=recipe.batch_size, optimizer="adam", lr=recipe.lr,
                             loss="ce", validation=(xt, yt), seed=seed, callbacks=[tn.CosineLR(), clock],
                             verbose=0 if quiet else 1)
    scores = system.evaluate(xt, yt, loss="ce")
    reached = next((k for k, acc in enumerate(history.get("val_accuracy", [])) if acc >= TARGET), None)
    wall = time.perf_counter() - start
    correct = round(scores["accuracy"] * TEST_SAMPLES)
    say(f"held-out accuracy: {100 * scores['accuracy']:.2f}% ({correct:,}/{TEST_SAMPLES:,})  "
        f"loss {scores['loss']:.4f}")
    if reached is not None:
        say(f"reached {100 * TARGET:g}% after epoch {reached + 1} ({clock.times[reached]:.1f} s of training)")
    else:
        say(f"did not reach {100 * TARGET:g}% in {len(history.get('loss', []))} epochs")
    trained = clock.times[-1] if clock.times else 0.0
    seen = samples * len(clock.times)
    say(f"wall time: {wall:.1f} s (training {trained:.1f} s, {seen / max(trained, 1e-9):,.0f} samples/s)")

    model_path = folder / f"ocr-{model}.tn"
    tn.save(system, model_path)
    say(f"saved the model to {model_path} (inspect: tn summary {model_path}; load: tn.load)")
    picture: Path | None = folder / f"ocr-{model}-weights.png"
    title = f"{model}: input weights per output letter (dz/dx averaged over held-out samples)"
    if draw_weights(letter_weights(system, xt, yt), picture, title):
        say(f"saved the weights picture to {picture}")
    else:
        picture = None
        say("no picture: matplotlib is not installed (pip install 'tn-core[plot]' to get one)")
    return {"accuracy": scores["accuracy"], "loss": scores["loss"], "wall_time": wall, "history": history,
            "epoch_times": clock.times, "reached_epoch": None if reached is None else reached + 1,
            "model_path": model_path, "picture": picture}
