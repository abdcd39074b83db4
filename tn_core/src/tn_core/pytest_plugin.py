"""pytest plugin of tn-core (entry point ``pytest11``): the plugin author's kit as fixtures.

Installing tn-core is enough; a plugin's own tests then write::

    def test_my_layer(tn_check_structure):
        tn_check_structure(MyLayer(4), [(3, 5)])

The fixtures hand out the functions of :mod:`tn_core.testing`, imported
only when a test asks for them, so pytest runs that do not use tensornet
never import it.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def tn_check_structure() -> Any:
    """``tn_core.testing.check_structure(structure, input_shapes, ...)``: every conformance check."""
    from tn_core.testing import check_structure

    return check_structure


@pytest.fixture
def tn_check_gradients() -> Any:
    """``tn_core.testing.check_gradients(structure, input_shapes, ...)``: the numerical gradient check alone."""
    from tn_core.testing import check_gradients

    return check_gradients
