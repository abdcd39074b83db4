"""The author kit's hyperparameter checks: one rule per idea, as plain functions and as attrs fields."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

import tn_core as tn
from tn_core import kit


@attrs.define
class Knob(kit.Structure):
    count: int = kit.int_field(2, low=1)
    offset: int = kit.int_field(0, low=None)
    way: str = kit.choice_field("up", ("up", "down"))


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_is_int_takes_python_and_numpy_ints(value) -> None:  # type: ignore[no-untyped-def]
    assert kit.is_int(value)
    assert kit.check_int(value, "count") == 3 and type(kit.check_int(value, "count")) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, "3", None, np.array(3), np.float64(3)])
def test_is_int_refuses_bools_floats_and_arrays(value) -> None:  # type: ignore[no-untyped-def]
    assert not kit.is_int(value)
    with pytest.raises(tn.ConfigError, match=r"^count must be an int >= 1, got "):
        kit.check_int(value, "count")


def test_check_int_bounds() -> None:
    assert kit.check_int(0, "n", low=0) == 0
    assert kit.check_int(-5, "axis", low=None) == -5
    with pytest.raises(tn.ConfigError, match=r"^n must be an int >= 16, got 15$"):
        kit.check_int(15, "n", low=16)
    with pytest.raises(tn.ConfigError, match=r"^axis must be an int, got 1.5$"):
        kit.check_int(1.5, "axis", low=None)


def test_check_choice_lists_the_choices_and_suggests_the_closest() -> None:
    assert kit.check_choice("sum", ("concat", "sum"), "merge") == "sum"
    expected = r"^merge must be one of 'concat', 'sum', got 'summ' \(did you mean 'sum'\?\)$"
    with pytest.raises(tn.ConfigError, match=expected):
        kit.check_choice("summ", ("concat", "sum"), "merge")
    for bad in (None, 1, np.array(["sum"])):  # no element-wise comparison, no suggestion for non-strings
        with pytest.raises(tn.ConfigError, match=r"^merge must be one of 'concat', 'sum', got "):
            kit.check_choice(bad, ("concat", "sum"), "merge")


def test_fields_name_the_class_and_the_field() -> None:
    knob = Knob(count=np.int64(4), offset=-2, way="down")
    assert (knob.count, knob.offset, knob.way) == (4, -2, "down") and type(knob.count) is int
    with pytest.raises(tn.ConfigError, match=r"^Knob: count must be an int >= 1, got 0$"):
        Knob(count=0)
    with pytest.raises(tn.ConfigError, match=r"^Knob: count must be an int >= 1, got True$"):
        Knob(count=True)
    with pytest.raises(tn.ConfigError, match=r"^Knob: offset must be an int, got 'a'$"):
        Knob(offset="a")
    with pytest.raises(tn.ConfigError, match=r"^Knob: way must be one of 'up', 'down', got 'dwn' \(did you mean"):
        Knob(way="dwn")
    knob = Knob()
    with pytest.raises(tn.ConfigError, match=r"^Knob: count must be an int >= 1, got -1$"):
        knob.count = -1  # attrs runs converters and validators on assignment too
    assert knob.count == 2


def test_prefixed_names_the_owner_and_may_change_the_type() -> None:
    with pytest.raises(tn.ConfigError, match=r"^Conv: kernel must be an int >= 1, got 0$"):
        with kit.prefixed("Conv"):
            kit.check_int(0, "kernel")
    with pytest.raises(tn.ShapeError, match=r"^Dense :: \[\(3,\)\]: too wide$"):
        with kit.prefixed("Dense :: [(3,)]", (ValueError, tn.ConfigError), tn.ShapeError):
            raise ValueError("too wide")
    with pytest.raises(KeyError):  # only the errors asked for are caught
        with kit.prefixed("Conv"):
            raise KeyError("x")
