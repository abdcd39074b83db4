"""Shapes people mean: Conv1D/2D/3D, MaxPool1D/2D/3D and AvgPool1D/2D/3D (an int is every axis), the pad
words "same"/"valid", and the warning when an int kernel of the N-d layers leaves axes unslid."""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import numpy as np
import pytest

import tn_core as tn
from tn_core import serialize
from tn_core.testing import check_structure

#: the fixed-rank classes: name -> (the N-d layer they fix, rank, the kernel field's name)
FIXED = {f"{base}{rank}D": (base, rank, field)
         for base, field in (("Conv", "kernel_shape"), ("MaxPool", "window"), ("AvgPool", "window"))
         for rank in (1, 2, 3)}


def _random_case(name: str, seed: int) -> tuple[dict[str, Any], tuple[int, ...]]:
    """Settings for a fixed-rank class with an int kernel (and maybe int stride and pad), and an input shape
    (*spatial) or (*spatial, C) it fits."""
    base, rank, field = FIXED[name]
    rng = np.random.default_rng(seed + 100 * list(FIXED).index(name))
    k = int(rng.integers(1, 4))
    settings: dict[str, Any] = {field: k, "pad": ["same", "valid", "SAME", True, False][int(rng.integers(0, 5))]}
    if base == "Conv":
        settings |= {"out_shape": int(rng.integers(1, 4)), "stride": int(rng.integers(1, 3)),
                     "dilation": int(rng.integers(1, 3)), "activation": "tanh"}
    else:
        settings["stride"] = int(rng.integers(1, 3))
        if k > 1 and rng.random() < 0.3:
            settings["pad"] = int(rng.integers(0, k))  # explicit, smaller than the window
    spatial = tuple(int(n) for n in rng.integers(2 * k + 1, 2 * k + 5 if rank < 3 else 2 * k + 3, size=rank))
    channels = (int(rng.integers(1, 4)),) if rng.random() < 0.7 else ()
    return settings, spatial + channels


def _n_d_twin(name: str, settings: dict[str, Any]) -> tn.Structure:
    """The N-d layer with the kernel, stride, dilation and padding written out per axis."""
    base, rank, field = FIXED[name]
    spelled = {key: (value,) * rank if key in (field, "stride", "dilation") else value
               for key, value in settings.items()}
    if isinstance(settings["pad"], int) and not isinstance(settings["pad"], bool):
        spelled["pad"] = ((settings["pad"], settings["pad"]),) * rank
    return getattr(tn, base)(**spelled)


CASES = [(name, seed) for name in FIXED for seed in (0, 1)]


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_an_int_kernel_covers_every_axis(name: str, seed: int) -> None:
    """Conv2D(3) is Conv((3, 3)), MaxPool2D(2) is MaxPool((2, 2)): the same shapes, parameters and numbers."""
    settings, shape = _random_case(name, seed)
    _, rank, field = FIXED[name]
    fixed, twin = getattr(tn, name)(**settings), _n_d_twin(name, settings)
    assert getattr(fixed, field) == (settings[field],) * rank
    (out,), params = fixed.build_checked([shape], np.random.default_rng(seed))
    (twin_out,), twin_params = twin.build_checked([shape], np.random.default_rng(seed))
    assert out == twin_out
    assert params.keys() == twin_params.keys()
    for key, value in params.items():
        np.testing.assert_array_equal(value, twin_params[key])
    x = np.random.default_rng(seed + 1).normal(size=(3, *shape))
    (y,), cache = fixed.forward(params, [x], True)
    (y_twin,), cache_twin = twin.forward(params, [x], True)
    np.testing.assert_array_equal(y, y_twin)
    assert y.shape == (3, *out)
    g = np.random.default_rng(seed + 2).normal(size=y.shape)
    (dx,), grads = fixed.backward(params, cache, [g])
    (dx_twin,), grads_twin = twin.backward(params, cache_twin, [g])
    np.testing.assert_array_equal(dx, dx_twin)
    for key in grads:
        np.testing.assert_array_equal(grads[key], grads_twin[key])


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_fixed_rank_layers_pass_the_conformance_checks_on_random_shapes(name: str, seed: int) -> None:
    """float64 finite differences (inputs and parameters), batch independence, dtypes, round trips, bad shapes."""
    settings, shape = _random_case(name, seed)
    check_structure(getattr(tn, name)(**settings), [shape], max_coords=20)


@pytest.mark.parametrize(("pool", "twin"), [("MaxPool2D", "MaxPool"), ("AvgPool2D", "AvgPool")])
def test_a_2d_pool_of_2_halves_an_image_like_the_tuple_window(pool: str, twin: str) -> None:
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 16))
    layer, tuple_layer = getattr(tn, pool)(2), getattr(tn, twin)((2, 2))
    assert layer(tn.Input((8, 8, 16))()).shape == tuple_layer(tn.Input((8, 8, 16))()).shape == (4, 4, 16)
    np.testing.assert_array_equal(layer.forward({}, [x], False)[0][0], tuple_layer.forward({}, [x], False)[0][0])
    expected = x.reshape(2, 4, 2, 4, 2, 16).max(axis=(2, 4)) if pool == "MaxPool2D" else \
        x.reshape(2, 4, 2, 4, 2, 16).mean(axis=(2, 4))
    np.testing.assert_allclose(layer.forward({}, [x], False)[0][0], expected, rtol=1e-12)


def test_fixed_rank_layers_take_inputs_without_a_channel_axis() -> None:
    """(H, W) is one channel: a default Conv2D (out_shape=()) feeds a MaxPool2D."""
    x = tn.Input((8, 6))()
    h = tn.Conv2D(3, pad="same")(x)
    assert h.shape == (8, 6)
    assert tn.MaxPool2D(2)(h).shape == (4, 3)
    assert tn.AvgPool1D(2)(tn.Input((7,))()).shape == (3,)
    assert tn.Conv3D(2, out_shape=4)(tn.Input((3, 4, 5))()).shape == (2, 3, 4, 4)


def test_fixed_rank_kernels_may_be_tuples_of_their_rank() -> None:
    assert tn.Conv2D((3, 1)).kernel_shape == (3, 1)
    assert tn.MaxPool3D((2, 1, 2)).window == tn.MaxPool3D((2, 1, 2)).stride == (2, 1, 2)
    assert tn.AvgPool1D(np.int64(3)).window == (3,)


# -- pad words -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Conv", "Conv2D", "MaxPool", "MaxPool2D", "AvgPool", "AvgPool3D"])
@pytest.mark.parametrize(("word", "stored"), [("same", True), ("valid", False), ("Same", True), ("VALID", False)])
def test_pad_words_are_stored_as_the_bools(name: str, word: str, stored: bool) -> None:
    kernel = (2, 2) if name in ("Conv", "MaxPool", "AvgPool") else 2
    layer = getattr(tn, name)(kernel, pad=word)
    assert layer.pad is stored
    assert layer == getattr(tn, name)(kernel, pad=stored)
    config = serialize.to_config(layer)
    assert config["config"]["pad"] is stored
    assert serialize.from_config(json.loads(json.dumps(config))) == layer


def test_pad_words_change_the_output_shape_as_the_bools_do() -> None:
    x = tn.Input((7, 5, 2))()
    assert tn.Conv2D(3, out_shape=4, stride=2, pad="same")(x).shape == (4, 3, 4)
    assert tn.Conv2D(3, out_shape=4, stride=2, pad="valid")(x).shape == (3, 2, 4)
    assert tn.MaxPool2D(2, pad="same")(x).shape == (4, 3, 2)
    assert tn.MaxPool2D(2, pad="valid")(x).shape == (3, 2, 2)


def test_a_model_file_written_with_pad_true_loads() -> None:
    """The configuration files hold (the bool) is what files written before the pad words hold."""
    before = {"kind": "structure", "type": "Conv", "config": {
        "kernel_shape": {"__tuple__": [3, 3]}, "out_shape": {"__tuple__": [4]},
        "kernel_stride": {"__tuple__": [1, 1]}, "pad": True,
        "activation": {"__object__": {"kind": "activation", "type": "ReLU", "config": {}}},
        "init": None, "dilation": {"__tuple__": [1, 1]},
    }}
    layer = serialize.from_config(before)
    assert layer == tn.Conv((3, 3), out_shape=4, pad="same", activation="relu")
    assert layer(tn.Input((5, 6, 2))()).shape == (5, 6, 4)


def test_model_files_round_trip_the_new_classes_without_warning(tmp_path: Any) -> None:
    tn.set_seed(0)
    x = tn.Input((8, 8, 1))()
    with pytest.warns(UserWarning, match="N-d rule"):
        ragged = tn.Conv(3, out_shape=2)(x)  # the N-d rule, saved as the tuple (3,)
    h = tn.Conv2D(3, out_shape=4, pad="same", activation="relu")(x)
    h = tn.MaxPool2D(2, pad="valid")(h)
    h = tn.AvgPool2D(2, stride=1, pad="same")(h)
    system = tn.System([x], [tn.Dense(3)(h), ragged])
    tn.save(system, tmp_path / "model.tn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = tn.load(tmp_path / "model.tn")
    assert [type(layer.structure).__name__ for layer in loaded.order] == \
        [type(layer.structure).__name__ for layer in system.order]
    assert [layer.structure for layer in loaded.order] == [layer.structure for layer in system.order]
    xs = np.random.default_rng(0).normal(size=(2, 8, 8, 1))
    for ours, theirs in zip(system.guess([xs]), loaded.guess([xs])):
        np.testing.assert_array_equal(ours, theirs)


# -- stride, once kernel_stride ----------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "spelled"), [
    (lambda: tn.Conv((3, 3), out_shape=2, kernel_stride=(2, 1)), lambda: tn.Conv((3, 3), out_shape=2, stride=(2, 1)),
     "Conv(..., kernel_stride=(2, 1))"),
    (lambda: tn.Conv2D(3, kernel_stride=2, pad="same"), lambda: tn.Conv2D(3, stride=2, pad="same"),
     "Conv2D(..., kernel_stride=2)"),
    (lambda: tn.Conv1D(3, 2, kernel_stride=3), lambda: tn.Conv1D(3, 2, stride=3), "Conv1D(..., kernel_stride=3)"),
])
def test_kernel_stride_is_the_old_spelling_of_stride(old, new, spelled) -> None:  # type: ignore[no-untyped-def]
    today = spelled.replace("kernel_stride", "stride")
    with pytest.warns(DeprecationWarning, match=re.escape(spelled) + ".*write " + re.escape(today)):
        layer = old()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layer == new()


def test_stride_and_kernel_stride_together_are_refused() -> None:
    with pytest.raises(tn.ConfigError, match="Conv: kernel_stride= is the seed's spelling of stride=; give one"):
        tn.Conv((3, 3), stride=2, kernel_stride=2)
    with pytest.raises(tn.ConfigError, match="Conv2D: kernel_stride="):
        tn.Conv2D(3, 1, 2, kernel_stride=2)  # stride given by position


def test_configs_save_stride_and_files_that_stored_kernel_stride_load_silently(tmp_path: Any) -> None:
    layer = tn.Conv((3, 2), out_shape=2, stride=(2, 1), pad="same")
    config = serialize.to_config(layer)
    assert "stride" in config["config"] and "kernel_stride" not in config["config"]
    old = json.loads(json.dumps(config).replace('"stride"', '"kernel_stride"'))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert serialize.from_config(old) == layer
    x = tn.Input((7, 5, 3))()
    system = tn.System([x], [tn.Conv2D(3, out_shape=2, stride=2)(x)])
    tn.save(system, tmp_path / "model.tn")
    loaded = tn.load(tmp_path / "model.tn")
    xs = np.random.default_rng(0).normal(size=(2, 7, 5, 3))
    np.testing.assert_array_equal(loaded.guess([xs])[0], system.guess([xs])[0])


# -- the N-d rule's warning --------------------------------------------------------------


@pytest.mark.parametrize(("make", "shape", "words"), [
    (lambda: tn.Conv(3, out_shape=16), (8, 8, 1),
     ["Conv: kernel_shape=3", "first axis only", "(8, 8, 1)", "(8, 1)", "3x3", "Conv2D(3)", "kernel_shape=(3, 3)",
      "kernel_shape=(3,)"]),
    (lambda: tn.MaxPool(2), (8, 8, 16), ["MaxPool: window=2", "(8, 8, 16)", "2x2", "MaxPool2D(2)", "window=(2, 2)"]),
    (lambda: tn.AvgPool(2, pad="same"), (4, 6, 6, 3), ["AvgPool", "2x2x2", "(4, 6, 6)", "AvgPool3D(2)"]),
    (lambda: tn.Conv(np.int64(2)), (3, 3, 3, 3, 2), ["Conv", "kernel_shape=(2, 2, 2, 2)"]),
])
def test_an_int_kernel_that_leaves_axes_unslid_warns_at_wiring(make, shape, words) -> None:  # type: ignore[no-untyped-def]
    layer = make()  # no warning yet: the input decides
    x = tn.Input(shape)()
    with pytest.warns(UserWarning) as record:
        layer(x)
    assert len(record) == 1
    message = str(record[0].message)
    for word in words:
        assert word in message, f"{word!r} not in {message}"
    assert "Conv4D" not in message
    assert record[0].filename == __file__  # points at the line that wired the layer


@pytest.mark.parametrize(("layer", "shape"), [
    (tn.Conv((3,), out_shape=16), (8, 8, 1)),  # a tuple is explicit, even of one entry
    (tn.MaxPool((2,)), (8, 8, 16)),
    (tn.Conv((3, 3)), (8, 8, 1)),
    (tn.Conv(3, out_shape=4), (10, 3)),  # (steps, channels): the 1-d conv Keras's Conv1D is
    (tn.AvgPool(2), (10,)),
    (tn.MaxPool(2), (8, 8)),  # two axes may be (steps, channels): no way to tell a grayscale image
    (tn.Conv2D(3), (8, 8, 1)),
    (tn.MaxPool2D(2), (8, 8, 16)),
    (tn.AvgPool1D(2), (8, 3)),
])
def test_explicit_kernels_and_two_axis_inputs_do_not_warn(layer: tn.Structure, shape: tuple) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = tn.Input(shape)()
        tn.System([x], [layer(x)]).guess([np.zeros((2, *shape))])


def test_the_warning_comes_once_at_wiring_not_when_running() -> None:
    x = tn.Input((6, 6, 2))()
    with pytest.warns(UserWarning, match="N-d rule"):
        y = tn.MaxPool(2)(x)
    system = tn.System([x], [y])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        system.guess([np.zeros((3, 6, 6, 2))])
        assert tn.Clone(y)(tn.Input((6, 6, 2))()).shape == (3, 6, 2)  # shares the first wiring's build
