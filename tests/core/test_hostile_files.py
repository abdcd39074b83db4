"""Hostile weights and model files: refused from their headers, in bounded memory and time, as WeightsFileError."""

from __future__ import annotations

import gc
import json
import random
import re
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core.cli import main

from .hostile_files import (
    DEFLATED,
    LZMA,
    MB,
    Raw,
    chain_model,
    deflated,
    lying_architecture,
    lying_input,
    measure,
    members_of,
    model_of,
    npy,
    npy_header,
    small_model,
    stored,
    with_model,
    write_zip,
    zeros_bomb,
)
from .test_weights import mlp

BOMB = 256 * MB  # what a deflated member of about 256 KB expands to


def weights_file(path: Path) -> list[Raw]:
    """The members of a weights file of test_weights' mlp (what the measuring process loads into)."""
    mlp().save_weights(path)
    return members_of(path)


def member(name: str, new: Raw) -> Callable[[list[Raw]], list[Raw]]:
    """Replace member ``name`` of a list of members by ``new``."""
    return lambda raws: [*(m for m in raws if m.name != name), new]


# -- memory and time, measured in a fresh process --------------------------------------------


def lying(path: Path) -> tuple[str, Path]:
    return "load", lying_architecture(path)


def shift_of_a_lying_input(path: Path) -> tuple[str, Path]:
    return "load", lying_input(path)


def bomb_in_another_checkpoint(path: Path) -> tuple[str, Path]:
    """A consistent member of 256 MiB of zeros in a checkpoint nobody loads: its header says what it holds."""
    bomb = zeros_bomb("other/affine_1/weights.npy", npy_header((BOMB // 8,)), BOMB)
    write_zip(path, [*weights_file(path), bomb])
    return "load_weights", path


def member_beyond_its_header(path: Path) -> tuple[str, Path]:
    bomb = zeros_bomb("other/affine_1/weights.npy", npy_header((10,)), BOMB)
    write_zip(path, [*weights_file(path), bomb])
    return "load_weights", path


def header_of_10_to_the_12(path: Path) -> tuple[str, Path]:
    lie = stored("default/affine_1/weights.npy", npy_header((10**12,)) + bytes(240))
    write_zip(path, member(lie.name, lie)(weights_file(path)))
    return "load_weights", path


def model_json_bomb(path: Path) -> tuple[str, Path]:
    small_model(path)
    bomb = zeros_bomb("model.json.npy", npy_header((BOMB,), "|u1"), BOMB)
    write_zip(path, member(bomb.name, bomb)(members_of(path)))
    return "load", path


def summary_of_lying(path: Path) -> tuple[str, Path]:
    return "summary", lying_architecture(path)


@pytest.mark.slow  # a fresh interpreter each
def test_a_trusted_model_of_larger_inputs_loads_when_told_to(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A 40M-number input (a 4K RGB image is 25M) is past the bound a lying Input shape is held to; the error
    says how to load the file, and doing so loads it."""
    x = tn.Input((5000, 8000))()
    tn.save(tn.System([x], [tn.Flatten()(x)]), tmp_path / "big.tn")
    with pytest.raises(tn.WeightsFileError, match=r"tn.load\(path, max_input_numbers=40000000\) loads it"):
        tn.load(tmp_path / "big.tn")
    loaded = tn.load(tmp_path / "big.tn", max_input_numbers=40_000_000)
    assert loaded.outputs[0].shape == (40_000_000,)
    assert main(["summary", str(tmp_path / "big.tn")]) == 1
    assert "tn summary --max-input-numbers 40000000)" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "big.tn"), "--max-input-numbers", "40000000"]) == 0
    assert "(40000000,)" in capsys.readouterr().out.replace(", ", ",")
    for bad in (-1, 2.5, "many", True):
        with pytest.raises(tn.ConfigError, match=r"tn.load: max_input_numbers must be an int >= 0, got "):
            tn.load(tmp_path / "big.tn", max_input_numbers=bad)


@pytest.mark.parametrize(
    "make, error",
    [
        (lying, r"layer 1 \('Affine'\): its build draws 121,000,000 random numbers, more than the parameters the "
                r"file stores"),
        (shift_of_a_lying_input, r"layer 1 \('Shift'\): its inputs hold 90,000,000 numbers per sample, more than a "
                                r"loaded model's layers may \(33,554,432 beyond the file's 3 parameters\); for a "
                                r"file you trust, tn.load\(path, max_input_numbers=89999997\) loads it \(tn summary "
                                r"--max-input-numbers 89999997\)"),
        (bomb_in_another_checkpoint, None),
        (member_beyond_its_header, r"other/affine_1/weights: its header declares float64 \(10,\) \(80 bytes\) but "
                                   r"the member holds 268,435,456 bytes"),
        (header_of_10_to_the_12, r"default/affine_1/weights: its header declares float64 \(1000000000000,\) "
                                 r"\(8,000,000,000,000 bytes\) but the member holds 240 bytes"),
        (model_json_bomb, r"model.json: 268,435,456 bytes, more than a model file's 8,388,608"),
        (summary_of_lying, "tn summary failed"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_a_small_hostile_file_costs_no_memory_and_no_time(make: Callable, error: str | None, tmp_path: Path) -> None:
    """Each file is under 300 KB; unchecked, they cost 256-900 MB (up to 3 GB with 1 GiB bombs) or a MemoryError."""
    call, path = make(tmp_path / "hostile.npz")
    assert path.stat().st_size < 300_000
    result = measure(call, path)
    assert result["peak_mb"] < 100 and result["seconds"] < 5, result
    if error is None:
        assert result["error"] is None
    else:
        assert re.search(error, result["error"]), result["error"]
        assert result["error"].startswith("SystemError") or str(path) in result["error"]


def test_the_bomb_is_refused_from_its_header_when_its_checkpoint_is_asked_for(tmp_path: Path) -> None:
    """Its checksum is wrong: reading its data would fail on that, not on the shape."""
    bomb = zeros_bomb("other/affine_1/weights.npy", npy_header((BOMB // 8,)), BOMB)
    bomb.crc ^= 1
    write_zip(tmp_path / "w.npz", [*weights_file(tmp_path / "w.npz"), bomb])
    with pytest.raises(tn.WeightsFileError, match=r"affine_1/weights: the network has shape \(5, 6\), the file "
                                                  r"\(33554432,\)"):
        mlp().load_weights(tmp_path / "w.npz", checkpoint="other")


@pytest.mark.slow
def test_loading_time_grows_linearly_with_the_layers(tmp_path: Path) -> None:
    """Eight times the layers take 8-11 times as long here (the garbage collector, whose full passes grow
    with the heap, paused); with System's old quadratic layer naming, whose share grows as the square,
    far more (a 32k-layer chain took 35 s against 7 s now)."""
    seconds = {}
    for layers in (2000, 16000):
        path = chain_model(tmp_path / f"chain{layers}.tn", layers)
        times = []
        for _ in range(2):
            gc.collect()
            gc.disable()
            try:
                start = time.process_time()
                tn.load(path)
                times.append(time.process_time() - start)
            finally:
                gc.enable()
        seconds[layers] = min(times)
    assert seconds[16000] < 20 * seconds[2000], seconds


# -- every bad file is a WeightsFileError naming the file and the part -----------------------


def model_file(path: Path, edit: Callable[[dict], None] | None = None, optimizer: bool = False) -> list[Raw]:
    """The members of a small model file (trained one step with Adam when ``optimizer``), model.json edited."""
    x = tn.Input((11,))()
    system = tn.System([x], [Affine(3)(x, rng=np.random.default_rng(0))])
    if optimizer:
        system.fit(np.ones((2, 11)), np.ones((2, 3)), epochs=1, optimizer="adam", verbose=0)
    tn.save(system, path)
    if edit is not None:
        model = model_of(path)
        edit(model)
        with_model(path, model)
    return members_of(path)


def raw_json(text: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        model_file(path)
        with_model(path, text)

    return make


def nested(depth: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        model_file(path)
        model = json.dumps(model_of(path))
        with_model(path, model[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}")

    return make


def json_text(replace: tuple[str, str]) -> Callable[[Path], None]:
    """model.json with one piece of its text replaced (JSON that json.dumps would never write)."""

    def make(path: Path) -> None:
        model_file(path, optimizer=True)
        text = json.dumps(model_of(path))
        assert replace[0] in text
        with_model(path, text.replace(*replace, 1))

    return make


def members(change: Callable[[list[Raw]], list[Raw]], optimizer: bool = False) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        write_zip(path, change(model_file(path, optimizer=optimizer)))

    return make


def steps_of(value: int) -> Callable[[list[Raw]], list[Raw]]:
    return member("optimizer/steps.npy", stored("optimizer/steps.npy", npy(np.array(value))))


def weights_of(value: float) -> Callable[[list[Raw]], list[Raw]]:
    array = np.full((3, 11), value, dtype=np.float64)
    return member("params/0/weights.npy", stored("params/0/weights.npy", npy(array)))


def no_group_no_arrays(path: Path) -> None:
    model_file(path, lambda m: m["instances"][-1].update(group=None))
    write_zip(path, [m for m in members_of(path) if not m.name.startswith("params/")])


def big_constant(path: Path) -> None:
    array = {"__array__": {"dtype": "uint8", "shape": [1], "data": [300]}}
    constant = {"kind": "structure", "type": "Constant", "config": {"value": array}}

    def edit(model: dict) -> None:
        model["instances"].append({"name": None, "structure": constant, "parents": [], "group": None})
        model["outputs"].append([2, 0])
        model["names"].append("constant_1")
        core = next(row for row in model["types"] if row["type"] == "Input")
        model["types"].append({**core, "type": "Constant"})

    model_file(path, edit)


def configuration(where: str, **changes: Any) -> Callable[[Path], None]:
    """A model file (with Adam's state) whose layer 1's structure (``where="layer"``) or optimizer configuration
    has ``changes``; each value is written as model.json's encoding."""

    def make(path: Path) -> None:
        def edit(model: dict) -> None:
            config = model["instances"][1]["structure"] if where == "layer" else model["optimizer"]
            config.update(changes)
            if "config" in changes:  # the optimizer's fields
                config["config"] = {**model["optimizer"]["config"], **changes["config"]}

        model_file(path, edit, optimizer=True)

    return make


def array_of(shape: list[int], data: list[float]) -> dict:
    return {"__array__": {"dtype": "float64", "shape": shape, "data": data}}


def overlapping(path: Path) -> None:
    raws = model_file(path)
    write_zip(path, [*raws, stored("params/0/extra.npy", b"")], overlap=True)


def types_row(**changes: str) -> Callable[[Path], None]:
    """A small model whose types table gains a copy of its last row with ``changes``."""

    def make(path: Path) -> None:
        small_model(path)
        model = model_of(path)
        model["types"].append({**model["types"][-1], **changes})
        with_model(path, model)

    return make


BAD_FILES: list[tuple[str, Callable[[Path], None], str]] = [
    ("a .npy file", lambda p: p.write_bytes(npy(np.zeros(3))), r"not an .npz archive \(a single .npy array\)"),
    ("garbage", lambda p: p.write_bytes(b"PK\x03\x04" + bytes(200)), r"not an .npz archive \(BadZipFile"),
    ("a raw model.json member", members(member("model.json.npy", Raw("model.json", b"{}", 2, zlib.crc32(b"{}")))),
     r"'model.json': is not a .npy array"),
    ("a corrupt deflate stream", members(member("params/0/weights.npy", Raw("params/0/weights.npy", b"\xff" * 64,
                                                                            400, 0, DEFLATED))),
     r"params/0/weights: cannot be read \(error: Error -3 while decompressing"),
    ("an LZMA member", members(member("params/0/weights.npy", Raw("params/0/weights.npy", b"\x00" * 64, 400, 0,
                                                                  LZMA))),
     "params/0/weights: is compressed with zip method 14"),
    ("an encrypted member", members(member("params/0/weights.npy", Raw("params/0/weights.npy", b"\x00" * 400, 400,
                                                                       0, flags=1))),
     "params/0/weights: is encrypted"),
    ("strong encryption", members(member("params/0/weights.npy", Raw("params/0/weights.npy", b"\x00" * 400, 400, 0,
                                                                    flags=0x40))),
     r"params/0/weights: cannot be read \(NotImplementedError: strong encryption"),
    ("a stored member of another size", members(member("params/0/weights.npy", Raw("params/0/weights.npy",
                                                                                   b"\x00" * 400, 500, 0))),
     "params/0/weights: declares 500 bytes but stores 400"),
    ("more than deflate can expand", members(member("params/0/weights.npy", Raw("params/0/weights.npy", b"\x03\x00",
                                                                                 3000, 0, DEFLATED))),
     "params/0/weights: declares 3,000 bytes, more than its 2 deflated bytes can hold"),
    ("a member stored twice", members(lambda raws: [*raws, raws[0]]), "params/0/weights: is stored twice"),
    ("overlapping members", overlapping, "params/0/weights: overlaps the next member or runs past the end"),
    ("not a .npy header", members(member("params/0/weights.npy", stored("params/0/weights.npy", b"\x00" * 80))),
     r"params/0/weights: cannot be read \(ValueError: the magic string is not correct"),
    ("a .npy version 3.0 header", members(member("params/0/weights.npy", stored(
        "params/0/weights.npy", b"\x93NUMPY\x03\x00" + bytes(60)))), r"format version \(3, 0\) is not read"),
    ("complex numbers", members(member("params/0/weights.npy", stored("params/0/weights.npy",
                                                                      npy(np.zeros((3, 11), complex))))),
     "params/0/weights: holds complex128 data, not numbers"),
    ("an unknown member", members(lambda raws: [*raws, stored("notes.npy", npy(np.zeros(2)))]),
     "notes: the model has no such part"),
    ("optimizer state without an optimizer", members(lambda raws: [*raws, stored("optimizer/steps.npy",
                                                                                 npy(np.array(3)))]),
     "optimizer/steps: the model has no such part"),
    ("5,000-deep JSON", nested(5000), "model.json nests deeper than 100 levels"),
    ("150-deep JSON", nested(150), "model.json nests deeper than 100 levels"),
    ("a million values", raw_json("[" + "0," * 1_000_000 + "0]"), "model.json: about 1,000,001 values"),
    ("1e400", json_text(('"lr": 0.001', '"lr": 1e400')), r"model.json is not valid JSON \(the number 1e400 is "
                                                          "out of range"),
    ("a 40-digit integer", json_text(('"lr": 0.001', '"lr": ' + "9" * 40)), "has more than 19 digits"),
    ("NaN", json_text(('"lr": 0.001', '"lr": NaN')), "NaN is not JSON"),
    ("steps of -1", members(steps_of(-1), optimizer=True), "optimizer state 'steps' is -1, not a count"),
    ("float64 beyond float32", members(weights_of(1e300)), r"params/0/weights holds values beyond float32's range"),
    ("parameters without a group", no_group_no_arrays, r"layer 1 \('Affine'\) has parameters but no group"),
    ("a constant out of its dtype's range", big_constant, r"layer 2 \('Constant'\) cannot be rebuilt: .*do not fit "
                                                          "uint8"),
    ("a layer type that is a list", configuration("layer", type=["Affine"]),
     r"layer 1 \(\['Affine'\]\) cannot be rebuilt: malformed configuration"),
    ("a layer type that is a dict", configuration("layer", type={"a": 1}),
     r"layer 1 \(\{'a': 1\}\) cannot be rebuilt: malformed configuration"),
    ("an optimizer type that is a list", configuration("optimizer", type=["Adam"]),
     r"optimizer: malformed configuration"),
    ("an optimizer kind that is a list", configuration("optimizer", kind=["optimizer"]),
     r"optimizer: malformed configuration"),
    ("an array of 70 dimensions", configuration("optimizer", config={"lr": array_of([1] * 70, [0.001])}),
     r"optimizer: Adam.lr: no float64 array has the shape \[1, 1, .*found 70"),
    ("an array dimension beyond NumPy's", configuration("optimizer", config={"lr": array_of([0, 10**19 - 1], [])}),
     r"optimizer: Adam.lr: no float64 array has the shape \[0, 9999999999999999999\]"),
    ("a types table row of an unknown kind", types_row(kind="bogus"), "model.json has a malformed types table"),
    ("an empty array of 8e36 bytes", configuration("optimizer", config={"lr": array_of([0, 10**18, 10**18], [])}),
     r"optimizer: Adam.lr: no float64 array has the shape \[0, 1000000000000000000, 1000000000000000000\]"),
]


@pytest.mark.parametrize("make, match", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_every_bad_model_file_is_a_weights_file_error_naming_the_file_and_the_part(
    make: Callable[[Path], None], match: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "bad.tn"
    make(path)
    with pytest.raises(tn.WeightsFileError, match=match) as caught:
        tn.load(path)
    assert str(caught.value).startswith(str(path))
    assert main(["summary", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"tn summary: {path}")


ESCAPES = "evil\x1b[2J\x1b]0;owned\x07\n"  # clear the screen, set the window title, a new line


def test_tn_summary_never_prints_a_files_control_characters(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = small_model(tmp_path / "m.tn")
    model = model_of(path)
    model["instances"][1]["name"] = model["names"][1] = ESCAPES
    with_model(path, model)
    assert main(["summary", str(path)]) == 1
    captured = capsys.readouterr()
    assert not set("\x1b\x07") & set(captured.out + captured.err)
    assert "layer name 'evil\\x1b[2J" in captured.err  # refused, its name shown escaped


@pytest.mark.parametrize(
    "config",
    [
        {"kind": ["optimizer"], "type": "Adam", "config": {}},
        {"kind": "optimizer", "type": "Adam", "config": {"lr": array_of([1] * 70, [0.001])}},
        {"kind": "optimizer", "type": "Adam", "config": {"lr": array_of([0, 10**19 - 1], [])}},
        {"kind": "optimizer", "type": "Adam", "config": {"lr": array_of([0, 10**18, 10**18], [])}},
        {"kind": "optimizer", "type": "Adam", "config": {"lr": array_of([0, 10**30], [])}},
    ],
    ids=["kind list", "70 dimensions", "dimension beyond NumPy's", "8e36 bytes", "30-digit dimension"],
)
def test_malformed_configurations_are_config_errors(config: dict) -> None:
    with pytest.raises(tn.ConfigError, match="malformed configuration|no float64 array has the shape"):
        tn.from_config(config)


def test_a_version_1_file_does_not_read_a_types_table(tmp_path: Path) -> None:
    """Version 1 had no types table: one there, even a malformed one, is not read (it raised a raw TypeError)."""

    def version_1(model: dict) -> None:
        model.update(version=1, types=[["Affine"]])
        for entry in model["instances"]:
            entry["plugin"] = "tests"

    model_file(tmp_path / "old.tn", version_1)
    assert [type(inst.structure).__name__ for inst in tn.load(tmp_path / "old.tn").order] == ["Input", "Affine"]


@pytest.mark.parametrize(
    "change, match",
    [
        (member("default/affine_1/weights.npy", stored("default/affine_1/weights.npy", npy(np.full((5, 6), 1e300)))),
         r"affine_1/weights: holds values beyond float32's range"),
        (lambda raws: [*raws, Raw("notes.txt", b"hi", 2, zlib.crc32(b"hi"))], r"'notes.txt': is not a .npy array"),
        (lambda raws: [*raws, deflated("other/x.npy", b"\x00" * 100)], r"other/x: cannot be read \(ValueError"),
    ],
)
def test_bad_weights_files_are_weights_file_errors(change: Callable, match: str, tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    write_zip(path, change(weights_file(path)))
    system = mlp()
    before = [a.copy() for _, _, a in system.parameters()]
    with pytest.raises(tn.WeightsFileError, match=match):
        system.load_weights(path)
    for a, b in zip(before, (a for _, _, a in system.parameters())):
        np.testing.assert_array_equal(a, b)


def test_a_model_file_is_not_a_weights_file(tmp_path: Path) -> None:
    small_model(tmp_path / "m.tn")
    with pytest.raises(tn.WeightsFileError, match="it is a model file: load it with tn.load"):
        mlp().load_weights(tmp_path / "m.tn")


@pytest.mark.parametrize("kind", ["model", "weights"])
def test_damaged_files_fail_only_with_tensornet_errors(kind: str, tmp_path: Path) -> None:
    """Bits flipped anywhere in a saved file, or the file cut anywhere: a load succeeds or raises a
    TensornetError that names the file."""
    path = tmp_path / "saved"
    if kind == "model":
        model_file(path, optimizer=True)
    else:
        mlp().save_weights(path)
    original = path.read_bytes()
    rng = random.Random(0)
    damaged = [original[:cut] for cut in range(0, len(original), 97)]
    for _ in range(300):
        data = bytearray(original)
        for _ in range(rng.choice((1, 1, 2, 8))):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        damaged.append(bytes(data))
    refused = 0
    for data in damaged:
        path.write_bytes(data)
        try:
            tn.load(path) if kind == "model" else mlp().load_weights(path)
        except tn.TensornetError as exc:
            assert str(path) in str(exc), exc
            refused += 1
    assert refused > len(damaged) * 0.8
