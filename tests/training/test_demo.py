"""`tn demo` and `tn summary`, end to end through the command line entry point."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import tn_core as tn
from tn_core import demo
from tn_core.cli import main

from .test_model_files import shared_network


@pytest.fixture(autouse=True)
def small_test_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "TEST_SAMPLES", 520)


def test_demo_quick_run_trains_saves_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["demo", "--epochs", "1", "--samples", "520", "--seed", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy:" in out and "wall time:" in out and "epoch 1/1" in out
    assert "dense_1" in out and "287,351" in out  # the layer table of the seed's network
    model = tmp_path / "ocr-mlp.tn"
    assert f"saved the model to {model}" in out
    loaded = tn.load(model)
    assert [type(i.structure).__name__ for i in loaded.order] == ["Input", "Dense", "Dense", "Dense"]
    assert loaded.order[-1].params["weights"].shape == (26, 225)
    assert ("matplotlib" in out) != (tmp_path / "ocr-mlp-weights.png").exists()


def test_demo_quiet_prints_only_the_results(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = demo.run(epochs=1, samples=260, out=tmp_path, quiet=True)
    out = capsys.readouterr().out
    assert "epoch 1/1" not in out and "dense_1" not in out
    assert 0.0 <= result["accuracy"] <= 1.0 and result["model_path"].exists() and len(result["epoch_times"]) == 1


def test_demo_out_is_checked_before_training(tmp_path: Path, capsys: pytest.CaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A file, a path through a file, or a folder nobody can write to (/proc, even as root): one line, at once."""

    def no_data(*args: object, **kwargs: object) -> None:
        raise AssertionError("the demo made its data before checking --out")

    monkeypatch.setattr(demo.data, "block_letters", no_data)
    (tmp_path / "file").write_text("not a folder")
    outs = [tmp_path / "file", tmp_path / "file" / "sub"] + ([Path("/proc")] if Path("/proc/self").exists() else [])
    for out in outs:
        assert main(["demo", "--epochs", "1", "--samples", "26", "--out", str(out)]) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith(f"tn demo: --out {out}: not a folder the demo can write to (")


@pytest.mark.parametrize("option, value, message", [
    ("--seed", "-1", "a seed must be an int >= 0, got -1"),
    ("--seed", "x", "a seed must be an int >= 0, got 'x'"),
    ("--epochs", "x", "a count must be an int >= 1, got 'x'"),
    ("--epochs", "0", "a count must be an int >= 1, got 0"),
    ("--samples", "2.5", "a count must be an int >= 1, got '2.5'"),
])
def test_demo_options_are_refused_by_argparse_saying_what_they_take(option: str, value: str, message: str,
                                                                    capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", option, value])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith(f"tn demo: error: argument {option}: {message}\n")


@pytest.mark.parametrize(("keyword", "value", "message"), [
    ("seed", -1, "demo: seed must be an int >= 0, got -1"), ("epochs", 0, "demo: epochs must be an int >= 1, got 0"),
    ("samples", 2.5, "demo: samples must be an int >= 1, got 2.5"),
])
def test_run_refuses_bad_options_before_writing_anything(keyword: str, value: object, message: str,
                                                        tmp_path: Path) -> None:
    with pytest.raises(tn.ConfigError, match=re.escape(message)):
        demo.run(**{keyword: value}, out=tmp_path, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_summary_command_reads_a_model_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    s = shared_network()
    s.fit([np.ones((2, 4)), np.zeros((2, 4))], np.ones((2, 2)), epochs=1, verbose=0)
    tn.save(s, tmp_path / "m.tn")
    assert main(["summary", str(tmp_path / "m.tn")]) == 0
    out = capsys.readouterr().out
    assert "shared with dense_1" in out and "Dense tanh" in out and "Concatenate" in out
    assert "parameters: 29 " in out  # 4*3 + 3 shared once, 6*2 + 2
    assert "optimizer: Adam" in out and "after 1 updates" in out
    assert main(["summary", str(tmp_path / "missing.tn")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_system_summary_prints_the_table(capsys: pytest.CaptureFixture) -> None:
    shared_network().summary()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "parameters"]
    assert any(line.startswith("twin") and line.endswith("shared with dense_1") for line in lines)


def test_demo_models_come_from_plugins_by_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """A model whose plugin is missing fails with the distribution to install."""
    plugins = tn.get_plugins()
    real = plugins.find

    def without_conv(name: str) -> object:
        if name == "Conv":
            raise tn.MissingPluginError("tn.Conv needs tn-layers-conv: pip install tn-layers-conv")
        return real(name)

    monkeypatch.setattr(plugins, "find", without_conv)
    assert main(["demo", "--model", "conv", "--epochs", "1", "--samples", "26", "--out", str(tmp_path)]) == 1
    assert "pip install tn-layers-conv" in capsys.readouterr().err


def test_letter_weights_average_each_letters_input_gradient() -> None:
    """For a linear map z = W x + b (then sigmoid), dz_k/dx is row k of W for every sample."""
    x_in = tn.Input((2, 3))()
    out = tn.Dense(26, activation="sigmoid")(x_in, rng=np.random.default_rng(0))
    s = tn.System([x_in], [out], dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(52, 2, 3))
    y = np.eye(26)[np.arange(52) % 26]
    weights = demo.letter_weights(s, x, y)
    np.testing.assert_allclose(weights, out.params["weights"].reshape(26, 2, 3), rtol=1e-12)


def test_draw_weights_writes_a_png_with_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The picture path with a stand-in for matplotlib (an optional extra, maybe not installed)."""
    calls: list[str] = []

    class Axes:
        def axis(self, *args: object) -> None: ...
        def imshow(self, image: np.ndarray, **kwargs: object) -> None:
            calls.append(f"imshow {image.shape}")
        def set_title(self, title: str, **kwargs: object) -> None:
            calls.append(title)

    class Figure:
        def suptitle(self, *args: object, **kwargs: object) -> None: ...
        def savefig(self, path: Path, **kwargs: object) -> None:
            Path(path).write_bytes(b"\x89PNG")

    pyplot = types.SimpleNamespace(
        subplots=lambda rows, cols, **kw: (Figure(), np.array([[Axes() for _ in range(cols)] for _ in range(rows)])),
        close=lambda fig: None,
    )
    matplotlib = types.ModuleType("matplotlib")
    matplotlib.use = lambda backend: None  # type: ignore[attr-defined]
    matplotlib.pyplot = pyplot  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "matplotlib", matplotlib)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    assert demo.draw_weights(np.zeros((26, 32, 32)), tmp_path / "w.png", "title")
    assert (tmp_path / "w.png").exists() and calls.count("imshow (32, 32)") == 26 and calls[1] == "A"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails: no picture, no error
    assert not demo.draw_weights(np.zeros((26, 32, 32)), tmp_path / "x.png", "title")


def test_the_demo_trains_on_one_blas_thread_and_restores_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    api = demo.openblas_threads()
    if api is None:
        pytest.skip("NumPy's OpenBLAS is not among the loaded libraries here")
    get, _ = api
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = get()
    with demo.one_blas_thread():
        assert get() == 1
    assert get() == before
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", str(before))  # the user's choice wins
    with demo.one_blas_thread():
        assert get() == before
