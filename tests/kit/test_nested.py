"""kit.Nested: a sub-layer's parameters under "<name>/" in its owner's params dict."""

from __future__ import annotations

import numpy as np

from tn_core import kit


def test_wrap_and_unwrap_are_inverse_and_keep_the_arrays() -> None:
    cell = kit.Nested("cell")
    own = {"weights": np.ones((2, 3)), "biases": np.zeros(2)}
    outer = {"weights": np.full((3, 2), 5.0), **cell.wrap(own), "cellar/x": np.ones(1)}
    assert set(outer) == {"weights", "cell/weights", "cell/biases", "cellar/x"}
    inner = cell.unwrap(outer)
    assert set(inner) == {"weights", "biases"}  # not the owner's own "weights", not "cellar/x"
    assert inner["weights"] is own["weights"] and inner["biases"] is own["biases"]  # no copies: updates reach them


def test_two_sub_layers_of_one_owner_stay_apart() -> None:
    ahead, behind = kit.Nested("forward"), kit.Nested("backward")
    params = {**ahead.wrap({"w": np.ones(1)}), **behind.wrap({"w": np.zeros(1)})}
    assert params.keys() == {"forward/w", "backward/w"}
    assert ahead.unwrap(params)["w"][0] == 1.0 and behind.unwrap(params)["w"][0] == 0.0
