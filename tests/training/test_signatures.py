"""System.fit, evaluate and predict are the functions of tn_core.training: help() shows their parameters and docs."""

from __future__ import annotations

import inspect
import pydoc

import pytest

import tn_core as tn
from tn_core import training

from .helpers import classifier


@pytest.mark.parametrize("name", ["fit", "evaluate", "predict"])
def test_the_methods_show_the_real_signature_and_doc(name: str) -> None:
    function, method = getattr(training, name), getattr(classifier(), name)
    parameters = inspect.signature(method).parameters
    assert list(parameters) == list(inspect.signature(function).parameters)[1:]  # less ``system``, bound to self
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters.values())  # no **kwargs hiding them
    assert method.__doc__ == function.__doc__ and "batch_size" in pydoc.render_doc(getattr(tn.System, name))


def test_the_signatures_name_each_option() -> None:
    s = classifier()
    assert list(inspect.signature(s.fit).parameters) == [
        "x", "y", "epochs", "batch_size", "optimizer", "lr", "loss", "validation", "shuffle", "seed", "metrics",
        "callbacks", "verbose", "steps_per_epoch"]
    assert list(inspect.signature(s.evaluate).parameters) == ["x", "y", "loss", "batch_size", "metrics", "steps"]
    assert list(inspect.signature(s.predict).parameters) == ["x", "batch_size", "steps"]
    assert inspect.signature(s.fit).parameters["batch_size"].default == 32
