"""benchmarks.accel: its stand-in for Adam's old kernel computes what tn-accel's kernel does; --forms and the
default comparison print one line per batch size, and --forms leaves the plugins' kernels as they were."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("tn_accel.kernels")  # the forms are tn-accel's kernels and their old forms

import tn_core as tn
from benchmarks.accel import adam_aside, kernel_forms, shares
from tn_core.plugins import get_plugins


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_aside_makes_tn_accel_s_step(dtype: type) -> None:
    """The old form writes the new values aside and leaves p; tn-accel's writes them into p: the same numbers."""
    rng = np.random.default_rng(0)
    p, g, m = (rng.normal(size=300).astype(dtype) for _ in range(3))
    v = rng.random(300).astype(dtype)
    optimizer = tn.Adam(lr=1e-2)
    optimizer.steps = 3
    _, in_place = get_plugins().optimizer_kernels()[tn.Adam]
    new_p, new_m, new_v = (np.empty_like(p) for _ in range(3))
    assert adam_aside()(optimizer, p, g, [m, v], new_p, [new_m, new_v])
    changed, old_p, in_place_m, in_place_v = p.copy(), np.empty_like(p), np.empty_like(p), np.empty_like(p)
    assert in_place(optimizer, changed, g, [m, v], old_p, [in_place_m, in_place_v])
    for ours, theirs in ((new_p, changed), (new_m, in_place_m), (new_v, in_place_v), (p, old_p)):
        np.testing.assert_array_equal(ours, theirs)
    assert not np.array_equal(new_p, p)


def test_the_forms_print_a_line_per_batch_and_restore_the_kernels(capsys: pytest.CaptureFixture[str]) -> None:
    plugins = get_plugins()
    adam, outer = plugins.optimizer_kernels()[tn.Adam], plugins.array_kernels()["outer"]
    kernel_forms([1, 2], rounds=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["batch", "tn-accel", "us"] and len(lines) == 3
    for line, batch in zip(lines[1:], ("1", "2")):
        cells = line.split()
        assert cells[0] == batch and len(cells) == 6 and all(re.fullmatch(r"\d+(\.\d+)?", c) for c in cells), line
    assert plugins.optimizer_kernels()[tn.Adam] == adam and plugins.array_kernels()["outer"] is outer


def test_the_shares_print_a_line_per_batch(capsys: pytest.CaptureFixture[str]) -> None:
    """Step and optimizer times of the kernel and the NumPy path: positive times and shares (the optimizer's time
    is measured apart from the step's, so on a loaded machine its share may pass 100%)."""
    shares([1, 3], seconds=0.05, rounds=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["batch", "step", "us"] and len(lines) == 3
    for line, batch in zip(lines[1:], ("1", "3")):
        cells = line.split()
        assert cells[0] == batch and len(cells) == 8, line
        assert all(float(c) > 0 for c in cells[1:5]) and all(float(c.rstrip("%")) > 0 for c in cells[5:7])
        assert cells[7].endswith("x") and float(cells[7][:-1]) > 0
