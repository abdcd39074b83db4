"""Bad hyperparameters and shapes: clear errors naming the layer and the values, at construction or wiring."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tn_core as tn
from tn_core.testing import check_structure, structures_without_examples
from tn_layers_conv.plugin import tn_structure_examples


@pytest.mark.parametrize(("make", "words"), [
    (lambda: tn.Conv((3, 3), stride=0), ["Conv", "stride", "0"]),
    (lambda: tn.Conv((3, 3), stride=(1, 0)), ["Conv", "stride", "(1, 0)"]),
    (lambda: tn.Conv((3, 3), stride=(1, 1, 1)), ["Conv", "stride", "2 positive ints"]),
    (lambda: tn.Conv2D((3, 3), dilation=0), ["Conv2D", "dilation"]),
    (lambda: tn.Conv((3, 0)), ["Conv", "kernel_shape", "(3, 0)"]),
    (lambda: tn.Conv((3,), out_shape=(0,)), ["Conv", "out_shape"]),
    (lambda: tn.Conv((3, 3), pad=-1), ["Conv", "pad", "-1"]),
    (lambda: tn.Conv((3, 3), pad=((1, -2), 0)), ["Conv", "pad", "-2"]),
    (lambda: tn.Conv((3, 3), pad=(1, 1, 1)), ["Conv", "pad", "2 entries"]),
    (lambda: tn.Conv((3, 3), pad="full"), ["Conv", "pad", "'full'", "'same'", "'valid'"]),
    (lambda: tn.MaxPool2D(2, pad="causal"), ["MaxPool2D", "pad", "'causal'", "'same'"]),
    (lambda: tn.Conv2D((3,)), ["Conv2D", "rank 2", "(3,)"]),
    (lambda: tn.Conv1D((3, 3)), ["Conv1D", "rank 1", "(3, 3)"]),
    (lambda: tn.Conv3D((3, 3)), ["Conv3D", "rank 3"]),
    (lambda: tn.Conv2D(0), ["Conv2D", "kernel_shape", "0"]),
    (lambda: tn.MaxPool2D((2, 2, 2)), ["MaxPool2D", "window", "rank 2", "(2, 2, 2)"]),
    (lambda: tn.AvgPool1D((2, 2)), ["AvgPool1D", "window", "rank 1"]),
    (lambda: tn.MaxPool3D(2, stride=(1, 2)), ["MaxPool3D", "stride", "3 positive ints", "(1, 2)"]),
    (lambda: tn.AvgPool2D(2, pad=2), ["AvgPool2D", "padding", "window (2, 2)"]),
    (lambda: tn.MaxPool2D(-2), ["MaxPool2D", "window", "-2"]),
    (lambda: tn.MaxPool((2, 2), stride=0), ["MaxPool", "stride", "0"]),
    (lambda: tn.AvgPool((2, 2), pad=((2, 0), 0)), ["AvgPool", "padding", "window (2, 2)"]),
    (lambda: tn.MaxPool((0, 2)), ["MaxPool", "window"]),
    (lambda: tn.Conv(()), ["Conv", "kernel_shape", "at least one axis"]),
    (lambda: tn.MaxPool(()), ["MaxPool", "window", "at least one axis"]),
    (lambda: tn.AvgPool(()), ["AvgPool", "window", "at least one axis"]),
    (lambda: tn.GlobalAvgPool(0), ["GlobalAvgPool", "axes", "0"]),
])
def test_bad_hyperparameters_raise_config_error(make, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ConfigError) as info:
        make()
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value}"


@pytest.mark.parametrize(("layer", "shape", "words"), [
    (tn.Conv((5, 5)), (4, 6), ["Conv", "(5, 5)", "(4, 6)", "larger"]),
    (tn.Conv((3,), dilation=3), (6, 2), ["Conv", "extent (7,)", "(6,)"]),
    (tn.Conv((3, 3), stride=2, pad=((0, 0), (1, 0))), (2, 5), ["Conv", "(2, 5)", "larger"]),
    (tn.Conv((3, 3)), (8,), ["Conv", "rank 2", "(8,)"]),
    (tn.Conv2D((2, 2), out_shape=(3,)), (5,), ["Conv2D", "(H, W, C) or (H, W)", "(5,)"]),
    (tn.Conv2D(2), (4, 4, 2, 3), ["Conv2D", "(H, W, C) or (H, W)", "(4, 4, 2, 3)", "Conv with a tuple"]),
    (tn.MaxPool2D(2), (8, 8, 4, 16), ["MaxPool2D", "(H, W, C) or (H, W)", "(8, 8, 4, 16)", "MaxPool with a tuple"]),
    (tn.AvgPool2D(2), (8,), ["AvgPool2D", "(H, W, C) or (H, W)", "(8,)"]),
    (tn.MaxPool1D(2), (8, 4, 3), ["MaxPool1D", "(L, C) or (L)", "(8, 4, 3)"]),
    (tn.AvgPool3D(2), (4, 4, 4, 2, 1), ["AvgPool3D", "(D, H, W, C) or (D, H, W)", "(4, 4, 4, 2, 1)"]),
    (tn.Conv1D(3), (2, 4), ["Conv1D", "(3,)", "(2,)", "larger"]),
    (tn.MaxPool((3, 3)), (2, 9, 4), ["MaxPool", "(3, 3)", "(2, 9)"]),
    (tn.AvgPool((2, 2, 2)), (4, 4), ["AvgPool", "rank 3", "(4, 4)"]),
    (tn.GlobalAvgPool(), (5,), ["GlobalAvgPool", "(5,)"]),
    (tn.GlobalAvgPool(3), (5, 4, 3), ["GlobalAvgPool", "(5, 4, 3)"]),
])
def test_wiring_a_window_that_does_not_fit_raises_shape_error(layer, shape, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ShapeError) as info:
        layer(tn.Input(shape)())
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value}"


def test_same_padding_fits_any_input() -> None:
    """The "valid" failure above is not a limit of the layer: with pad=True a big kernel fits."""
    assert tn.Conv((5, 5), pad=True)(tn.Input((4, 6))()).shape == (4, 6)


def test_feeding_a_wrong_shape_names_the_expected_shape() -> None:
    x = tn.Input((6, 6))()
    system = tn.System([x], [tn.Conv((3, 3), out_shape=(2,))(x)])
    with pytest.raises(tn.ShapeError, match=re.escape("(N, 6, 6)")):
        system.guess([np.zeros((2, 6, 5))])


@pytest.mark.parametrize(("structure", "shapes"), tn_structure_examples(), ids=lambda v: repr(v)[:40])
def test_structure_examples_pass_the_conformance_checks(structure, shapes) -> None:  # type: ignore[no-untyped-def]
    check_structure(structure, shapes)


def test_every_registered_layer_has_an_example() -> None:
    names = {"Conv", "Conv1D", "Conv2D", "Conv3D", "MaxPool", "MaxPool1D", "MaxPool2D", "MaxPool3D",
             "AvgPool", "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalAvgPool"}
    assert names.isdisjoint(structures_without_examples())
    assert names <= {type(s).__name__ for s, _ in tn_structure_examples()}
