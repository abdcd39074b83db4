"""Every registered Structure passes check_structure on the examples its plugin gives through
``tn_structure_examples``; a registered Structure without examples fails the suite."""

from __future__ import annotations

from collections import Counter

import pytest

from tn_core.testing import check_structure, structure_examples, structures_without_examples

EXAMPLES = structure_examples()


def example_ids() -> list[str]:
    seen: Counter[str] = Counter()
    ids = []
    for structure, _, _ in EXAMPLES:
        name = structure.type_name()
        ids.append(f"{name}-{seen[name]}")
        seen[name] += 1
    return ids


def test_every_registered_structure_has_examples() -> None:
    missing = structures_without_examples()
    assert not missing, f"registered Structures with no tn_structure_examples entry: {', '.join(missing)}"


@pytest.mark.parametrize(("structure", "input_shapes", "inputs"), EXAMPLES, ids=example_ids())
def test_example_conforms(structure: object, input_shapes: list, inputs: list | None) -> None:
    report = check_structure(structure, input_shapes, inputs=inputs)
    assert "round trip" in report.passed, report.skipped
