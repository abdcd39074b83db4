"""A throwaway third-party distribution using the protocol v1 additions end to end, in fresh virtual
environments: a layer with buffers on an integer Input trains with AdamW, saves with its optimizer
state, loads in another process with equal outputs, and without the distribution the file is refused
with the install hint its provenance gives."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.packaging.venvs import DISTS, make_venv, run, write_distribution

pytestmark = pytest.mark.slow

PLUGIN = '''
    """TrackedEmbedding: an embedding that remembers, in a buffer, which ids training has seen."""

    from typing import ClassVar

    import attrs
    import numpy as np

    from tn_core import kit


    @attrs.define
    class TrackedEmbedding(kit.Structure):
        """Training: y = W[ids], and seen[v] counts the occurrences of id v.
        Inference: y = W[ids] for ids training has seen, 0 for the others."""

        buffers: ClassVar[tuple[str, ...]] = ("seen",)
        vocab: int = kit.int_field(low=1)
        dim: int = kit.int_field(low=1)

        def build(self, input_shapes, rng):
            return [(*input_shapes[0], self.dim)], {"weights": rng.normal(size=(self.vocab, self.dim)),
                                                     "seen": np.zeros(self.vocab)}

        def forward(self, params, inputs, training):
            ids = inputs[0]
            if ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= self.vocab:
                raise kit.ShapeError(f"TrackedEmbedding: ids must be integers in [0, {self.vocab})")
            if training:
                params["seen"] += np.bincount(ids.reshape(-1), minlength=self.vocab)
                return [params["weights"][ids]], (ids, None)
            known = (params["seen"][ids] > 0)[..., np.newaxis]
            return [params["weights"][ids] * known], (ids, known)

        def backward(self, params, cache, grads):
            ids, known = cache
            g = grads[0] if known is None else grads[0] * known
            grad_w = np.zeros_like(params["weights"])
            np.add.at(grad_w, ids.reshape(-1), g.reshape(-1, self.dim))
            return [None], {"weights": grad_w}


    @kit.hookimpl
    def tn_register_structures():
        return [TrackedEmbedding]


    @kit.hookimpl
    def tn_structure_examples():
        return [(TrackedEmbedding(6, 2), [(3,)], [np.array([[0, 5, 5], [1, 2, 0]])])]
'''

TRAIN = """
    import sys

    import numpy as np
    import tn_core as tn
    from tn_core.kit import check_structure
    from tn_layers_extra import TrackedEmbedding, tn_structure_examples

    for structure, shapes, inputs in tn_structure_examples():
        report = check_structure(structure, shapes, inputs=inputs)
        assert report.skipped == {}, report.skipped

    rng = np.random.default_rng(0)
    words = rng.integers(0, 15, size=(200, 4))            # ids 15..19 never occur in training
    labels = np.eye(2)[((words < 7).sum(axis=1) >= 2).astype(int)]
    tn.set_seed(0)
    ids = tn.Input((4,), dtype="int64")()
    out = tn.Dense(2, activation="softmax")(tn.Flatten()(tn.TrackedEmbedding(20, 3)(ids)))
    system = tn.System([ids], [out], seed=0)
    history = system.fit(words, labels, epochs=15, batch_size=20, optimizer=tn.AdamW(lr=0.05, weight_decay=0.1),
                         loss="softmax_ce", verbose=0)
    seen = system.buffers()[0][2]
    assert seen.sum() == 15 * words.size and (seen[15:] == 0).all(), seen
    tn.save(system, sys.argv[1])
    np.save(sys.argv[2], system.predict(np.arange(20).reshape(5, 4))[0])
    print(f"loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}, "
          f"accuracy {system.evaluate(words, labels)['accuracy']:.3f}")
"""

LOAD = """
    import sys

    import numpy as np
    import tn_core as tn

    system = tn.load(sys.argv[1])
    expected = np.load(sys.argv[2])
    got = system.predict(np.arange(20).reshape(5, 4))[0]
    assert np.array_equal(got, expected), (got, expected)
    biases = next(array for _, name, array in system.parameters() if name == "biases")
    unseen = np.exp(biases) / np.exp(biases).sum()         # ids 16..19 never occurred in training: the bias alone
    assert np.allclose(got[-1], unseen) and not np.allclose(got[-2], unseen), got
    print(type(system.optimizer).__name__, system.optimizer.steps, system.step)
"""


def test_a_stateful_plugin_on_ids_trains_saves_loads_and_names_itself_when_missing(
    tmp_path: Path, deps_site: Path
) -> None:
    source = write_distribution(tmp_path / "tn-layers-extra", "tn-layers-extra", PLUGIN, "extra", version="0.1.0")
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    (tmp_path / "load.py").write_text(textwrap.dedent(LOAD))
    venv = tmp_path / "venv"
    python = make_venv(venv, deps_site, DISTS["tn_core"], DISTS["tn_layers_dense"], source) / "python"
    model, outputs = tmp_path / "extra.tn", tmp_path / "outputs.npy"

    trained = run(python, tmp_path / "train.py", model, outputs).stdout.split()
    assert float(trained[3].rstrip(",")) < float(trained[1]) / 2 and float(trained[5]) >= 0.9, trained
    assert run(python, tmp_path / "load.py", model, outputs).stdout.split() == ["AdamW", "150", "150"]
    summary = run(venv / "bin" / "tn", "summary", model).stdout
    assert "60 + 20 non-trainable" in summary and "non-trainable: 20 (buffers)" in summary, summary

    run(sys.executable, "-m", "pip", "--python", python, "uninstall", "-y", "-q", "tn-layers-extra")
    hint = "needs tn-layers-extra (0.1.0), which is not installed: pip install tn-layers-extra"
    refused = run(python, tmp_path / "load.py", model, outputs, check=False)
    assert refused.returncode != 0 and "MissingPluginError" in refused.stderr and hint in refused.stderr
    command = run(venv / "bin" / "tn", "summary", model, check=False)
    assert command.returncode == 1 and hint in command.stderr and "Traceback" not in command.stderr
