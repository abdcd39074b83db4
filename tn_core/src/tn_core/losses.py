"""Losses: E over a batch of outputs y and targets t, with dE/dy.

``evaluate(y, t, fused)`` returns (E, gradient). Unfused, y is the output and
the gradient dE/dy. *Fused* with the output layer's activation (a Neuron
whose activation declares this loss's ``fusion``), y is that layer's
pre-activation z and the gradient dE/dz: cross-entropy on a sigmoid output is
then computed from z, exact where the sigmoid saturates, with dE/dz = a - t.
The loss means the same either way: a function of the activated output.

Reduction. The original library's losses (quad, ce, sigmoid_ce, softmax_ce) sum over a
sample's elements and average over the batch. The Keras/PyTorch names (mse,
mae, bce, categorical_crossentropy, ...) average over the elements too, as
those libraries do: over every element for mse, mae and bce, over every
position (all axes but the classes) for the categorical ones.

Names (``LOSS_NAMES``, the one table; a name matches ignoring case and
underscores, so Keras's class names ``BinaryCrossentropy`` ... work too)::

    quad                                  Quad()                          0.5 sum (y - t)^2
    mse, mean_squared_error               MSE()                           mean (y - t)^2
    mae, mean_absolute_error              MAE()                           mean |y - t|
    ce                                    BinaryCE()                      binary CE on probabilities, summed
    sigmoid_ce                            BinaryCE(from_logits=True)      binary CE on logits, summed
    bce, binary_crossentropy              BinaryCE(mean=True)             binary CE on probabilities, mean
    bce_with_logits                       BinaryCE(from_logits=True,      binary CE on logits, mean
                                                   mean=True)
    softmax_ce                            SoftmaxCE()                     softmax CE, summed over positions
    categorical_crossentropy,
    sparse_categorical_crossentropy       SoftmaxCE(mean=True)            softmax CE, mean over positions

Other names are looked up among the registered losses (class names).
SoftmaxCE takes class ids (per-sample shape: the output's without its last
axis) as well as distributions over the last axis, under every name.

Pairing (checked by the System before any update, once per output and
loss). An output's activation is known for slot 0 of a Neuron (Dense, Conv,
Activate, ResWrap) and for a layer with an ``activation`` and one output
slot; its ``output_range`` decides. Outputs of other layers (wiring, RNN
slots, plugins without ``activation``) are not checked. ``Loss.takes``:

- None (quad, mse, mae): any output.
- "probabilities" (ce, bce): the activation's values must lie in [0, 1]
  (sigmoid: fused; softmax: accepted, each class scored on its own as
  Keras does). Anything else (linear, tanh, relu ...) is a ConfigError:
  log a and log(1 - a) of values outside (0, 1) are meaningless.
- "logits" (sigmoid_ce, bce_with_logits, softmax_ce and the categorical
  names): a linear output, or for SoftmaxCE a Softmax output it fuses with.
  Probabilities (sigmoid, a Softmax it cannot fuse with) are a ConfigError:
  the loss would squash them a second time. So are logits that never change
  sign for the binary losses (relu, softplus: sigmoid(z) >= 0.5, no output
  could say no). Other bounded or half-bounded activations (tanh, relu for
  softmax_ce, ...) get a warning: the loss is well defined and trains, but
  the logits cannot span every probability (tanh logits keep a sigmoid within
  (0.27, 0.73)); a linear output is the usual choice.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import attrs
import numpy as np
from scipy.special import expit

from tn_core.activation import Activation
from tn_core.errors import ConfigError, UnknownNameError
from tn_core.neuron import Neuron
from tn_core.plugins import get_plugins, resolve
from tn_core.structure import OutputRef


class Loss:
    """Base class: ``evaluate(y, t, fused) -> (E, grad)`` (see the module doc for ``fused`` and ``takes``)."""

    #: the ``Activation.fusion`` whose derivative this loss cancels, if any
    fusion: ClassVar[str | None] = None
    #: whether the loss of a sample depends on all the elements along its last axis (SoftmaxCE: the
    #: classes), so outputs of per-sample shape () are refused
    reduces_last_axis: ClassVar[bool] = False

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def takes(self) -> str | None:
        """What the loss reads from its output: "probabilities" (values in [0, 1]), "logits" (any real
        scores, squashed by the loss) or None (any values: a regression loss). A classification loss is one
        that takes either; fit and evaluate then report accuracy by default."""
        return None

    def decision_threshold(self) -> float | None:
        """The output value where a binary decision flips (0.5 on probabilities, 0 on logits), or None when
        the loss makes no element-wise yes/no decision."""
        return None

    def target_shapes(self, output_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The per-sample target shapes this loss accepts for an output of ``output_shape`` (default: that shape)."""
        return [output_shape]

    def target_problem(self, t: np.ndarray, output_shape: tuple[int, ...]) -> str | None:
        """What is wrong with targets ``t`` (a batch, of a shape from ``target_shapes``) for an output of
        per-sample shape ``output_shape``, or None when they are fine."""
        return None

    def can_fuse(self, structure: Any) -> bool:
        """Whether ``structure`` is a Neuron whose activation declares this loss's fusion."""
        return (
            self.fusion is not None
            and isinstance(structure, Neuron)
            and getattr(structure.activation, "fusion", None) == self.fusion
        )

    def pairing_problem(self, activation: Activation, fused: bool) -> tuple[bool, str] | None:
        """(whether it is an error rather than a warning, why) when this loss does not suit an output of
        ``activation`` (computed from its pre-activation if ``fused``), else None: the module doc's rules."""
        takes, span = self.takes(), activation.output_range
        if takes is None or fused or span is None:
            return None
        probabilities = 0.0 <= span[0] and span[1] <= 1.0
        if takes == "probabilities" and not probabilities:
            return True, ("it takes probabilities (values in [0, 1]): give the layer a sigmoid activation, or use "
                          "a loss that takes logits")
        if takes == "logits" and probabilities:
            return True, ("it takes logits (any real scores) and squashes them itself: on probabilities it would "
                          "squash twice; use a linear output (no activation) or a loss that takes probabilities")
        if takes == "logits" and span != (-math.inf, math.inf):
            return False, ("it takes logits (any real scores), and this activation bounds them, so the predicted "
                           "probabilities cannot reach every value; a linear output (no activation) is the usual "
                           "choice")
        return None


@attrs.define
class Quad(Loss):
    """E = 0.5 * sum (y - t)^2, so dE/dy = y - t (the original library's quadratic error)."""

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        n = y.shape[0]
        diff = y - t
        return float(0.5 * np.vdot(diff, diff) / n), diff / n


@attrs.define
class MSE(Loss):
    """Mean squared error over every element of the batch (Keras, PyTorch): E = mean (y - t)^2.

    dE/dy = 2 (y - t) / size, size the number of elements of the batch.
    """

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        diff = y - t
        return float(np.vdot(diff, diff) / diff.size), diff * (2.0 / diff.size)


@attrs.define
class MAE(Loss):
    """Mean absolute error over every element of the batch (Keras, PyTorch): E = mean |y - t|.

    dE/dy = sign(y - t) / size, size the number of elements of the batch (0 where y = t, as PyTorch).
    """

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        diff = y - t
        return float(np.abs(diff).sum() / diff.size), np.sign(diff) / diff.size


def _count(y: np.ndarray, mean: bool, classes: int = 1) -> int:
    """What a loss summed over the batch is divided by: the samples, or with ``mean`` the elements (the
    positions, for a loss along a last axis of ``classes``)."""
    return y.size // classes if mean else y.shape[0]


@attrs.define
class BinaryCE(Loss):
    """Binary cross-entropy: E = -sum [t log a + (1 - t) log(1 - a)], a in (0, 1) the predicted probability.

    On logits z (``from_logits=True``, or fused with a logistic output a = sigmoid(z)): log a = -softplus(-z),
    log(1 - a) = -softplus(z), so E = sum [t softplus(-z) + (1 - t) softplus(z)] and dE/dz = sigmoid(z) - t,
    exact for any z. Computed as E = sum [log(1 + e^-|z|) + relu(z) - t z] (relu(z) - t z equals
    t relu(-z) + (1 - t) relu(z)): one logarithm per element instead of two softplus, and a sum of
    non-negative terms. On probabilities unfused, a is clipped to [eps, 1 - eps]. Summed over a sample's
    elements and averaged over the batch, or averaged over every element with ``mean=True``.
    """

    renamed_from: ClassVar[tuple[str, ...]] = ("CE",)  # tn.CE and model files naming CE, until tn-core 0.3
    fusion: ClassVar[str | None] = "logistic"
    eps: float = 1e-7
    from_logits: bool = False
    mean: bool = False

    def takes(self) -> str | None:
        return "logits" if self.from_logits else "probabilities"

    def decision_threshold(self) -> float | None:
        return 0.0 if self.from_logits else 0.5

    def can_fuse(self, structure: Any) -> bool:
        """Only on probabilities: logits come from a linear output."""
        return not self.from_logits and super().can_fuse(structure)

    def pairing_problem(self, activation: Activation, fused: bool) -> tuple[bool, str] | None:
        """The base rules; and logits that never change sign (relu, softplus) are an error, not a warning."""
        problem = super().pairing_problem(activation, fused)
        low, high = activation.output_range or (-math.inf, math.inf)
        if problem is not None and not problem[0] and (low >= 0 or high <= 0):
            return True, ("it takes logits and decides by their sign (sigmoid(z) > 0.5 where z > 0), and this "
                          "activation's values never change sign, so no output could say the other; use a linear "
                          "output (no activation)")
        return problem

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        count = _count(y, self.mean)
        if fused or self.from_logits:
            terms = np.abs(y)
            np.negative(terms, out=terms)
            np.exp(terms, out=terms)
            np.log1p(terms, out=terms)
            terms += np.maximum(y, 0)
            terms -= t * y  # t relu(-z) + (1 - t) relu(z) = relu(z) - t z
            grad = expit(y)
            grad -= t
            grad /= count
            return float(np.add.reduce(terms, axis=None)) / count, grad  # np.sum without its Python wrapper
        a = np.clip(y, self.eps, 1.0 - self.eps)
        value = -float(np.sum(t * np.log(a) + (1.0 - t) * np.log1p(-a))) / count
        return value, (a - t) / (a * (1.0 - a) * count)

    def target_problem(self, t: np.ndarray, output_shape: tuple[int, ...]) -> str | None:
        """Targets are probabilities: in [0, 1]."""
        low = float(np.minimum.reduce(t, axis=None, initial=0.0))  # t.min(), t.max() without their Python wrappers
        high = float(np.maximum.reduce(t, axis=None, initial=1.0))
        if 0.0 <= low and high <= 1.0:
            return None
        return f"targets must lie in [0, 1], got values from {low:g} to {high:g}"


@attrs.define
class SoftmaxCE(Loss):
    """Softmax cross-entropy over the last axis: E = -sum t log softmax(z), from the logits z.

    z is a linear output, or the pre-activation of a Softmax output the loss fuses with (then E = -sum t
    log a for its output a): either way computed stably with log-sum-exp, dE/dz = softmax(z) sum(t) - t.
    Targets t are distributions over the last axis (one-hot rows, soft labels) or class ids c (the
    output's shape without its last axis): E = -sum log softmax(z)_c, dE/dz = softmax(z) - onehot(c).
    Summed over positions (all axes but the last) and averaged over the batch, or averaged over every
    position with ``mean=True``.
    """

    fusion: ClassVar[str | None] = "softmax"
    reduces_last_axis: ClassVar[bool] = True
    mean: bool = False

    def takes(self) -> str | None:
        return "logits"

    def target_shapes(self, output_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Distributions (the output's shape) or class ids (without the class axis)."""
        return [output_shape, output_shape[:-1]]

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        count = _count(y, self.mean, y.shape[-1])
        shifted = y - y.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        grad = np.exp(log_probs)
        if t.ndim < y.ndim:  # class ids
            ids = t.astype(np.intp)[..., np.newaxis]
            value = -float(np.take_along_axis(log_probs, ids, axis=-1).sum()) / count
            np.put_along_axis(grad, ids, np.take_along_axis(grad, ids, axis=-1) - 1.0, axis=-1)
            return value, grad / count
        value = -float(np.sum(t * log_probs)) / count
        return value, (grad * t.sum(axis=-1, keepdims=True) - t) / count

    def target_problem(self, t: np.ndarray, output_shape: tuple[int, ...]) -> str | None:
        """Class ids are whole numbers in [0, classes); distributions over the last axis are non-negative and
        each sums to 1 (one-hot rows, soft labels)."""
        if t.shape[1:] != output_shape:
            return _ids_problem(t, output_shape[-1])
        if t.size and float(t.min()) < 0.0:
            return f"targets must be distributions over the last axis, got a negative value {float(t.min()):g}"
        sums = t.sum(axis=-1)
        off = np.abs(sums - 1.0)
        if off.size and float(off.max()) > 1e3 * np.finfo(t.dtype).eps:
            worst = np.unravel_index(int(off.argmax()), off.shape)
            return (f"targets must be distributions over the last axis (each summing to 1), got a sum of "
                    f"{float(sums[worst]):g} at sample {worst[0]}")
        return None


def _ids_problem(t: np.ndarray, classes: int) -> str | None:
    """What keeps ``t`` from holding class ids in [0, classes), or None."""
    bad = (t < 0) | (t >= classes) | (t != np.round(t))
    if not bad.any():
        return None
    where = np.unravel_index(int(bad.argmax()), bad.shape)
    return (f"class ids must be whole numbers in [0, {classes}) (the output's last axis), got {t[where].item():g} "
            f"at sample {where[0]}")


#: every loss name the module doc lists: name -> (class, fields)
LOSS_NAMES: dict[str, tuple[type[Loss], dict[str, Any]]] = {
    "quad": (Quad, {}),
    "mse": (MSE, {}),
    "mean_squared_error": (MSE, {}),
    "mae": (MAE, {}),
    "mean_absolute_error": (MAE, {}),
    "ce": (BinaryCE, {}),
    "sigmoid_ce": (BinaryCE, {"from_logits": True}),
    "bce": (BinaryCE, {"mean": True}),
    "binary_crossentropy": (BinaryCE, {"mean": True}),
    "bce_with_logits": (BinaryCE, {"from_logits": True, "mean": True}),
    "softmax_ce": (SoftmaxCE, {}),
    "categorical_crossentropy": (SoftmaxCE, {"mean": True}),
    "sparse_categorical_crossentropy": (SoftmaxCE, {"mean": True}),
}


def _key(name: str) -> str:
    return name.lower().replace("_", "")


_BY_KEY = {_key(name): entry for name, entry in LOSS_NAMES.items()}


def loss_names() -> list[str]:
    """Every name ``resolve_loss`` knows: the table's, then the other registered losses' (lower case)."""
    registered = [name for name in get_plugins().registry()["loss"] if name == name.lower()]
    return list(LOSS_NAMES) + sorted(name for name in registered if _key(name) not in _BY_KEY)


def resolve_loss(spec: Any) -> Loss:
    """A Loss from an instance, a subclass or a name (``LOSS_NAMES``, else a registered loss)."""
    if not isinstance(spec, str):
        return resolve("loss", Loss, spec)
    if _key(spec) in _BY_KEY:
        cls, fields = _BY_KEY[_key(spec)]
        return cls(**fields)
    try:
        return resolve("loss", Loss, _key(spec))
    except UnknownNameError:
        known = loss_names()
        error = get_plugins()._unknown_name_error(f"unknown loss {spec!r}", spec, known, UnknownNameError)
        raise UnknownNameError(f"{error}; known losses: {', '.join(known)}") from None


# -- which outputs a loss suits ---------------------------------------------------------------


def fuses(loss: Loss, ref: OutputRef) -> bool:
    """Whether ``loss`` on output ``ref`` is computed from the pre-activation: the only output of a Neuron
    whose activation declares the loss's fusion."""
    return len(ref.instance.output_shapes) == 1 and loss.can_fuse(ref.instance.structure)


def output_activation(ref: OutputRef) -> Activation | None:
    """The activation output ``ref`` comes out of, when known: slot 0 of a Neuron, or the only slot of a layer
    with an ``activation``."""
    structure = ref.instance.structure
    activation = getattr(structure, "activation", None)
    if not isinstance(activation, Activation):
        return None
    single = ref.slot == 0 if isinstance(structure, Neuron) else len(ref.instance.output_shapes) == 1
    return activation if single else None


def check_pairing(loss: Loss, ref: OutputRef, output: str, spec: Any) -> None:
    """ConfigError, or a warning, when ``loss`` (given as ``spec``) does not suit output ``ref`` (named
    ``output``) by ``Loss.pairing_problem``, naming the output, its activation and the losses that suit it."""
    activation = output_activation(ref)
    span = None if activation is None else activation.output_range
    problem = None if span is None else loss.pairing_problem(activation, fuses(loss, ref))
    if problem is None:
        return
    fatal, why = problem
    name = type(activation).__name__
    others = {key: cls(**fields) for key, (cls, fields) in LOSS_NAMES.items()}
    suits = [key for key, other in others.items() if other.pairing_problem(activation, fuses(other, ref)) is None]
    message = (f"loss {spec!r} does not suit output {output}, whose activation {name} gives values from {span[0]:g} "
               f"to {span[1]:g}: {why}. Losses that suit a {name} output: {', '.join(suits)}")
    if fatal:
        raise ConfigError(message)
    warnings.warn(message, UserWarning, stacklevel=5)
