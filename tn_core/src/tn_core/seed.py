"""The seed's keywords (BenLand100/tensornetwork), kept where their meaning carries over.

A keyword whose meaning is today's under another spelling still works and
warns (DeprecationWarning naming today's spelling; the old ones go in
tn-core 0.3); one whose meaning did not carry over is refused with an error
naming the replacement. docs/from-the-seed.md lists them all.

Wiring: ``layer(x, input_index=k)`` read output slot k of ``x``, which is
``layer(x[k])``; multi-input layers took ``input_indexes=[...]`` beside a
list of parents; the recurrent layers took their initial carries as
``state_inst=`` (and ``mem_inst=`` for the LSTM's memory), with
``state_index=`` / ``mem_index=`` picking their slots, which are today's
extra inputs ``layer(x, h0, c0)``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from tn_core.errors import ConfigError

if TYPE_CHECKING:
    from tn_core.structure import Structure

#: the seed's wiring keywords: slots of the parents, and the recurrent layers' initial carries
WIRING_KEYWORDS = ("input_index", "input_indexes", "state_inst", "state_index", "mem_inst", "mem_index")
#: seed keyword -> the carry it filled (Structure.carry_names) and the keyword picking its slot
CARRIES = {"state_inst": ("state", "state_index"), "mem_inst": ("memory", "mem_index")}


def warn_seed_spelling(old: str, new: str, stacklevel: int = 2) -> None:
    """DeprecationWarning: ``old`` is the seed's spelling of ``new``.

    ``stacklevel`` counts from the caller of this function (2: its caller's caller).
    """
    warnings.warn(f"{old} is the seed's spelling; write {new} (the seed's keywords go in tn-core 0.3)",
                  DeprecationWarning, stacklevel=stacklevel + 1)


def take_seed_keyword(owner: str, old: str, new: str, value: Any, kwargs: dict[str, Any], new_given: bool,
                      before: str = "...") -> None:
    """Put the seed's keyword ``old=value`` into a constructor's ``kwargs`` as ``new``, with a DeprecationWarning.

    ConfigError when ``new`` is given too (``new_given``: by keyword or by position). ``before`` is what
    the warning shows before the keyword in ``owner(...)``.
    """
    if new_given:
        raise ConfigError(f"{owner}: {old}= is the seed's spelling of {new}=; give one of them")
    warn_seed_spelling(f"{owner}({before}, {old}={value!r})", f"{owner}({before}, {new}={value!r})", stacklevel=3)
    kwargs[new] = value


def _slot(parent: Any, index: Any, keyword: str, layer: str) -> Any:
    """``parent[index]`` for an Instance; ConfigError for an OutputRef (it names a slot already)."""
    from tn_core.structure import Instance

    if not isinstance(parent, Instance):
        raise ConfigError(f"{layer}: {keyword}={index!r} picks an output slot of an Instance, got "
                          f"{type(parent).__name__} {parent!r} (x[k] already names slot k)")
    return parent[index]


def wire_seed_keywords(structure: Structure, parents: tuple[Any, ...], keywords: dict[str, Any]) -> tuple[Any, ...]:
    """The parents that the seed's wiring ``keywords`` describe, in today's spelling (warned once per call).

    TypeError for a keyword that is neither today's nor the seed's; ConfigError
    for a seed keyword this layer never took (``state_inst=`` on a Dense).
    """
    layer = structure.type_name()
    unknown = [key for key in keywords if key not in WIRING_KEYWORDS]
    if unknown:
        raise TypeError(f"{layer}(...)(...) got an unexpected keyword argument {unknown[0]!r}; it takes the parent "
                        "instances (or instance[slot]) and name=, rng=")
    from tn_core.structure import OutputRef

    if len(parents) == 1 and isinstance(parents[0], (list, tuple)) and not isinstance(parents[0], OutputRef):
        parents = tuple(parents[0])  # the seed's multi-input layers took one list
    old, new = [], []
    if "input_index" in keywords:
        if len(parents) != 1:
            raise ConfigError(f"{layer}: input_index= picks the slot of a single parent, got {len(parents)} parents "
                              "(the seed's multi-input layers took input_indexes=[...])")
        index = keywords["input_index"]
        parents = (_slot(parents[0], index, "input_index", layer),)
        old.append(f"x, input_index={index!r}")
        new.append(f"x[{index!r}]")
    if "input_indexes" in keywords:
        indexes = list(keywords["input_indexes"])
        if len(indexes) != len(parents):
            raise ConfigError(f"{layer}: input_indexes={indexes!r} gives {len(indexes)} slots for {len(parents)} "
                              "parents")
        parents = tuple(_slot(p, k, "input_indexes", layer) for p, k in zip(parents, indexes))
        names = [chr(ord("a") + i) for i in range(len(indexes))]
        old.append(f"[{', '.join(names)}], input_indexes={indexes!r}")
        new.append("[" + ", ".join(f"{name}[{k!r}]" for name, k in zip(names, indexes)) + "]")
    carries, carry_old, carry_new = _seed_carries(structure, keywords, layer)
    parents = (*parents, *carries)
    first = ["x"] if not old else []
    warn_seed_spelling(f"{layer}(...)({', '.join(first + old + carry_old)})",
                       f"{layer}(...)({', '.join(first + new + carry_new)})", stacklevel=3)
    return parents


def _seed_carries(structure: Structure, keywords: dict[str, Any], layer: str) -> tuple[list, list[str], list[str]]:
    """(extra inputs, old spelling, new spelling) of ``state_inst=`` / ``mem_inst=`` and their ``*_index=``."""
    given, old, new = {}, [], []
    for key, (carry, index_key) in CARRIES.items():
        if index_key in keywords and key not in keywords:
            raise ConfigError(f"{layer}: {index_key}= picks a slot of {key}=, which is not given")
        if key not in keywords:
            continue
        if carry not in structure.carry_names:
            takes = (f"its initial carries are {list(structure.carry_names)}" if structure.carry_names else
                     "it carries nothing from step to step (state_inst= and mem_inst= are for RNN, LSTM and GRU)")
            raise ConfigError(f"{layer}: {key}= gives the initial {carry}, and {takes}")
        label = "h0" if carry == "state" else "c0"
        if index_key in keywords:
            index = keywords[index_key]
            given[carry] = _slot(keywords[key], index, index_key, layer)
            old.append(f"{key}={label}, {index_key}={index!r}")
            new_spelling = f"{label}[{index!r}]"
        else:
            given[carry] = keywords[key]
            old.append(f"{key}={label}")
            new_spelling = label
        new.append(new_spelling)
    if "memory" in given and "state" not in given:  # the seed started such an LSTM from a zero state
        from tn_core.wiring import Constant

        given["state"] = Constant(np.zeros(given["memory"].shape))()
        new.insert(0, "tn.Constant(np.zeros(size))()")
    return [given[name] for name in structure.carry_names if name in given], old, new


def verbose_layers(system: Any, call: str, verbose: Any) -> None:
    """The seed's ``verbose=`` of ``System(...)`` and ``guess``, warned: True printed the layers, as
    ``print(system)`` does (so it still does)."""
    if verbose:
        warn_seed_spelling(f"{call}(..., verbose=True)", "print(system), which lists the layers in the order they run",
                           stacklevel=3)
        print(system)
    else:
        warn_seed_spelling(f"{call}(..., verbose=False)", f"{call}(...) (quiet is the default)", stacklevel=3)


#: the seed's Adam keywords of ``learn`` -> today's tn.Adam fields
ADAM_KEYWORDS = {"b1": "beta1", "b2": "beta2", "epsilon": "eps"}


def learn_options(keywords: dict[str, Any]) -> dict[str, Any]:
    """The optimizer fields that the seed's ``learn`` keywords set ({"beta1": 0.8} for ``b1=0.8``), warned.

    ``batch=False`` (the seed's default) is accepted; ``batch=True``, which
    returned the gradients for averaging by hand, is refused with its
    replacement; any other keyword is a TypeError.
    """
    unknown = [key for key in keywords if key not in (*ADAM_KEYWORDS, "batch")]
    if unknown:
        raise TypeError(f"learn() got an unexpected keyword argument {unknown[0]!r}")
    if "batch" in keywords:
        if keywords["batch"]:
            raise ConfigError(
                "learn(..., batch=True) is the seed's: it returned the gradients of one sample, to be averaged by "
                "hand; today's learn averages over the batch axis itself, so pass a batch (arrays (N, ...)) to guess "
                "and learn, or get gradients without an update from system.gradients(inputs, true_outputs, loss=...)"
            )
        warn_seed_spelling("learn(..., batch=False)", "learn(...) (one update per call is what learn does)",
                           stacklevel=3)
    fields = {ADAM_KEYWORDS[key]: value for key, value in keywords.items() if key in ADAM_KEYWORDS}
    if fields:
        old = ", ".join(f"{key}={keywords[key]!r}" for key in ADAM_KEYWORDS if key in keywords)
        new = ", ".join(f"{field}={value!r}" for field, value in fields.items())
        warn_seed_spelling(f"learn(..., method='adam', {old})",
                           f"adam = tn.Adam(lr=..., {new}) once (its moments live in it), then "
                           "learn(..., method=adam)", stacklevel=3)
    return fields


def set_adam_fields(optimizer: Any, fields: dict[str, Any]) -> None:
    """Set the fields ``learn_options`` found on the (Adam) optimizer, all checked before any is set."""
    from tn_core.optimizers import Adam

    if not isinstance(optimizer, Adam):
        seed = ", ".join(key for key, field in ADAM_KEYWORDS.items() if field in fields)
        raise ConfigError(f"learn: {seed} set Adam's {', '.join(fields)} (the seed's method='adam'), but the "
                          f"method is {type(optimizer).__name__}")
    type(optimizer)(**fields)  # validates every value (ConfigError naming the field) before any is set
    for field, value in fields.items():
        setattr(optimizer, field, value)
