"""Weight files: .npz archives with named checkpoints.

Keys are ``checkpoint/layer/param``, for the trainable parameters and the
buffers (running statistics) alike.

Reading checks before it costs anything: :func:`open_npz` reads the zip
directory and every member's .npy header, no data, and refuses an archive
whose entries and headers disagree with each other or with the file's size;
a caller then reads only the members it has matched against its network,
each into one array of exactly the declared size. Nothing is unpickled.

Writing goes to a temporary file beside the target, which is fsynced and
renamed over it (keeping its permissions, through a symlink to its target),
under a lock on the target, so that concurrent saves of checkpoints to one
file lose none; the temporary files of a killed save go at the next save.
Nothing stays beside the file.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import re
import secrets
import shutil
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from tn_core.errors import ConfigError, WeightsFileError
from tn_core.parallel import writes_output

try:
    import fcntl
except ImportError:  # not POSIX: saving refuses (see locked)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from tn_core.system import System

#: longest .npy header read (numpy's own limit for safe parsing), and the bytes read for it with the fields before
HEADER_LIMIT = 10_000
HEADER_READ = HEADER_LIMIT + 12
#: the most deflate can expand its input (258 bytes from a 2-bit code)
DEFLATE_RATIO = 1032
#: an entry's local header before its data: at least 30 bytes
LOCAL_HEADER = 30
CHUNK = 1 << 20
#: what reading a corrupt archive or member raises, besides WeightsFileError (zipfile: NotImplementedError for
#: a member whose damaged entry asks for strong encryption, patched data or a zip version it does not read)
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error, NotImplementedError)
#: what opens an HDF5 file (the original library's weights format), and the names such files go by (we write .npz)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SUFFIXES = (".h5", ".hdf5", ".he5")


@attrs.frozen
class Member:
    """An array of an archive, as its zip entry and .npy header declare it."""

    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int  # bytes of .npy header before the data
    content: bytes | None  # the whole member, when reading its header read all of a stored one

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


class Archive:
    """An open .npz file whose entries and headers are checked; arrays are read on demand."""

    def __init__(self, path: Any, handle: zipfile.ZipFile, file_size: int) -> None:
        self.path = path
        self._zip = handle
        self.members = self._check(file_size)

    def error(self, part: str, message: str) -> WeightsFileError:
        return WeightsFileError(f"{self.path}: {part}: {message}")

    def checkpoints(self) -> list[str]:
        return sorted({key.split("/", 1)[0] for key in self.members})

    def _check(self, file_size: int) -> dict[str, Member]:
        infos = sorted(self._zip.infolist(), key=lambda info: info.header_offset)
        ends = [info.header_offset for info in infos[1:]] + [file_size]
        members: dict[str, Member] = {}
        for info, end in zip(infos, ends):
            if not info.filename.endswith(".npy"):
                raise self.error(repr(info.filename), "is not a .npy array (an .npz archive holds only those)")
            key = info.filename[: -len(".npy")]
            if key in members:
                raise self.error(key, "is stored twice")
            self._check_entry(key, info, end)
            members[key] = self._read_header(key, info)
        return members

    def _check_entry(self, key: str, info: zipfile.ZipInfo, end: int) -> None:
        """Flags, method and sizes of an entry, against each other and the space it has in the file."""
        if info.flag_bits & 0x1:
            raise self.error(key, "is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.error(key, f"is compressed with zip method {info.compress_type}; .npz members are stored "
                                  "or deflated")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise self.error(key, f"declares {info.file_size:,} bytes but stores {info.compress_size:,}")
        if info.file_size > DEFLATE_RATIO * info.compress_size:
            raise self.error(key, f"declares {info.file_size:,} bytes, more than its {info.compress_size:,} "
                                  "deflated bytes can hold")
        if info.header_offset + LOCAL_HEADER + info.compress_size > end:
            raise self.error(key, "overlaps the next member or runs past the end of the file")

    def _read_header(self, key: str, info: zipfile.ZipInfo) -> Member:
        """The member's .npy header, checked: numbers only, and exactly the data it declares."""
        with self._reading(key), self._zip.open(info) as stream:
            prefix = stream.read(min(info.file_size, HEADER_READ))
            head = io.BytesIO(prefix)
            version = np.lib.format.read_magic(head)
            if version not in ((1, 0), (2, 0)):
                raise self.error(key, f".npy format version {version} is not read (1.0 and 2.0 are)")
            length_format = "<H" if version == (1, 0) else "<I"
            (length,) = struct.unpack(length_format, head.read(struct.calcsize(length_format)))
            offset = head.tell() + length
            shape, fortran_order, dtype = _parse_header(prefix[:offset])
        if dtype.hasobject:
            raise self.error(key, "holds Python objects (pickled data), which are never loaded")
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise self.error(key, f"holds {dtype} data, not numbers")
        if any(d < 0 for d in shape):
            raise self.error(key, f"declares the shape {shape}")
        whole = info.compress_type == zipfile.ZIP_STORED and len(prefix) == info.file_size  # no more than the file
        member = Member(info, shape, dtype, fortran_order, offset, prefix if whole else None)
        if member.offset + member.nbytes != info.file_size:
            raise self.error(key, f"its header declares {dtype} {shape} ({member.nbytes:,} bytes) but the member "
                                  f"holds {info.file_size - member.offset:,} bytes of data")
        return member

    @contextlib.contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        """Errors of reading ``key`` as WeightsFileError naming the file and the member."""
        try:
            yield
        except WeightsFileError:
            raise
        except READ_ERRORS as exc:
            raise self.error(key, f"cannot be read ({type(exc).__name__}: {exc})") from None

    def read(self, key: str) -> np.ndarray:
        """Member ``key``'s array, streamed into one array of its declared size (the CRC checked)."""
        member = self.members[key]
        shape = member.shape[::-1] if member.fortran_order else member.shape
        if member.content is not None:
            array = np.frombuffer(member.content, member.dtype, member.size, member.offset).reshape(shape).copy()
            return array.T if member.fortran_order else array
        array = np.empty(shape, member.dtype)
        data = array.reshape(-1).view(np.uint8)
        with self._reading(key), self._zip.open(member.info) as stream:
            stream.read(member.offset)
            filled = 0
            while filled < data.size:  # reading the last byte checks the CRC
                chunk = stream.read(min(CHUNK, data.size - filled))
                if not chunk:
                    raise self.error(key, f"its data ends after {filled:,} of {data.size:,} bytes")
                data[filled : filled + len(chunk)] = np.frombuffer(chunk, np.uint8)
                filled += len(chunk)
        return array.T if member.fortran_order else array

    def copy(self, key: str, out: zipfile.ZipFile) -> None:
        """Copy member ``key`` into ``out`` as it is, compression included, in bounded memory."""
        info = self.members[key].info
        copied = zipfile.ZipInfo(info.filename, info.date_time)
        copied.compress_type = info.compress_type
        with self._reading(key), self._zip.open(info) as source, out.open(copied, "w", force_zip64=True) as target:
            shutil.copyfileobj(source, target, CHUNK)


@functools.lru_cache(maxsize=256)
def _parse_header(header: bytes) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) of a whole .npy header, parsed by numpy (cached: layers repeat shapes)."""
    head = io.BytesIO(header)
    version = np.lib.format.read_magic(head)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read_header(head, max_header_size=HEADER_LIMIT)


@contextlib.contextmanager
def open_npz(path: Any) -> Iterator[Archive]:
    """The checked archive at ``path``; WeightsFileError for anything unreadable, inconsistent or not numeric."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise WeightsFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise WeightsFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        file_size = os.fstat(handle.fileno()).st_size
        try:
            archive = zipfile.ZipFile(handle)
        except READ_ERRORS as exc:
            if _is_hdf5(handle, file_size):
                raise WeightsFileError(
                    f"{path} is an HDF5 file, not an .npz archive (tensornet's weights files). If the original "
                    "library's save_weights wrote it, build the same network and read it with "
                    f"tn_core.h5.load_seed_weights(system, {str(path)!r}), then save it with "
                    "system.save_weights('<name>.npz'); reading HDF5 needs h5py: pip install 'tn-core[h5]'"
                ) from None
            handle.seek(0)
            what = "a single .npy array" if handle.read(6) == b"\x93NUMPY" else f"{type(exc).__name__}: {exc}"
            raise WeightsFileError(f"{path}: not an .npz archive ({what})") from None
        with archive:
            yield Archive(path, archive, file_size)


def _is_hdf5(handle: Any, file_size: int) -> bool:
    """Whether the file holds HDF5's signature where the format puts it: at byte 0, 512, 1024, 2048, ..."""
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= file_size:
        handle.seek(offset)
        if handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            return True
        offset = 2 * offset or 512
    return False


def stored_problem(member: Member, shape: tuple[int, ...]) -> str | None:
    """Why a stored array cannot fill a parameter of ``shape``, from its header alone, or None.

    Any float or integer dtype is taken (cast on loading, as PyTorch's ``load_state_dict`` and Keras's
    ``set_weights`` do); its values are checked by ``convert_problem`` once read. Weights files and model
    files both check their parameters here.
    """
    if member.shape != shape:
        return f"the network has shape {shape}, the file {member.shape}"
    if member.dtype.kind not in "fiu":
        return f"stored as {member.dtype}, expected numbers"
    return None


def convert_problem(value: np.ndarray, dtype: np.dtype) -> str | None:
    """Why the numbers ``value`` cannot become a ``dtype`` parameter (NaN, infinity, out of range), or None."""
    if value.dtype.kind != "f":
        return None
    if not np.isfinite(value).all():
        return "holds NaN or infinite values"
    limit = np.finfo(dtype).max
    if value.size and value.dtype.itemsize > dtype.itemsize and (value.max() > limit or value.min() < -limit):
        return f"holds values beyond {dtype}'s range (+-{limit:.4g})"
    return None


# -- writing --------------------------------------------------------------------------


def write_npz_atomic(path: Any, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (any shape, 0-d included) to ``path`` atomically, under the file's lock."""
    target = save_target(path)
    with locked(target):
        replace_file(target, lambda out: write_arrays(out, arrays))


def save_target(path: Any) -> Path:
    """The file a save to ``path`` replaces: through symlinks, to their target. ConfigError where that is a
    folder or in a folder that does not exist."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise ConfigError(f"cannot save to {str(path)!r}: it is a folder; name a file in it")
    if not target.parent.is_dir():
        raise ConfigError(f"cannot save to {str(path)!r}: the folder {str(target.parent)!r} does not exist")
    return target


@contextlib.contextmanager
def locked(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` for the block: a flock on ``.<name>.lock`` beside it.

    The holder removes the lock file as it leaves; a process that locked a
    file since removed (its path now names another file, or none) locks
    again, so that no two hold the lock and no lock file stays behind.
    """
    if fcntl is None:
        raise WeightsFileError(f"{target}: saving needs POSIX file locks (fcntl), which this platform lacks")
    lock = target.with_name(f".{target.name}.lock")
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(descriptor), os.stat(lock)):
                break
        except FileNotFoundError:  # removed by the holder we waited for
            pass
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(descriptor)  # releases the lock


def write_arrays(out: zipfile.ZipFile, arrays: dict[str, np.ndarray]) -> None:
    """Add ``arrays`` to ``out`` as .npy members, exactly as np.savez does (every shape kept)."""
    for key, array in arrays.items():
        with out.open(f"{key}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def replace_file(target: Path, write: Callable[[zipfile.ZipFile], None]) -> None:
    """Write an archive with ``write`` to a temporary file beside ``target`` and rename it over ``target``.

    The caller holds ``target``'s lock. The file is fsynced before the
    rename and the folder after it; the new file keeps the old one's
    permissions (a new one gets the umask's); a failed save leaves no
    temporary file, and those of killed saves are removed first.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.tmp")
    for entry in os.scandir(target.parent):
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
    descriptor, temporary = _create_temporary(target)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            with zipfile.ZipFile(handle, "w") as out:
                write(out)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _create_temporary(target: Path) -> tuple[int, Path]:
    """A new ``.<name>.<8 hex digits>.tmp`` beside ``target``, with target's permissions or the umask's."""
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # another save's name: draw again
            continue
        break
    with contextlib.suppress(FileNotFoundError):
        os.fchmod(descriptor, stat.S_IMODE(os.stat(target).st_mode))
    return descriptor, temporary


# -- checkpoints ----------------------------------------------------------------------


def check_checkpoint_name(checkpoint: str) -> None:
    """ConfigError unless ``checkpoint`` is one name that a zip member name keeps as it is."""
    if not isinstance(checkpoint, str) or not checkpoint or "/" in checkpoint or _member_name_problem(checkpoint):
        raise ConfigError(f"checkpoint must be a non-empty name without '/', '\\' or NUL, got {checkpoint!r}")


#: the longest member name a zip archive holds (a 16-bit field), in UTF-8 bytes
ZIP_NAME_BYTES = 0xFFFF


def _member_name_problem(name: str) -> str | None:
    """Why ``name`` would not come back from a zip member name as written, or None."""
    if "\x00" in name:
        return "zipfile cuts a member name at NUL"
    if "\\" in name:
        return "zipfile reads '\\' in a member name as '/' on Windows"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "a member name is UTF-8, which has no unpaired surrogates"
    return None


def _keyed_arrays(system: System) -> dict[str, np.ndarray]:
    """What a weights file holds for the System, by ``layer/name``; ConfigError for a parameter name (a plugin's
    build chose it; the System checks layer names) that a zip member name would not keep."""
    arrays: dict[str, np.ndarray] = {}
    for layer, name, array in stored_arrays(system):
        problem = _member_name_problem(f"{layer}/{name}")
        if problem:
            raise ConfigError(f"parameter {name!r} of layer {layer!r} cannot be named in a weights file: {problem}")
        arrays[f"{layer}/{name}"] = array
    return arrays


def checkpoints(path: Any) -> list[str]:
    """Names of the checkpoints stored in a weights file."""
    with open_npz(path) as archive:
        return archive.checkpoints()


def stored_arrays(system: System) -> list[tuple[str, str, np.ndarray]]:
    """(layer, name, array) of everything a weights file holds: parameters, then buffers."""
    return [*system.parameters(), *system.buffers()]


def save_weights(system: System, path: Any, checkpoint: str = "default") -> None:
    """Store the System's parameters as ``checkpoint``, keeping the file's other checkpoints.

    The file is locked from reading the old checkpoints to renaming the new
    file into place, so concurrent saves to one file lose none. Writes nothing on the processes of
    a data-parallel run that do not write output.
    """
    check_weights_target(path, checkpoint)
    if not writes_output(system):
        return
    arrays = {f"{checkpoint}/{key}": array for key, array in _keyed_arrays(system).items()}
    for key in arrays:
        size = len(f"{key}.npy".encode())
        if size > ZIP_NAME_BYTES:
            raise ConfigError(f"save_weights: the member name of {key[:60]!r}... is {size:,} bytes in UTF-8, more "
                              f"than a zip archive keeps ({ZIP_NAME_BYTES:,}); shorten the layer name or checkpoint")
    target = save_target(path)

    def write(out: zipfile.ZipFile) -> None:
        if target.exists() and target.stat().st_size:  # an empty file (a fresh temporary one) holds nothing to keep
            with open_npz(target) as old:
                if "model.json" in old.members:  # a checkpoint in it would make tn.load refuse the file
                    raise ConfigError(f"save_weights({str(path)!r}): the file is a model file (tn.save); write the "
                                      "weights to a file of their own, or save the model again with tn.save")
                for key in old.members:
                    if not key.startswith(checkpoint + "/"):
                        old.copy(key, out)
        write_arrays(out, arrays)

    with locked(target):
        replace_file(target, write)


def check_weights_target(path: Any, checkpoint: str) -> None:
    """ConfigError unless save_weights can write ``checkpoint`` to ``path``: a checkpoint name a zip member
    keeps, and no HDF5 name (the original library's .h5), since what it writes is an .npz archive."""
    check_checkpoint_name(checkpoint)
    name = Path(path)
    if name.suffix.lower() in HDF5_SUFFIXES:
        raise ConfigError(
            f"save_weights({str(path)!r}): tensornet writes weights as an .npz archive, not HDF5 (the original "
            f"library's format), and the name {name.name!r} would mislead h5py, Keras and you: name it "
            f"{str(name.with_suffix('.npz'))!r}"
        )


def load_weights(system: System, path: Any, checkpoint: str = "default") -> None:
    """Copy ``checkpoint`` into the System's parameters after checking all of it.

    Names, shapes and dtypes are checked from the headers before any data is
    read; values (finite, in range of the System's dtype) before any is copied.
    A System without parameters or buffers takes the empty checkpoint it saves
    (a zip archive keeps no trace of it).
    """
    check_checkpoint_name(checkpoint)
    expected = _keyed_arrays(system)
    prefix = checkpoint + "/"
    with open_npz(path) as archive:
        stored = {key[len(prefix):]: m for key, m in archive.members.items() if key.startswith(prefix)}
        if not stored and expected:
            hint = "; it is a model file: load it with tn.load" if "model.json" in archive.members else ""
            raise WeightsFileError(f"{path} has no checkpoint {checkpoint!r} (it has {archive.checkpoints()}){hint}")
        problems = [f"missing {key} {array.shape}" for key, array in expected.items() if key not in stored]
        problems += [f"unexpected {key} {stored[key].shape}" for key in stored if key not in expected]
        problems += [f"{key}: {problem}" for key, array in expected.items()
                     if key in stored and (problem := stored_problem(stored[key], array.shape))]
        _refuse(path, checkpoint, problems)
        values = {key: archive.read(prefix + key) for key in expected}
    problems = [f"{key}: {problem}" for key, value in values.items()
                if (problem := convert_problem(value, expected[key].dtype))]
    _refuse(path, checkpoint, problems)
    for key, array in expected.items():
        array[...] = values[key]


def _refuse(path: Any, checkpoint: str, problems: list[str]) -> None:
    if problems:
        shown = "; ".join(problems[:6]) + ("; ..." if len(problems) > 6 else "")
        raise WeightsFileError(
            f"{path} checkpoint {checkpoint!r} does not match this network ({len(problems)} problems): {shown}"
        )
