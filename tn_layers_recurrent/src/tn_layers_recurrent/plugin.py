"""Registers the recurrent layers with tensornet."""

from __future__ import annotations

from typing import Any

from tn_core import kit
from tn_layers_recurrent.bidirectional import Bidirectional
from tn_layers_recurrent.recurrent import GRU, LSTM, RNN

STRUCTURES = [RNN, LSTM, GRU, Bidirectional]


@kit.hookimpl
def tn_register_structures() -> list[type]:
    return list(STRUCTURES)


@kit.hookimpl
def tn_structure_examples() -> list[tuple[Any, list[tuple[int, ...]]]]:
    return [
        (RNN(4), [(5, 3)]),
        (RNN(3, activation="relu", go_backwards=True), [(4, 2, 2), (3,)]),
        (LSTM(4), [(5, 3)]),
        (LSTM(3, go_backwards=True), [(4, 2), (3,), (3,)]),
        (GRU(4), [(5, 3)]),
        (GRU(3, go_backwards=True), [(4, 2, 2), (3,)]),
        (Bidirectional(LSTM(3)), [(4, 2)]),
        (Bidirectional(GRU(3), merge="mul"), [(4, 2)]),
    ]
