"""The embedded OCR data: block letters A-Z, deterministic by seed."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tn_core as tn
from tn_core import data


@pytest.mark.parametrize("n, seed", [(1, 0), (52, 3), (77, 11)])
def test_shapes_ranges_and_balanced_classes(n: int, seed: int) -> None:
    x, y = data.block_letters(n, seed=seed)
    assert x.shape == (n, 32, 32) and x.dtype == np.float32
    assert y.shape == (n, 26) and y.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)
    counts = y.sum(axis=0)
    assert counts.max() - counts.min() <= 1 and counts.sum() == n


def test_deterministic_by_seed_and_different_across_seeds() -> None:
    a, ya = data.block_letters(40, seed=5)
    b, yb = data.block_letters(40, seed=5)
    c, yc = data.block_letters(40, seed=6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c) and not np.array_equal(ya, yc)


def test_the_letter_is_drawn_where_the_ink_is() -> None:
    """Without noise, the ink pixels of a letter are its scaled glyph, inside the image."""
    x, y = data.block_letters(26, seed=1, noise=0.0)
    for image, label in zip(x, y.argmax(axis=1)):
        ink = image > 0.5
        rows = np.nonzero(ink.any(axis=1))[0]
        assert 14 <= rows.max() - rows.min() + 1 <= 32  # 7 font cells of 2.4 to 3.4 pixels (+ rounding)
        glyph = data.GLYPHS[label]
        assert ink.sum() >= glyph.sum() * 2.4 * 2.4 * 0.9  # every font cell covers a block of pixels


def test_glyphs_are_26_distinct_5x7_masks() -> None:
    assert data.GLYPHS.shape == (26, 7, 5)
    assert len({g.tobytes() for g in data.GLYPHS}) == 26


def test_options_change_the_images() -> None:
    quiet, _ = data.block_letters(10, seed=2, noise=0.0)
    noisy, _ = data.block_letters(10, seed=2, noise=0.3)
    assert len(np.unique(quiet)) < 200 < len(np.unique(noisy))
    small, _ = data.block_letters(10, seed=2, noise=0.0, scale=(2.0, 2.0), shift=0.0)
    large, _ = data.block_letters(10, seed=2, noise=0.0, scale=(4.0, 4.0), shift=0.0)
    assert (small > 0.5).sum() < (large > 0.5).sum()


def test_lines_are_rows_of_letters() -> None:
    x, y = data.block_line(3, length=5, seed=4)
    assert x.shape == (3, 32, 160) and y.shape == (3, 5, 26)
    assert len(data.text(y[0])) == 5 and set(data.text(y[0])) <= set(data.LETTERS)
    np.testing.assert_array_equal(data.block_line(3, length=5, seed=4)[0], x)


def test_split_holds_out_the_tail() -> None:
    x, y = data.block_letters(10)
    (xa, ya), (xb, yb) = data.split(x, y, 0.3)
    assert len(xa) == len(ya) == 7 and len(xb) == len(yb) == 3
    np.testing.assert_array_equal(xb, x[7:])
    np.testing.assert_array_equal(yb, y[7:])


@pytest.mark.parametrize(
    "kwargs",
    [{"n": -1}, {"n": 2.5}, {"n": 3, "size": 8}, {"n": 3, "noise": 2.0}, {"n": 3, "scale": (3.0, 2.0)},
     {"n": 3, "scale": (2.0, 5.0)}, {"n": 3, "shift": -1.0}, {"n": 3, "seed": -1}, {"n": 3, "seed": 1.0},
     {"n": 3, "noise": "a"}, {"n": 3, "noise": np.nan}, {"n": 3, "scale": 3}, {"n": 3, "scale": ("a", 3.0)},
     {"n": 3, "shift": np.inf}, {"n": 3, "shift": 1e300}, {"n": 3, "shift": True}],
)
def test_bad_options_are_refused(kwargs: dict) -> None:
    name, value = list(kwargs.items())[-1]
    for make in (data.block_letters, data.block_line):
        with pytest.raises(tn.ConfigError, match=f"^block letters: {name} must be .*, got {re.escape(repr(value))}"):
            make(**kwargs)


@pytest.mark.parametrize("labels, error, match", [
    ([-1], tn.ConfigError, "labels must be class indices 0..25, got -1"),
    ([3, 26], tn.ConfigError, "labels must be class indices 0..25, got 26"),
    ([1.5], tn.ConfigError, "labels must be ints .*, got float64 values"),
    ([[1]], tn.ShapeError, r"labels must be one axis of class indices, got shape \(1, 1\)"),
])
def test_render_refuses_labels_that_are_not_letters(labels: list, error: type, match: str) -> None:
    with pytest.raises(error, match=f"^render: {match}"):
        data.render(np.array(labels), np.random.default_rng(0))


def test_text_refuses_rows_that_are_not_26_scores() -> None:
    with pytest.raises(tn.ShapeError, match=r"^text: y must be rows of 26 scores \(\.\.\., 26\), got shape \(3, 5\)"):
        data.text(np.zeros((3, 5)))


def test_split_refuses_x_and_y_of_different_lengths() -> None:
    x, y = data.block_letters(10)
    with pytest.raises(tn.ShapeError, match="^split: x and y must hold as many samples, got 10 and 4$"):
        data.split(x, y[:4])


@pytest.mark.parametrize("fraction", ["a", None, True, np.nan, 0, 1.0])
def test_split_refuses_fractions_outside_0_1(fraction: object) -> None:
    x, y = data.block_letters(10)
    message = rf"^split: fraction must be a real number in \(0, 1\), got {re.escape(repr(fraction))}$"
    with pytest.raises(tn.ConfigError, match=message):
        data.split(x, y, fraction)  # type: ignore[arg-type]
