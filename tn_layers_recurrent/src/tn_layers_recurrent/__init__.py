"""tensornet plugin: RNN, LSTM, GRU and Bidirectional, with backpropagation through time."""

from tn_layers_recurrent.bidirectional import Bidirectional
from tn_layers_recurrent.recurrent import GRU, LSTM, RNN, Recurrent

__all__ = ["GRU", "LSTM", "RNN", "Bidirectional", "Recurrent"]
