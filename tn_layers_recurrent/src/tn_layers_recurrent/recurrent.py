"""Recurrent layers: RNN, LSTM and GRU, run over the first (time) axis of each sample.

Each layer applies one cell at every step t to [h_{t-1}, x_t] (x_t: the
step's features, flattened). All gates come from one affine map, whose
parameters are ``weights`` (gates * size, size + features), columns in the
order state then input, and ``biases`` (gates * size,).

Outputs: slot 0 the states (T, size), in processing order: with
``go_backwards`` the sequence is read from its last step to its first and
row 0 of slot 0 is the state after reading x_{T-1} (as in Keras and the
original library); then the final carries (state, and memory for LSTM), each
(size,). Optional inputs after the sequence are the initial carries (zeros
when absent).

Each class holds its math twice:

- the reference: ``step`` and ``step_backward``, one time step and its
  gradients written plainly, side by side; ``reference_forward`` and
  ``reference_backward`` run them over time. This is the definition.
- the fast path that ``forward`` and ``backward`` run, which must equal it
  (tests/recurrent/test_reference.py compares outputs and every gradient):
  the input part x_t W_x^T + b for all T steps in one matmul, then per step
  one matmul for h_{t-1} W_h^T and the cell (``scan``); backpropagation
  through time loops over steps only (``scan_backward``) and the parameter
  gradients are again one product over all steps. Gate pre-activations are
  kept gate-major, (gates, T, N, size), so elementwise work runs on
  contiguous blocks; sigmoid gates are computed as 0.5 + 0.5 tanh(z / 2),
  one tanh call for every gate of a step, with those gates' rows of W and b
  halved up front; work arrays are updated in place and come from
  ``kit.reusable_empty``, which reuses them across training steps.
  ``python -m benchmarks.recurrent_paths`` measures what each choice buys.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, ForwardResult, Params, Shape, activation_field, init_field
from tn_layers_recurrent.buffers import sigmoid_slope, tanh_slope

#: what ``step`` returns: (the carries after the step, what ``step_backward`` needs)
Step = tuple[list[np.ndarray], Any]
#: what ``step_backward`` returns: (dE/d(carries before the step), dE/dx_t, dE/dW, dE/db)
StepGrads = tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]


def _is_bool(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise kit.ConfigError(f"{type(instance).__name__}: {attribute.name} must be True or False, got {value!r}")


def backwards_field() -> Any:
    return attrs.field(default=False, validator=_is_bool)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), computed as 0.5 + 0.5 tanh(z / 2): the same function, never overflowing."""
    return 0.5 + 0.5 * np.tanh(0.5 * z)


class Recurrent(kit.Structure):
    """Base of the recurrent layers (see the module doc for layouts, slots and the two implementations).

    Subclasses are attrs classes with fields ``size``, ``go_backwards`` and
    ``init``. Their reference is one step, on x (N, features) and the carries
    (each (N, size)), with W = ``weights`` and b = ``biases``::

        step(w, b, x, carries) -> (carries after the step, cache)
        step_backward(w, cache, d_carries) -> (d_carries before the step, dx, dW, db)

    Their fast path is the cell over all steps::

        scan(z, w_hT, carries) -> (h, finals, cache)
        scan_backward(w_h, cache, d_states, d_finals) -> (dz, d_rec, d_carries)

    ``z`` (gates, T, N, size) is the input projection, gate-major, which the
    cell may overwrite; ``w_hT`` (gates, size, size) holds each gate block's
    W_h^T. Both have the ``sigmoid_blocks`` halved. ``h`` (T + 1, N, size)
    are the states with h[0] the initial state. ``w_h`` is the true W_h;
    ``dz`` and ``d_rec`` (T, N, gates*size) are the gradients w.r.t. the
    input projection and the recurrent projection h_{t-1} W_h^T (the same
    array unless the cell gates its recurrent projection, as GRU does).
    """

    size: int
    go_backwards: bool
    init: Any
    #: blocks of ``size`` rows in ``weights``
    gates: ClassVar[int] = 1
    #: what is carried from step to step: the state, and the LSTM's memory
    carry_names: ClassVar[tuple[str, ...]] = ("state",)
    #: gate blocks that are sigmoids, computed as 0.5 + 0.5 tanh(z / 2)
    sigmoid_blocks: ClassVar[tuple[int, ...]] = ()

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        sequence = input_shapes[0]
        if len(sequence) < 2:
            raise kit.ShapeError(
                f"the input must be (time, *features) per sample, got {sequence}: "
                "a 1-D input has no feature axis after the time axis (reshape it to (time, 1))"
            )
        for name, shape in zip(self.carry_names, input_shapes[1:]):
            if shape != (self.size,):
                raise kit.ShapeError(f"the initial {name} must have shape ({self.size},), got {shape}")
        steps, features = sequence[0], math.prod(sequence[1:])
        rows = self.gates * self.size
        w_x = kit.init_weights(self.init, self.input_activation(), (rows, features), features, rows, rng)
        recurrent_init = "orthogonal" if self.init is None else self.init
        w_h = kit.init_weights(recurrent_init, None, (rows, self.size), self.size, rows, rng)
        shapes = [(steps, self.size)] + [(self.size,)] * len(self.carry_names)
        return shapes, {"weights": np.hstack([w_h, w_x]), "biases": self.initial_biases()}

    def input_activation(self) -> kit.Activation | None:
        """The activation whose default initializer the input weights use (None: Xavier)."""
        return None

    def initial_biases(self) -> np.ndarray:
        return np.zeros(self.gates * self.size)

    def reading_order(self, x: np.ndarray) -> np.ndarray:
        """x (N, T, *features) as (N, T, features) in the order the steps are read (reversed with go_backwards).

        Reversing is its own inverse: on dE/dx in reading order it gives dE/dx in time order.
        """
        flat = x.reshape(*x.shape[:2], -1)
        return flat[:, ::-1] if self.go_backwards else flat

    def initial_carries(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The initial carries given after the sequence, zeros for those not given."""
        zeros = np.zeros((inputs[0].shape[0], self.size), inputs[0].dtype)
        return list(inputs[1:]) + [zeros] * (len(self.carry_names) + 1 - len(inputs))

    # -- the reference: the cell's step over time, plainly --------------------------------------------------

    def step(self, w: np.ndarray, b: np.ndarray, x: np.ndarray, carries: list[np.ndarray]) -> Step:
        raise NotImplementedError

    def step_backward(self, w: np.ndarray, cache: Any, d_carries: list[np.ndarray]) -> StepGrads:
        raise NotImplementedError

    def reference_forward(self, params: Params, inputs: list[np.ndarray]) -> ForwardResult:
        """What ``forward`` computes, as ``step`` at every time step: the definition it must equal."""
        sequence, carries = self.reading_order(inputs[0]), self.initial_carries(inputs)
        states, caches = [], []
        for t in range(sequence.shape[1]):
            carries, cache = self.step(params["weights"], params["biases"], sequence[:, t], carries)
            states.append(carries[0])
            caches.append(cache)
        return [np.stack(states, axis=1), *carries], (caches, inputs[0].shape, len(inputs))

    def reference_backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        """Backpropagation through time over ``step_backward``: what ``backward`` must equal.

        The state after step t feeds slot 0 (row t) and step t + 1, so its gradient is the sum of both;
        dW and db are summed over the steps.
        """
        caches, in_shape, n_inputs = cache
        d_carries = list(grads[1:])
        dxs, dw, db = [], np.zeros_like(params["weights"]), np.zeros_like(params["biases"])
        for t in range(len(caches) - 1, -1, -1):
            d_carries[0] = d_carries[0] + grads[0][:, t]
            d_carries, dx, dw_t, db_t = self.step_backward(params["weights"], caches[t], d_carries)
            dxs.append(dx)
            dw += dw_t
            db += db_t
        dx = self.reading_order(np.stack(dxs[::-1], axis=1)).reshape(in_shape)
        return [dx, *d_carries[: n_inputs - 1]], {"weights": dw, "biases": db}

    # -- the fast path ----------------------------------------------------------------------------------------

    def gate_scale(self, dtype: np.dtype) -> np.ndarray:
        """(gates, 1, 1): 1/2 for the sigmoid gates, 1 for the others."""
        scale = np.ones((self.gates, 1, 1), dtype)
        scale[list(self.sigmoid_blocks)] = 0.5
        return scale

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        n, steps = x.shape[:2]
        sequence = self.reading_order(x)
        xt = kit.reusable_empty((steps, n, sequence.shape[2]), x.dtype)
        xt[...] = sequence.swapaxes(0, 1)  # time-major
        xt = xt.reshape(steps * n, -1)
        # Per gate block k (its rows of W, b): w[k] (size, size + features), b[k] (1, size).
        w = params["weights"].reshape(self.gates, self.size, -1)
        b = params["biases"].reshape(self.gates, 1, self.size)
        if self.sigmoid_blocks:
            scale = self.gate_scale(w.dtype)
            w, b = w * scale, b * scale
        z = kit.reusable_empty((self.gates, steps * n, self.size), x.dtype)
        np.matmul(xt, w[:, :, self.size:].transpose(0, 2, 1), out=z)
        z += b  # z[k] = x W_xk^T + b_k, for all steps at once
        w_hT = np.ascontiguousarray(w[:, :, : self.size].transpose(0, 2, 1))
        h, finals, inner = self.scan(z.reshape(self.gates, steps, n, self.size), w_hT, self.initial_carries(inputs))
        return [h[1:].swapaxes(0, 1), *finals], (xt, x.shape, len(inputs), h, inner)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        xt, in_shape, n_inputs, h, inner = cache
        w = params["weights"]
        w_h = np.ascontiguousarray(w[:, : self.size])
        dz, d_rec, d_carries = self.scan_backward(w_h, inner, grads[0].swapaxes(0, 1), grads[1:])
        steps, n, rows = dz.shape
        dx, dw_x, db = kit.affine_backward(xt, w[:, self.size:], dz.reshape(-1, rows), kit.input_grad_wanted(0))
        dw_h = d_rec.reshape(-1, rows).T @ h[:-1].reshape(-1, self.size)
        if dx is not None:
            dx = self.reading_order(dx.reshape(steps, n, -1).swapaxes(0, 1)).reshape(in_shape)
        return [dx, *d_carries[: n_inputs - 1]], {"weights": np.hstack([dw_h, dw_x]), "biases": db}

    def scan(self, z: np.ndarray, w_hT: np.ndarray, carries: list[np.ndarray]) -> tuple[np.ndarray, list, Any]:
        raise NotImplementedError

    def scan_backward(
        self, w_h: np.ndarray, cache: Any, d_states: np.ndarray, d_finals: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        raise NotImplementedError


def _states(z: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """A (T + 1, N, size) buffer with the initial carry in row 0, for gate-major ``z``."""
    h = kit.reusable_empty((z.shape[1] + 1, *z.shape[2:]), z.dtype)
    h[0] = initial
    return h


def _by_gate(d: np.ndarray, gates: int) -> np.ndarray:
    """A gate-major (gates, T, N, size) view of a (T, N, gates*size) gradient."""
    steps, n, rows = d.shape
    return d.reshape(steps, n, gates, rows // gates).transpose(2, 0, 1, 3)


@attrs.define
class RNN(Recurrent):
    """Simple recurrent layer, the original library's recurrent Dense cell: h_t = activation(W [h_{t-1}, x_t] + b).

    ``weights`` W (size, size + features): columns [0, size) multiply h_{t-1}, the rest x_t (the
    step's features, flattened). ``biases`` b (size,), starting at 0. ``init`` is the initializer of
    all of W; by default x_t's columns use the activation's (Xavier for tanh, He for ReLU) and
    h_{t-1}'s an orthogonal one. Slots: states (T, size), final state (size,). Optional input: the
    initial state (zeros otherwise). ``go_backwards`` reads the steps last to first, and the states
    keep that processing order (row 0: the state after x_{T-1}), as in Keras.
    """

    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    size: int = kit.int_field(low=1)
    activation: kit.Activation = activation_field("tanh")
    go_backwards: bool = backwards_field()
    init: Any = init_field()

    def input_activation(self) -> kit.Activation | None:
        return self.activation

    def step(self, w: np.ndarray, b: np.ndarray, x: np.ndarray, carries: list[np.ndarray]) -> Step:
        """h' = activation(z), z = W [h, x] + b."""
        hx = np.concatenate([carries[0], x], axis=1)
        z = kit.affine_forward(hx, w, b)
        h = self.activation.forward(z)
        return [h], (hx, z, h)

    def step_backward(self, w: np.ndarray, cache: Any, d_carries: list[np.ndarray]) -> StepGrads:
        """dz = activation'(z) dh'; d[h, x] = dz W, dW = dz^T [h, x], db = sum_n dz."""
        hx, z, h = cache
        dz = self.activation.backward(z, h, d_carries[0])
        d_hx, dw, db = kit.affine_backward(hx, w, dz)
        return [d_hx[:, : self.size]], d_hx[:, self.size :], dw, db

    def scan(self, z: np.ndarray, w_hT: np.ndarray, carries: list[np.ndarray]) -> tuple[np.ndarray, list, Any]:
        h = _states(z, carries[0])
        z, w_hT = z[0], w_hT[0]
        rec = np.empty_like(z[0])
        for t in range(z.shape[0]):
            np.matmul(h[t], w_hT, out=rec)
            z[t] += rec
            h[t + 1] = self.activation.forward(z[t])
        return h, [h[-1]], (z, h)

    def scan_backward(
        self, w_h: np.ndarray, cache: Any, d_states: np.ndarray, d_finals: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        z, h = cache
        dz = kit.reusable_empty(z.shape, z.dtype)
        dh = d_finals[0].copy()  # dE/dh_t flowing back from step t + 1 (and from slot 1 at the end)
        for t in range(z.shape[0] - 1, -1, -1):
            dh += d_states[t]
            dz[t] = self.activation.backward(z[t], h[t + 1], dh)
            np.matmul(dz[t], w_h, out=dh)
        return dz, dz, [dh]


class Gated(Recurrent):
    """Base of LSTM and GRU, whose activations are fixed: sigmoid gates, tanh elsewhere.

    They take ``activation=`` as Keras does (the original library's notebooks
    wrote ``LSTM(20, activation=tn.Tanh())``), for tanh only, the one they
    compute. It is checked and not stored, so fields, repr and model files are
    the same without it. Subclasses are ``attrs.define(init=False)`` classes
    (this ``__init__`` then calls the one attrs writes).
    """

    #: what the cell computes, for the error refusing another activation
    formula: ClassVar[str]

    def __init__(self, size: int, go_backwards: bool = False, init: Any = None, *, activation: Any = "tanh") -> None:
        with kit.prefixed(type(self).__name__):
            if activation != "tanh" and kit.resolve_activation(activation) != kit.resolve_activation("tanh"):
                raise kit.ConfigError(
                    f"activation must be tanh, the only one it computes ({self.formula}), got {activation!r}"
                )
        self.__attrs_init__(size, go_backwards, init)  # type: ignore[attr-defined]


@attrs.define(init=False)
class LSTM(Gated):
    """Long short-term memory layer: c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t).

    [f, i, g, o] = [sigmoid, sigmoid, tanh, sigmoid](W [h_{t-1}, x_t] + b), a block of ``size`` each.
    ``weights`` W (4*size, size + features): rows in gate blocks forget [0, size), input
    [size, 2*size), candidate [2*size, 3*size), output [3*size, 4*size); columns [0, size) multiply
    h_{t-1}, the rest x_t (the step's features, flattened). ``biases`` b (4*size,), in the same
    blocks, start at 1 for the forget gate (so memory is kept at first) and 0 elsewhere; one bias per
    row (PyTorch has two, b_ih + b_hh). PyTorch and Keras order the blocks input, forget, candidate,
    output. ``init`` is the initializer of all of W; by default x_t's columns use Xavier and
    h_{t-1}'s an orthogonal one. Slots: states (T, size), final state (size,), final memory
    (size,). Optional inputs: the initial state and the initial memory (zeros otherwise).
    ``go_backwards`` reads the steps last to first, the states kept in processing order (as RNN).
    ``activation="tanh"`` (Keras's keyword) is accepted and not stored: tanh is the only one it computes.
    """

    arity: ClassVar[tuple[int, int | None]] = (1, 3)
    formula: ClassVar[str] = "c' = f*c + i*g, h' = o*tanh(c'), with sigmoid gates f, i, o and a tanh candidate g"
    gates: ClassVar[int] = 4
    carry_names: ClassVar[tuple[str, ...]] = ("state", "memory")
    sigmoid_blocks: ClassVar[tuple[int, ...]] = (0, 1, 3)
    size: int = kit.int_field(low=1)
    go_backwards: bool = backwards_field()
    init: Any = init_field()

    def initial_biases(self) -> np.ndarray:
        biases = np.zeros(4 * self.size)
        biases[: self.size] = 1.0
        return biases

    def step(self, w: np.ndarray, b: np.ndarray, x: np.ndarray, carries: list[np.ndarray]) -> Step:
        """[f, i, g, o] = [sigmoid, sigmoid, tanh, sigmoid](W [h, x] + b); c' = f c + i g; h' = o tanh(c')."""
        h, c = carries
        hx = np.concatenate([h, x], axis=1)
        z_f, z_i, z_g, z_o = np.split(kit.affine_forward(hx, w, b), 4, axis=1)
        f, i, g, o = sigmoid(z_f), sigmoid(z_i), np.tanh(z_g), sigmoid(z_o)
        c_new = f * c + i * g
        tanh_c = np.tanh(c_new)
        return [o * tanh_c, c_new], (hx, c, f, i, g, o, tanh_c)

    def step_backward(self, w: np.ndarray, cache: Any, d_carries: list[np.ndarray]) -> StepGrads:
        """dc' += dh' o (1 - tanh(c')^2); dz_f = dc' c f(1-f), dz_i = dc' g i(1-i), dz_g = dc' i (1-g^2),
        dz_o = dh' tanh(c') o(1-o); d[h, x] = dz W, dc = dc' f, dW = dz^T [h, x], db = sum_n dz."""
        hx, c, f, i, g, o, tanh_c = cache
        dh, dc = d_carries
        dc = dc + dh * o * (1 - tanh_c**2)
        dz = np.concatenate(
            [dc * c * f * (1 - f), dc * g * i * (1 - i), dc * i * (1 - g**2), dh * tanh_c * o * (1 - o)], axis=1
        )
        d_hx, dw, db = kit.affine_backward(hx, w, dz)
        return [d_hx[:, : self.size], dc * f], d_hx[:, self.size :], dw, db

    def scan(self, z: np.ndarray, w_hT: np.ndarray, carries: list[np.ndarray]) -> tuple[np.ndarray, list, Any]:
        h, c = _states(z, carries[0]), _states(z, carries[1])
        tanh_c = kit.reusable_empty(h[1:].shape, z.dtype)
        rec, ig = np.empty_like(z[:, 0]), np.empty_like(h[0])
        scale = self.gate_scale(z.dtype)
        shift = 1 - scale  # tanh -> sigmoid on the halved gates, identity on g
        for t in range(z.shape[1]):
            a = z[:, t]  # becomes [f, i, g, o]
            np.matmul(h[t], w_hT, out=rec)
            a += rec
            np.tanh(a, out=a)
            a *= scale
            a += shift
            f, i, g, o = a
            np.multiply(f, c[t], out=c[t + 1])
            np.multiply(i, g, out=ig)
            c[t + 1] += ig
            np.tanh(c[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h[t + 1])
        return h, [h[-1], c[-1]], (z, c, tanh_c)

    def scan_backward(
        self, w_h: np.ndarray, cache: Any, d_states: np.ndarray, d_finals: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        gates, c, tanh_c = cache
        f, i, g, o = gates
        # Everything that does not depend on the gradient flowing back, for all steps at once:
        # dz_[f,i,g] = dc * [c_{t-1} f(1-f), g i(1-i), i (1-g^2)], dz_o = dh * tanh(c) o(1-o),
        # dc_t = dc_{t+1} f_{t+1} + dh * o (1 - tanh(c)^2).
        by_dc = kit.reusable_empty((3, *f.shape), f.dtype)
        np.multiply(sigmoid_slope(f, by_dc[0]), c[:-1], out=by_dc[0])
        np.multiply(sigmoid_slope(i, by_dc[1]), g, out=by_dc[1])
        np.multiply(tanh_slope(g, by_dc[2]), i, out=by_dc[2])
        o_by_dh = sigmoid_slope(o, kit.reusable_empty(o.shape, o.dtype))
        o_by_dh *= tanh_c
        c_by_dh = tanh_slope(tanh_c, kit.reusable_empty(o.shape, o.dtype))
        c_by_dh *= o
        steps, n, s = f.shape
        dz = kit.reusable_empty((steps, n, 4 * s), f.dtype)
        dz_gates = _by_gate(dz, 4)
        dh, dc = d_finals[0].copy(), d_finals[1].copy()
        dh_t, tmp = np.empty_like(dh), np.empty_like(dh)
        for t in range(steps - 1, -1, -1):
            np.add(dh, d_states[t], out=dh_t)
            np.multiply(dh_t, c_by_dh[t], out=tmp)
            dc += tmp
            np.multiply(by_dc[:, t], dc, out=dz_gates[:3, t])
            np.multiply(dh_t, o_by_dh[t], out=dz_gates[3, t])
            dc *= f[t]
            np.matmul(dz[t], w_h, out=dh)
        return dz, dz, [dh, dc]


@attrs.define(init=False)
class GRU(Gated):
    """Gated recurrent unit (reset gate after the recurrent product): h_t = (1 - u) * n + u * h_{t-1}.

    [u, r] = sigmoid(W_[u,r] [h_{t-1}, x_t] + b_[u,r]),
    n = tanh(W_nx x_t + b_n + r * (W_nh h_{t-1})).
    ``weights`` W (3*size, size + features): rows in gate blocks update u [0, size), reset r
    [size, 2*size), candidate n [2*size, 3*size); columns [0, size) (W_h) multiply h_{t-1}, the rest
    (W_x) x_t (the step's features, flattened). ``biases`` b (3*size,), in the same blocks, start
    at 0. Applying r after the product (as cuDNN and PyTorch do) keeps one product per step for all
    gates; unlike PyTorch there is no separate recurrent bias (b_hn inside r). Keras orders the
    blocks as here (z, r, h), PyTorch reset, update, candidate. ``init`` is the initializer of all
    of W; by default x_t's columns use Xavier and h_{t-1}'s an orthogonal one. Slots: states
    (T, size), final state (size,). Optional input: the initial state (zeros otherwise).
    ``go_backwards`` reads the steps last to first, the states kept in processing order (as RNN).
    ``activation="tanh"`` (Keras's keyword) is accepted and not stored: tanh is the only one it computes.
    """

    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    formula: ClassVar[str] = "h' = (1-u)*n + u*h, with sigmoid gates u, r and a tanh candidate n"
    gates: ClassVar[int] = 3
    sigmoid_blocks: ClassVar[tuple[int, ...]] = (0, 1)
    size: int = kit.int_field(low=1)
    go_backwards: bool = backwards_field()
    init: Any = init_field()

    def step(self, w: np.ndarray, b: np.ndarray, x: np.ndarray, carries: list[np.ndarray]) -> Step:
        """[u, r] = sigmoid(W_[u,r] [h, x] + b_[u,r]); n = tanh(W_nx x + b_n + r (W_nh h)); h' = (1-u) n + u h."""
        (h,) = carries
        x_u, x_r, x_n = np.split(kit.affine_forward(x, w[:, self.size :], b), 3, axis=1)  # W_x x + b
        h_u, h_r, h_n = np.split(h @ w[:, : self.size].T, 3, axis=1)  # W_h h
        u, r = sigmoid(x_u + h_u), sigmoid(x_r + h_r)
        n = np.tanh(x_n + r * h_n)
        return [(1 - u) * n + u * h], (x, h, u, r, n, h_n)

    def step_backward(self, w: np.ndarray, cache: Any, d_carries: list[np.ndarray]) -> StepGrads:
        """dz_u = dh' (h - n) u(1-u), dz_n = dh' (1-u)(1-n^2), dz_r = dz_n (W_nh h) r(1-r); the recurrent
        projection W_h h gets [dz_u, dz_r, dz_n r]; dh = dh' u + (that) W_h, dx = dz W_x, db = sum_n dz."""
        x, h, u, r, n, h_n = cache
        (dh,) = d_carries
        dz_u = dh * (h - n) * u * (1 - u)
        dz_n = dh * (1 - u) * (1 - n**2)
        dz_r = dz_n * h_n * r * (1 - r)
        dx, dw_x, db = kit.affine_backward(x, w[:, self.size :], np.concatenate([dz_u, dz_r, dz_n], axis=1))
        d_rec = np.concatenate([dz_u, dz_r, dz_n * r], axis=1)
        return [dh * u + d_rec @ w[:, : self.size]], dx, np.hstack([d_rec.T @ h, dw_x]), db

    def scan(self, z: np.ndarray, w_hT: np.ndarray, carries: list[np.ndarray]) -> tuple[np.ndarray, list, Any]:
        h = _states(z, carries[0])
        rec_n = kit.reusable_empty(z.shape[1:], z.dtype)  # W_nh h_{t-1} for every step: backward needs it
        rec, tmp = np.empty_like(z[:, 0]), np.empty_like(h[0])
        for t in range(z.shape[1]):
            a = z[:, t]  # becomes [u, r, n]
            np.matmul(h[t], w_hT, out=rec)
            gates = a[:2]
            gates += rec[:2]
            np.tanh(gates, out=gates)  # halved rows: sigmoid = 0.5 + 0.5 tanh
            gates *= 0.5
            gates += 0.5
            u, r, cand = a
            rec_n[t] = rec[2]
            np.multiply(r, rec[2], out=tmp)
            cand += tmp
            np.tanh(cand, out=cand)
            np.subtract(h[t], cand, out=tmp)
            tmp *= u
            np.add(cand, tmp, out=h[t + 1])
        return h, [h[-1]], (z, rec_n, h)

    def scan_backward(
        self, w_h: np.ndarray, cache: Any, d_states: np.ndarray, d_finals: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        gates, rec_n, h = cache
        u, r, cand = gates
        work = kit.reusable_empty(u.shape, u.dtype)
        # dz_u = dh (h_{t-1} - n) u(1-u), dz_n = dh (1-u)(1-n^2), dz_r = dz_n rec_n r(1-r),
        # d rec_n = dz_n r, and dh_{t-1} = dh u + d_rec W_h.
        u_by_dh = sigmoid_slope(u, kit.reusable_empty(u.shape, u.dtype))
        u_by_dh *= np.subtract(h[:-1], cand, out=work)
        n_by_dh = tanh_slope(cand, kit.reusable_empty(u.shape, u.dtype))
        n_by_dh *= np.subtract(1, u, out=work)
        r_by_dn = sigmoid_slope(r, kit.reusable_empty(u.shape, u.dtype))
        r_by_dn *= rec_n
        steps, n, s = u.shape
        dz, d_rec = kit.reusable_empty((steps, n, 3 * s), u.dtype), kit.reusable_empty((steps, n, 3 * s), u.dtype)
        dz_gates, d_rec_gates = _by_gate(dz, 3), _by_gate(d_rec, 3)
        dh = d_finals[0].copy()
        dh_t = np.empty_like(dh)
        for t in range(steps - 1, -1, -1):
            np.add(dh, d_states[t], out=dh_t)
            np.multiply(dh_t, u_by_dh[t], out=dz_gates[0, t])
            np.multiply(dh_t, n_by_dh[t], out=dz_gates[2, t])
            np.multiply(dz_gates[2, t], r_by_dn[t], out=dz_gates[1, t])
            np.multiply(dz_gates[2, t], r[t], out=d_rec_gates[2, t])
            d_rec_gates[:2, t] = dz_gates[:2, t]
            np.matmul(d_rec[t], w_h, out=dh)
            dh_t *= u[t]
            dh += dh_t
        return dz, d_rec, [dh]
