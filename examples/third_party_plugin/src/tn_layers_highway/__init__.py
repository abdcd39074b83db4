"""tensornet plugin: the Highway layer and the Mish activation.

Installed, they are reachable as ``tn.Highway`` / ``"highway"`` and
``tn.Mish`` / ``"mish"``; importing this package is not needed.
"""

from tn_layers_highway.highway import Highway
from tn_layers_highway.mish import Mish

__all__ = ["Highway", "Mish"]
