"""``System.summary()`` and ``tn summary``: a table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import Any


def _shapes(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join(str(shape) for shape in shapes) if len(shapes) <= 3 else f"{len(shapes)} x {shapes[0]}"


def _kind(structure: Any) -> str:
    activation = getattr(structure, "activation", None)
    name = type(structure).__name__
    return f"{name} {type(activation).__name__.lower()}" if activation is not None else name


def _count(inst: Any) -> str:
    """Trainable parameters of one layer, and its buffers (non-trainable state) beside them."""
    buffers = sum(array.size for key, array in inst.params.items() if key in inst.structure.buffers)
    trainable = sum(array.size for array in inst.params.values()) - buffers
    return f"{trainable:,}" + (f" + {buffers:,} non-trainable" if buffers else "")


def summary_table(system: Any) -> str:
    """One row per layer in execution order; a layer sharing another's parameters counts 0 and names it.

    Buffers (running statistics) are counted apart from the trainable parameters.
    """
    owners = {id(params): owner for owner, params in system.groups}
    rows = [("layer", "type", "output shape", "parameters")]
    for inst in system.order:
        owner = owners.get(id(inst.params)) if inst.params else None
        shown = _count(inst) if owner is None or owner is inst else f"shared with {system.names[owner]}"
        rows.append((system.names[inst], _kind(inst.structure), _shapes(inst.output_shapes), shown))
    total = sum(array.size for _, _, array in system.parameters())
    frozen = sum(array.size for _, _, array in system.buffers())
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    lines = ["  ".join(cell.ljust(w) if k < 3 else cell.rjust(w) for k, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    rule = "-" * len(lines[0])
    inputs = ", ".join(system.names[inst] for inst in system.inputs)
    outputs = ", ".join(f"{system.names[ref.instance]}[{ref.slot}]" for ref in system.outputs)
    return "\n".join([lines[0], rule, *lines[1:], rule,
                      f"parameters: {total:,} ({system.dtype.name}, shared parameters counted once)"
                      + (f"; non-trainable: {frozen:,} (buffers)" if frozen else ""),
                      f"inputs: {inputs}; outputs: {outputs}"])
