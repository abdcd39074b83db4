"""Hostile weights and model files, written byte by byte (small and quick to make), and a measured loader.

``write_zip`` writes a zip archive from raw members, so a test can declare
sizes, flags and compression methods that no honest writer produces, and a
deflated stream of zeros that expands a thousand-fold costs a test almost
nothing to make.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tn_core as tn
from tests.core.layers import Affine, Shift

REPO = Path(__file__).resolve().parents[2]
MB = 1 << 20
STORED, DEFLATED, LZMA = 0, 8, 14


@dataclass
class Raw:
    """A zip member as its bytes lie in the archive, with the sizes and checksum its entries declare."""

    name: str
    data: bytes
    size: int
    crc: int
    method: int = STORED
    flags: int = 0


def stored(name: str, payload: bytes) -> Raw:
    return Raw(name, payload, len(payload), zlib.crc32(payload))


def deflated(name: str, payload: bytes) -> Raw:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Raw(name, compressor.compress(payload) + compressor.flush(), len(payload), zlib.crc32(payload), DEFLATED)


def npy(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A .npy header declaring ``shape`` and ``descr``, whatever data follows it."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def zeros_bomb(name: str, header: bytes, zero_bytes: int) -> Raw:
    """A deflated member holding ``header`` and then ``zero_bytes`` zero bytes, in about zero_bytes / 1000 bytes.

    Each MiB of zeros is compressed once after a full flush, so its
    compressed segment can be repeated: the stream is made without
    compressing the zeros.
    """
    assert zero_bytes % MB == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(bytes(MB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    for _ in range(zero_bytes // MB):
        crc = zlib.crc32(bytes(MB), crc)
    end = b"\x03\x00"  # a final, empty block with fixed codes
    return Raw(name, head + segment * (zero_bytes // MB) + end, len(header) + zero_bytes, crc, DEFLATED)


def write_zip(path: Path, members: list[Raw], overlap: bool = False) -> None:
    """A zip archive of ``members``, each entry declaring exactly what the member says.

    With ``overlap``, every entry of the directory points at the first member (the overlapping zip bomb).
    """
    with open(path, "wb") as out:
        central = b""
        for member in members:
            offset = 0 if overlap else out.tell()
            name = member.name.encode()
            fields = (member.flags, member.method, 0, 0, member.crc, len(member.data), member.size, len(name))
            if not overlap or member is members[0]:
                out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, *fields, 0) + name + member.data)
            central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, *fields, 0, 0, 0, 0, 0, offset) + name
        start = out.tell()
        out.write(central)
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), start, 0))


def members_of(path: Path) -> list[Raw]:
    """The members of an archive written by tensornet, as stored raw members."""
    with np.load(path) as archive:
        return [stored(f"{key}.npy", npy(archive[key])) for key in archive.files]


def model_of(path: Path) -> dict:
    with np.load(path) as archive:
        return json.loads(archive["model.json"].tobytes())


def json_member(text: str | bytes) -> Raw:
    raw = text.encode() if isinstance(text, str) else text
    return stored("model.json.npy", npy(np.frombuffer(raw, dtype=np.uint8)))


def with_model(path: Path, model: dict | str, out: Path | None = None) -> Path:
    """``path``'s arrays with another model.json (a dict, or raw JSON text), written to ``out`` (default: path)."""
    text = model if isinstance(model, str) else json.dumps(model)
    kept = [m for m in members_of(path) if m.name != "model.json.npy"]
    write_zip(out or path, [*kept, json_member(text)])
    return out or path


def small_model(path: Path, dtype: type = np.float32) -> Path:
    """Input (11,) -> Affine 11, saved with tn.save."""
    x = tn.Input((11,))()
    tn.save(tn.System([x], [Affine(11)(x, rng=np.random.default_rng(0))], dtype=dtype), path)
    return path


def lying_architecture(path: Path, size: int = 11000) -> Path:
    """A small model whose model.json declares Input (size,) -> Affine size: the stored arrays stay (11, 11)."""
    small_model(path)
    model = model_of(path)
    for entry in model["instances"]:
        entry["structure"]["config"]["shape"] = {"__tuple__": [size]}
    return with_model(path, model)


def lying_input(path: Path, shape: tuple[int, ...] = (30000, 3000)) -> Path:
    """Input (3,) -> Shift, saved, whose model.json then declares the Input ``shape``: a shift that size."""
    x = tn.Input((3,))()
    tn.save(tn.System([x], [Shift()(x)]), path)
    model = model_of(path)
    model["instances"][0]["structure"]["config"]["shape"] = {"__tuple__": list(shape)}
    return with_model(path, model)


def chain_model(path: Path, layers: int) -> Path:
    """Input (4,) then ``layers`` Shift layers in a chain, each with its own parameters (written directly)."""
    small_model(path)
    template = model_of(path)
    shift = {"kind": "structure", "type": "Shift", "config": {}}
    instances = [template["instances"][0]]
    instances[0]["structure"]["config"]["shape"] = {"__tuple__": [4]}
    instances += [{"name": None, "structure": shift, "parents": [[k, 0]], "group": k} for k in range(layers)]
    provenance = tn.get_plugins().registry()["structure"]["Shift"]
    types = [row for row in template["types"] if row["type"] == "Input"]
    types.append({"kind": "structure", "type": "Shift", "plugin": provenance.plugin,
                  "distribution": provenance.distribution, "version": provenance.version})
    model = {**template, "instances": instances, "outputs": [[layers, 0]], "types": types,
             "names": ["input_1", *(f"shift_{k + 1}" for k in range(layers))]}
    arrays = [stored(f"params/{k}/shift.npy", npy(np.zeros(4, np.float32))) for k in range(layers)]
    write_zip(path, [*arrays, json_member(json.dumps(model))])
    return path


def measure(call: str, path: Path, timeout: float = 120) -> dict:
    """Run ``call`` (``load``, ``load_weights`` or ``summary``) on ``path`` in a fresh interpreter, tests/core's
    test plugin registered.

    Returns the peak of the memory the call allocated (``peak_mb``, traced by
    tracemalloc, which sees NumPy's arrays; ru_maxrss would count what the
    process inherited from a large parent), the seconds the call took under
    tracing, and the exception it raised (``error``: type and message, or None).
    """
    script = f"""
import json, time, tracemalloc
import tn_core as tn
from tests.core import layers
from tn_core.cli import main
tn.get_plugins().register(layers, layers.NAME)
path = {str(path)!r}
x = tn.Input((3, 2))()
net = tn.System([x], [layers.Affine(2)(layers.Affine(5)(x))])
tn.save(net, path + ".warm")
tn.load(path + ".warm")  # every import a load needs, before the measurement
tracemalloc.start()
start = time.perf_counter()
try:
    if {call!r} == "load":
        tn.load(path)
    elif {call!r} == "load_weights":
        net.load_weights(path)
    elif main(["summary", path]) != 0:
        raise SystemError("tn summary failed")
    error = None
except Exception as exc:
    error = f"{{type(exc).__name__}}: {{exc}}"
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps({{"peak_mb": peak, "seconds": seconds, "error": error}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if done.returncode != 0 or not done.stdout.strip():
        raise AssertionError(f"the measuring process failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
