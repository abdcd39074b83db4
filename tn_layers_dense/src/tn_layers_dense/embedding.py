"""Embedding: integer ids to learned vectors."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from scipy import sparse

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, ForwardResult, Params, Shape, int_field


@attrs.define
class Embedding(kit.Structure):
    """Learned vectors for integer ids: y[..., :] = weights[ids[...]], ``weights`` (vocab, dim).

    Each id in [0, vocab) picks a row of ``weights``, drawn N(0, 1) as in PyTorch's nn.Embedding.
    Ids of per-sample shape S give outputs (*S, dim); feed them from ``tn.Input(S, dtype="int64")``.

    dE/dweights[v] = sum of dE/dy[p] over the positions p holding id v (repeats add up);
    the ids get no gradient.
    """

    vocab: int = int_field(low=1)
    dim: int = int_field(low=1)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        return [(*input_shapes[0], self.dim)], {"weights": rng.standard_normal((self.vocab, self.dim))}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        ids = inputs[0]
        self._check_ids(ids)
        return [np.take(params["weights"], ids, axis=0)], ids

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        """The scatter-add of the output gradients into rows, as one sparse product:
        dE/dweights = H @ G, with H (vocab, positions) one-hot by column and G (positions, dim)."""
        ids = cache.ravel()
        g = grads[0].reshape(ids.size, self.dim)
        one_hot = sparse.csc_array((np.ones(ids.size, g.dtype), ids, np.arange(ids.size + 1)),
                                   shape=(self.vocab, ids.size))
        return [None], {"weights": one_hot @ g}

    def _check_ids(self, ids: np.ndarray) -> None:
        """ShapeError for ids that are not integers or not in [0, vocab)."""
        if ids.dtype.kind not in "iu":
            raise kit.ShapeError(
                f"{self!r}: ids must be integers, got a {ids.dtype} array; "
                f'feed them from tn.Input(shape, dtype="int64")'
            )
        if ids.min() < 0 or ids.max() >= self.vocab:
            bad = ids[(ids < 0) | (ids >= self.vocab)]
            raise kit.ShapeError(
                f"{self!r}: ids must lie in [0, {self.vocab}) (vocab={self.vocab}), "
                f"got {bad.flat[0]} ({bad.size} of {ids.size} ids out of range)"
            )
