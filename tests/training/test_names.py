"""Second names: a renamed class keeps its old name one release (with a warning), an alias stays itself."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import attrs
import numpy as np
import pytest

import tn_core as tn
from tn_core import kit
from tn_core.plugins import get_plugins, registered_names

RENAMED = r"tn\.CE is renamed tn\.BinaryCE; the old name goes in tn-core 0\.3"


def test_binary_ce_is_the_ce_loss_and_keeps_its_seed_name() -> None:
    assert type(tn.losses.resolve_loss("ce")) is tn.BinaryCE
    assert tn.losses.resolve_loss("sigmoid_ce") == tn.BinaryCE(from_logits=True)
    assert registered_names(tn.BinaryCE) == ("BinaryCE", "binaryce", "CE", "ce")
    assert tn.to_config(tn.BinaryCE()) == {"kind": "loss", "type": "BinaryCE",
                                           "config": {"eps": 1e-7, "from_logits": False, "mean": False}}


def test_the_old_name_tn_ce_warns_and_gives_binary_ce() -> None:
    with pytest.warns(DeprecationWarning, match=RENAMED) as record:
        assert tn.CE is tn.BinaryCE
    assert record[0].filename == __file__  # the warning points at the line that used the old name
    with pytest.warns(DeprecationWarning, match=RENAMED):
        from tn_core import CE  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tn.BinaryCE is get_plugins().find("BinaryCE")


def test_configs_and_lookups_naming_ce_still_load_without_a_warning() -> None:
    written_by_0_1 = {"kind": "loss", "type": "CE", "config": {"eps": 1e-7, "from_logits": True, "mean": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tn.from_config(json.loads(json.dumps(written_by_0_1))) == tn.BinaryCE(from_logits=True)
        assert get_plugins().lookup("loss", "CE") is tn.BinaryCE
        assert get_plugins().lookup("loss", "ce") is tn.BinaryCE


def test_former_names_are_not_inherited() -> None:
    @attrs.define
    class Focal(tn.BinaryCE):
        gamma: float = 2.0

    assert registered_names(Focal) == ("Focal", "focal")


def test_an_alias_is_registered_beside_its_class_and_stays_itself(tmp_path: Path) -> None:
    assert tn.Swish.alias_of is tn.SiLU and tn.Residual.alias_of is tn.ResWrap
    assert tn.Swish.__doc__ == "Another name for SiLU." and tn.Swish.__module__ == tn.SiLU.__module__
    swish = kit.resolve_activation("swish")
    assert type(swish) is tn.Swish and repr(swish) == "Swish()"
    z = np.linspace(-4, 4, 9)
    np.testing.assert_array_equal(swish.forward(z), tn.SiLU().forward(z))
    x = tn.Input((3,))()
    y = tn.Residual(tn.Dense(3, activation=tn.Swish()))(x)
    path = tmp_path / "alias.tn"
    tn.save(tn.System([x], [y]), path)
    loaded = tn.load(path)
    block = loaded.outputs[0].instance.structure
    assert type(block) is tn.Residual and type(block.cell.activation) is tn.Swish


def test_alias_of_a_plugin_class() -> None:
    @attrs.define
    class Scale(kit.Structure):
        factor: float = 2.0

    Twice = kit.alias(Scale, "Twice")
    assert issubclass(Twice, Scale) and Twice.__name__ == Twice.__qualname__ == "Twice"
    assert Twice(3.0) == Twice(factor=3.0) != Scale(3.0)  # attrs equality: the same class
    assert attrs.evolve(Twice(3.0), factor=4.0) == Twice(4.0) and registered_names(Twice) == ("Twice", "twice")


@attrs.define
class Shift(kit.Structure):
    """y = x + amount (a plugin layer whose field ``offset`` was renamed ``amount``)."""

    renamed_fields: ClassVar[dict[str, str]] = {"offset": "amount"}
    amount: float = 0.0


@pytest.fixture
def shift_plugin() -> Iterator[None]:
    get_plugins().register(SimpleNamespace(tn_register_structures=tn.hookimpl(lambda: [Shift])), "names-test")
    yield
    get_plugins().unregister("names-test")


def test_configs_naming_a_renamed_field_load_as_todays(shift_plugin: None) -> None:
    old = {"kind": "structure", "type": "Shift", "config": {"offset": 2.5}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tn.from_config(old) == Shift(amount=2.5)
    assert tn.to_config(Shift(1.0))["config"] == {"amount": 1.0}
    both = {"kind": "structure", "type": "Shift", "config": {"offset": 2.5, "amount": 1.0}}
    with pytest.raises(tn.ConfigError, match=r"Shift gives both the old and the new name of a renamed field"):
        tn.from_config(both)
