"""Weight files: round trip, checkpoints, atomic writes, and refusal of bad files."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import stat
import zipfile
from pathlib import Path

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine, Shift
from tn_core import kit, weights
from tn_core.weights import checkpoints


def mlp(hidden: int = 5, seed: int = 0) -> tn.System:
    rng = np.random.default_rng(seed)
    x = tn.Input((3, 2))()
    h = Affine(hidden, activation="hyperbolictangent")(x, rng=rng)
    return tn.System([x], [Affine(2, activation="logistic")(h, rng=rng)])


def params(system: tn.System) -> list[np.ndarray]:
    return [a.copy() for _, _, a in system.parameters()]


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_round_trip(tmp_path: Path) -> None:
    source, target = mlp(seed=1), mlp(seed=2)
    source.save_weights(tmp_path / "w.npz")
    target.load_weights(tmp_path / "w.npz")
    assert_same(params(source), params(target))
    data = np.random.default_rng(0).normal(size=(4, 3, 2))
    np.testing.assert_array_equal(source.guess([data])[0], target.guess([data])[0])


def test_named_checkpoints_live_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    first, second = mlp(seed=1), mlp(seed=2)
    first.save_weights(path, checkpoint="early")
    second.save_weights(path, checkpoint="late")
    assert checkpoints(path) == ["early", "late"]
    probe = mlp(seed=3)
    probe.load_weights(path, checkpoint="early")
    assert_same(params(probe), params(first))
    probe.load_weights(path, checkpoint="late")
    assert_same(params(probe), params(second))
    first.save_weights(path, checkpoint="late")  # overwrite one, keep the other
    probe.load_weights(path, checkpoint="late")
    assert_same(params(probe), params(first))
    with pytest.raises(tn.WeightsFileError, match=r"no checkpoint 'missing' \(it has \['early', 'late'\]\)"):
        probe.load_weights(path, checkpoint="missing")


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.npz"
    system = mlp()
    system.save_weights(path)
    original = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        mlp(seed=5).save_weights(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["w.npz"]  # no temporary or lock file left behind


def test_another_architecture_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    mlp(hidden=7).save_weights(tmp_path / "w.npz")
    system = mlp(hidden=5)
    before = params(system)
    expected = r"affine_1/weights: the network has shape \(5, 6\), the file \(7, 6\)"
    with pytest.raises(tn.WeightsFileError, match=expected):
        system.load_weights(tmp_path / "w.npz")
    assert_same(before, params(system))


def test_missing_and_extra_layers_are_listed(tmp_path: Path) -> None:
    x = tn.Input((3, 2))()
    tn.System([x], [Affine(2)(x)]).save_weights(tmp_path / "w.npz")
    system = mlp()
    with pytest.raises(tn.WeightsFileError, match="missing affine_2/biases"):
        system.load_weights(tmp_path / "w.npz")


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    mlp().save_weights(path)
    path.write_bytes(path.read_bytes()[:100])
    system = mlp()
    before = params(system)
    with pytest.raises(tn.WeightsFileError, match="not an .npz archive"):
        system.load_weights(path)
    assert_same(before, params(system))


def test_object_array_is_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    system = mlp()
    arrays = {f"default/{layer}/{name}": a for layer, name, a in system.parameters()}
    arrays["default/affine_1/weights"] = np.array([{"payload": 1}], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(tn.WeightsFileError, match=r"affine_1/weights: holds Python objects \(pickled data\)"):
        system.load_weights(path)


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    system = mlp()
    system.order[1].params["weights"][0, 0] = np.nan
    system.save_weights(tmp_path / "w.npz")
    with pytest.raises(tn.WeightsFileError, match="NaN or infinite"):
        mlp().load_weights(tmp_path / "w.npz")


def test_not_a_file_and_bad_checkpoint_names(tmp_path: Path) -> None:
    with pytest.raises(tn.WeightsFileError, match="no such file"):
        mlp().load_weights(tmp_path / "nothing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(tn.WeightsFileError):
        mlp().load_weights(tmp_path / "text.npz")
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(tn.WeightsFileError, match="no checkpoint 'default'"):
        mlp().load_weights(tmp_path / "empty.npz")
    with pytest.raises(tn.ConfigError, match="without '/'"):
        mlp().save_weights(tmp_path / "w.npz", checkpoint="a/b")


def test_a_system_without_parameters_loads_the_checkpoint_it_saved(tmp_path: Path) -> None:
    x = tn.Input((3,))()
    system = tn.System([x], [tn.Flatten()(x)])
    system.save_weights(tmp_path / "none.npz")
    system.load_weights(tmp_path / "none.npz")  # the empty checkpoint leaves no trace in the zip archive
    mlp().save_weights(tmp_path / "mlp.npz")
    with pytest.raises(tn.WeightsFileError, match="unexpected "):  # what it does not expect is still refused
        system.load_weights(tmp_path / "mlp.npz")


def test_saving_names_a_missing_folder_a_folder_and_an_overlong_member(tmp_path: Path) -> None:
    for save in (mlp().save_weights, lambda path: tn.save(mlp(), path)):
        with pytest.raises(tn.ConfigError, match=r"cannot save to '.*missing/w.npz': the folder '.*missing' does "
                                                 r"not exist"):
            save(tmp_path / "missing" / "w.npz")
        with pytest.raises(tn.ConfigError, match=r"cannot save to '.*': it is a folder; name a file in it"):
            save(tmp_path)
    x = tn.Input((2,))()
    long = tn.System([x], [Affine(1)(x, name="層" * 22_000)])  # 66,000 bytes in UTF-8
    with pytest.raises(tn.ConfigError, match=r"is 66,0\d\d bytes in UTF-8, more than a zip archive keeps \(65,535\)"):
        long.save_weights(tmp_path / "long.npz")
    assert list(tmp_path.iterdir()) == []  # nothing written, no lock or temporary file left


def test_save_weights_replaces_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "w.npz").touch()  # as tempfile.NamedTemporaryFile(suffix=".npz") leaves it
    model = mlp()
    model.save_weights(tmp_path / "w.npz")
    model.load_weights(tmp_path / "w.npz")
    (tmp_path / "notes.npz").write_text("my notes")  # a file with something in it is not thrown away
    with pytest.raises(tn.WeightsFileError, match="notes.npz"):
        model.save_weights(tmp_path / "notes.npz")
    assert (tmp_path / "notes.npz").read_text() == "my notes"


@pytest.mark.parametrize("name", ["ok\x00", "a\\b", "\udc80"])
def test_checkpoint_names_a_zip_member_name_cannot_keep_are_refused_before_writing(tmp_path: Path, name: str) -> None:
    """zipfile cuts a member name at NUL (the cut name is no .npy member: the whole file became unreadable), reads
    '\\' as '/' on Windows and writes names as UTF-8 (which holds no lone surrogates)."""
    path = tmp_path / "w.npz"
    system = mlp()
    system.save_weights(path)
    original = path.read_bytes()
    with pytest.raises(tn.ConfigError, match=r"checkpoint must be a non-empty name without '/', '\\' or NUL"):
        system.save_weights(path, checkpoint=name)
    assert path.read_bytes() == original and sorted(os.listdir(tmp_path)) == ["w.npz"]
    with pytest.raises(tn.ConfigError, match="checkpoint must be"):
        system.load_weights(path, checkpoint=name)
    assert checkpoints(path) == ["default"]


@attrs.define
class OddlyNamed(kit.Structure):
    """y = x + b, its parameter named by the test."""

    param: str = "b"

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {self.param: np.zeros(input_shapes[0])}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [inputs[0] + params[self.param]], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0]], {self.param: grads[0].sum(axis=0)}


@pytest.mark.parametrize("param", ["b\x00", "b\\c"])
def test_a_parameter_name_a_zip_member_name_cannot_keep_is_refused_by_save_and_load(tmp_path: Path,
                                                                                   param: str) -> None:
    x = tn.Input((3,))()
    system = tn.System([x], [OddlyNamed(param)(x)])
    with pytest.raises(tn.ConfigError, match=r"parameter .* of layer 'oddlynamed_1' cannot be named in a weights "
                                             r"file: zipfile"):
        system.save_weights(tmp_path / "w.npz")
    assert os.listdir(tmp_path) == []
    with pytest.raises(tn.ConfigError, match="cannot be named in a weights file"):
        system.load_weights(tmp_path / "w.npz")


def test_a_refused_file_changes_no_parameter_even_those_that_match(tmp_path: Path) -> None:
    """Every array is checked before any is copied: the valid ones of a bad file are not loaded either."""
    source = mlp(seed=1)
    for _, _, array in source.parameters():
        array += 1.0  # every stored array differs from the target's
    source.order[-1].params["biases"][0] = np.inf  # the last array checked is the bad one
    source.save_weights(tmp_path / "w.npz")
    system = mlp(seed=2)
    before = params(system)
    with pytest.raises(tn.WeightsFileError, match="affine_2/biases: holds NaN or infinite values"):
        system.load_weights(tmp_path / "w.npz")
    assert_same(before, params(system))


# -- saving: permissions, symlinks, fsync, left-overs, locking --------------------------------


def test_a_save_keeps_the_files_permissions_and_a_new_file_gets_the_umasks(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    old_umask = os.umask(0o027)
    try:
        mlp().save_weights(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        path.chmod(0o604)
        mlp(seed=1).save_weights(path, checkpoint="other")
        tn.save(mlp(), tmp_path / "m.tn")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o604 and checkpoints(path) == ["default", "other"]
    assert stat.S_IMODE((tmp_path / "m.tn").stat().st_mode) == 0o640


def test_a_save_through_a_symlink_replaces_its_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target, link = tmp_path / "real" / "w.npz", tmp_path / "w.npz"
    link.symlink_to(target)
    mlp(seed=1).save_weights(link)
    mlp(seed=2).save_weights(link, checkpoint="other")
    assert link.is_symlink() and checkpoints(target) == ["default", "other"]
    probe = mlp(seed=3)
    probe.load_weights(link)
    assert_same(params(probe), params(mlp(seed=1)))


def test_a_save_fsyncs_the_file_and_then_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("folder" if stat.S_ISDIR(mode) else f"file of {os.fstat(fd).st_size} bytes")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    mlp().save_weights(tmp_path / "w.npz")
    assert synced == [f"file of {(tmp_path / 'w.npz').stat().st_size} bytes", "folder"]


def test_the_next_save_removes_what_a_killed_save_left(tmp_path: Path) -> None:
    left = [tmp_path / ".w.npz.0123abcd.tmp", tmp_path / ".w.npz.ffffffff.tmp"]
    kept = [tmp_path / ".w.npz.x.tmp", tmp_path / ".v.npz.0123abcd.tmp", tmp_path / ".w.npz.0123abcd.tmp.x"]
    for path in left + kept:
        path.write_bytes(b"partial")
    mlp().save_weights(tmp_path / "w.npz")
    assert not any(path.exists() for path in left) and all(path.exists() for path in kept)
    tmp_path.joinpath(".m.tn.00000000.tmp").write_bytes(b"partial")
    tn.save(mlp(), tmp_path / "m.tn")
    assert not tmp_path.joinpath(".m.tn.00000000.tmp").exists()


def _save_checkpoints(path: Path, prefix: str, count: int, start: multiprocessing.synchronize.Barrier) -> None:
    system = mlp()
    start.wait()
    for k in range(count):
        system.save_weights(path, checkpoint=f"{prefix}{k}")


def test_two_processes_saving_checkpoints_to_one_file_lose_none(tmp_path: Path) -> None:
    """Each save reads the file, adds its checkpoint and replaces the file: unlocked, they overwrite each other."""
    path = tmp_path / "w.npz"
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    workers = [context.Process(target=_save_checkpoints, args=(path, prefix, 25, start)) for prefix in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert checkpoints(path) == sorted(f"{prefix}{k}" for prefix in "ab" for k in range(25))


def test_without_file_locks_saving_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "fcntl", None)
    with pytest.raises(tn.WeightsFileError, match=r"w.npz: saving needs POSIX file locks \(fcntl\)"):
        mlp().save_weights(tmp_path / "w.npz")
    with pytest.raises(tn.WeightsFileError, match="needs POSIX file locks"):
        tn.save(mlp(), tmp_path / "m.tn")
    assert os.listdir(tmp_path) == []


def test_zero_dimensional_and_fortran_ordered_arrays_keep_their_shapes(tmp_path: Path) -> None:
    x = tn.Input((3,))()
    parts = tn.Split()(x)
    system = tn.System([x], [Shift()(parts[0]), Shift()(parts[1]), Shift()(parts[2])])
    for _, _, array in system.parameters():
        array[...] = 0.5
    system.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as archive:
        assert {archive[key].shape for key in archive.files} == {()}
    other = tn.System([x], [Shift()(parts[0]), Shift()(parts[1]), Shift()(parts[2])])
    other.load_weights(tmp_path / "w.npz")
    assert_same(params(other), params(system))
    system = mlp()
    arrays = {f"default/{layer}/{name}": np.asfortranarray(a) for layer, name, a in system.parameters()}
    with open(tmp_path / "f.npz", "wb") as handle:
        np.savez(handle, **arrays)
    probe = mlp(seed=4)
    probe.load_weights(tmp_path / "f.npz")
    assert_same(params(probe), params(system))
