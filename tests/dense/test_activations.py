"""The standard activations: derivatives, stability at |z| = 1e4, known values, names, default initializers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tn_core as tn
from tests.dense import make_activation_references
from tests.dense.make_activation_references import ACTIVATION_CASES, POINTS
from tests.torch_references import inputs_match, reference_fixture
from tn_core import kit
from tn_core.testing import check_gradients
from tn_layers_dense.plugin import ACTIVATIONS

# every activation, and the ones with hyperparameters at a non-default value too
ALL = [cls() for cls in ACTIVATIONS] + [tn.ReLU(alpha=0.2), tn.ELU(alpha=0.5)]
IDS = [repr(a) for a in ALL]
RELU_FAMILY = {"ReLU", "LeakyReLU", "ELU", "GELU", "Softplus", "SiLU", "Swish"}


def random_shape(rng: np.random.Generator) -> tuple[int, ...]:
    return tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, 4)))


@pytest.mark.parametrize("activation", ALL, ids=IDS)
@pytest.mark.parametrize("seed", range(3))
def test_backward_matches_finite_differences(activation: tn.Activation, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    x = rng.normal(scale=3.0, size=(int(rng.integers(1, 5)), *shape))
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kinks of ReLU and HardTanh at 0
    x[np.abs(np.abs(x) - 1) < 1e-3] = 0.5
    check_gradients(tn.Activate(activation), [shape], inputs=[x])


EXTREMES = [-1e4, -1e3, -800, -745, -710, -120, -104, -88, -50, -20, -1, -1e-30, 0, 1e-30, 1, 20, 50, 88, 104, 710,
            800, 1e3, 1e4]


@pytest.mark.parametrize("activation", ALL, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_pre_activations(activation: tn.Activation, dtype: type) -> None:
    top = float(np.finfo(dtype).max)  # also where z^2 overflows, up to a spread of the largest number
    edges = [-top / 2, -2 * math.sqrt(top), 2 * math.sqrt(top), top / 2]
    z = np.array([EXTREMES + edges, EXTREMES[::-1] + edges[::-1]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        a = activation.forward(z)
        grad = activation.backward(z, a, np.ones_like(z))
    assert a.dtype == dtype and grad.dtype == dtype
    assert np.isfinite(a).all() and np.isfinite(grad).all()
    # and in float32 the values agree with float64 where float32 can represent them
    if dtype == np.float32:
        z64 = z.astype(np.float64)
        a64 = activation.forward(z64)
        np.testing.assert_allclose(a, a64, rtol=1e-5, atol=1e-30)


def test_limits_at_huge_pre_activations() -> None:
    z = np.array([[-1e4, 1e4]])
    expected = {
        "Linear": [-1e4, 1e4], "Sigmoid": [0, 1], "Tanh": [-1, 1], "ReLU": [0, 1e4], "LeakyReLU": [-100, 1e4],
        "ELU": [-1, 1e4], "GELU": [0, 1e4], "Softplus": [0, 1e4], "SiLU": [0, 1e4], "Swish": [0, 1e4],
        "Softsign": [-1, 1], "HardTanh": [-1, 1], "Softmax": [0, 1],
    }
    for cls in ACTIVATIONS:
        np.testing.assert_allclose(cls().forward(z)[0], expected[cls.__name__], rtol=1e-4, err_msg=cls.__name__)


def test_known_values() -> None:
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]])
    phi = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in z[0]])
    sig = 1 / (1 + np.exp(-z))
    cases = [
        (tn.Sigmoid(), sig),
        (tn.Tanh(), np.tanh(z)),
        (tn.ReLU(), np.maximum(z, 0)),
        (tn.ReLU(alpha=0.1), np.where(z > 0, z, 0.1 * z)),
        (tn.LeakyReLU(), np.where(z > 0, z, 0.01 * z)),
        (tn.ELU(alpha=2.0), np.where(z > 0, z, 2.0 * (np.exp(z) - 1))),
        (tn.GELU(), z * phi),
        (tn.Softplus(), np.log1p(np.exp(z))),
        (tn.SiLU(), z * sig),
        (tn.Swish(), z * sig),
        (tn.Softsign(), z / (1 + np.abs(z))),
        (tn.HardTanh(), np.clip(z, -1, 1)),
        (tn.Softmax(), np.exp(z) / np.exp(z).sum()),
    ]
    for activation, expected in cases:
        np.testing.assert_allclose(activation.forward(z), expected, rtol=1e-12, err_msg=repr(activation))


def test_softmax_is_over_the_last_axis_and_shift_invariant() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 4, 5))
    a = tn.Softmax().forward(z)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0)
    np.testing.assert_allclose(tn.Softmax().forward(z + 1000.0), a)
    np.testing.assert_allclose(a[1, 2], np.exp(z[1, 2]) / np.exp(z[1, 2]).sum())


# every activation, keyed by the name of its PyTorch case in make_activation_references.py
OURS = {
    "sigmoid": tn.Sigmoid(), "tanh": tn.Tanh(), "relu": tn.ReLU(), "relu_alpha_0.2": tn.ReLU(alpha=0.2),
    "leaky_relu": tn.LeakyReLU(), "elu": tn.ELU(), "elu_alpha_0.5": tn.ELU(alpha=0.5), "gelu": tn.GELU(),
    "softplus": tn.Softplus(), "silu": tn.SiLU(), "swish": tn.Swish(), "softsign": tn.Softsign(),
    "hardtanh": tn.HardTanh(), "softmax": tn.Softmax(),
}


reference = reference_fixture(make_activation_references)


def test_the_committed_references_were_made_from_the_scripts_inputs() -> None:
    inputs_match(make_activation_references)


def test_every_activation_is_compared_with_pytorch() -> None:
    assert OURS.keys() == ACTIVATION_CASES.keys()
    assert {type(activation) for activation in OURS.values()} == set(ACTIVATIONS)


@pytest.mark.parametrize("case", list(OURS))
def test_output_and_gradient_match_pytorch(reference: dict[str, np.ndarray], case: str) -> None:
    """At random z, and the slopes at z = -1, 0, 1: ReLU's left one at 0, HardTanh's 0 at +-1, ELU's alpha at 0."""
    activation = OURS[case]
    for point in POINTS:
        z, grad_out = reference[f"{point}_z"], reference[f"{point}_grad_out"]
        a = activation.forward(z)
        np.testing.assert_allclose(a, reference[f"{case}_{point}_out"], rtol=1e-10, atol=1e-12, err_msg=point)
        grad = activation.backward(z, a, grad_out)
        np.testing.assert_allclose(grad, reference[f"{case}_{point}_grad"], rtol=1e-10, atol=1e-12, err_msg=point)


def test_every_name_resolves_as_attribute_and_string() -> None:
    registry = tn.get_plugins().registry()["activation"]
    assert {e.obj for e in registry.values() if e.plugin == "dense"} == set(ACTIVATIONS)
    assert {c.__name__ for c in ACTIVATIONS} >= {"Sigmoid", "Tanh", "ReLU", "Softmax", "ELU", "GELU", "SiLU", "Swish"}
    assert registry["Linear"].plugin == "core" and tn.Linear is tn.linear is kit.Linear
    for cls in ACTIVATIONS:
        assert getattr(tn, cls.__name__) is cls
        assert getattr(tn, cls.__name__.lower()) is cls
        assert type(kit.resolve_activation(cls.__name__.lower())) is cls
        assert type(tn.Dense(2, activation=cls.__name__.lower()).activation) is cls
    assert isinstance(tn.Dense(2, activation=tn.Tanh).activation, tn.Tanh)  # a class is instantiated
    assert isinstance(kit.resolve_activation("swish"), tn.SiLU) and type(kit.resolve_activation("silu")) is tn.SiLU


def test_relu_family_defaults_to_he_initialization() -> None:
    for cls in ACTIVATIONS:
        assert cls.default_init == ("he" if cls.__name__ in RELU_FAMILY else "xavier"), cls.__name__
    # and Dense draws its weights from that initializer
    for name, init in [("relu", "he"), ("tanh", "xavier")]:
        x = tn.Input((40,))()
        got = tn.Dense(30, activation=name)(x, rng=np.random.default_rng(3)).params["weights"]
        expected = tn.get_plugins().lookup("initializer", init)((30, 40), 40, 30, np.random.default_rng(3))
        np.testing.assert_array_equal(got, expected)


def test_hyperparameters_are_validated() -> None:
    for make in [lambda: tn.ReLU(alpha=-0.1), lambda: tn.ReLU(alpha=float("nan")), lambda: tn.ReLU(alpha="0.1"),
                 lambda: tn.LeakyReLU(alpha=float("inf")), lambda: tn.ELU(alpha=0), lambda: tn.ELU(alpha=True)]:
        with pytest.raises(tn.ConfigError, match=r"(ReLU|ELU): alpha must be"):
            make()
    assert tn.ReLU(alpha=1).alpha == 1.0 and isinstance(tn.ReLU(alpha=1).alpha, float)
