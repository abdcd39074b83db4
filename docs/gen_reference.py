"""Generate docs/reference.md, the reference of everything the first-party plugins register.

    python docs/gen_reference.py          # rewrite docs/reference.md
    python docs/gen_reference.py --check  # exit 1 if docs/reference.md is out of date

Nothing here lists a layer by hand: the entries are what the plugin registry holds
(``get_plugins().registry()``, first-party distributions only), the metrics are the metric
table's, every name shown is one that resolves, and a layer's layout (slots, parameters,
buffers) comes from building the examples its plugin gives the conformance suite
(``tn_structure_examples``). tests/docs/test_reference.py runs the check.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

import tn_core as tn
from tn_core.activation import resolve_activation
from tn_core.errors import TensornetError
from tn_core.losses import resolve_loss
from tn_core.optimizers import resolve_optimizer
from tn_core.plugins import former_names, get_plugins
from tn_core.testing import structure_examples

TARGET = Path(__file__).with_name("reference.md")
#: the project's own distributions, in the order of the reference; entries of any other are left out
FIRST_PARTY = ("tn-core", "tn-layers-dense", "tn-layers-conv", "tn-layers-recurrent", "tn-distributed", "tn-accel")
#: section titles, in the order of the sections (a kind not listed here comes after, in name order)
KIND_TITLES = {
    "structure": "Layers", "activation": "Activations", "optimizer": "Optimizers", "loss": "Losses",
    "metric": "Metrics", "initializer": "Initializers", "callback": "Callbacks",
}
#: where the metric table (``METRICS``) lives: the first of these modules that exists and holds one
METRIC_HOMES = ("tn_core.metrics", "tn_core.training")
#: how a name string given for each kind is turned into an object (registry lookup otherwise)
RESOLVERS: dict[str, Callable[[str], Any]] = {
    "activation": resolve_activation, "optimizer": resolve_optimizer, "loss": resolve_loss,
}
INTRO = """\
Every layer, activation, optimizer, loss, metric, initializer and fit callback that the
first-party distributions provide, by distribution and kind. Each entry gives the names it is reachable by
(`tn.<Name>`, and the strings accepted wherever a name is, as in `activation="tanh"`,
`optimizer="adam"`, `loss="ce"`), its fields (constructor arguments) with their types and
defaults, and its docstring: the formula and the shapes.

Shapes are per sample: arrays carry a leading batch axis, left out here. A layer's *layout* is
found by building the examples its plugin gives the conformance suite (`tn_structure_examples`):
input shapes, output shapes (one per output slot, `inst[k]` is slot k) and the name and shape of
each parameter. Parameters marked *buffer* are state (running statistics): saved with the weights,
never trained. Weight files and model files store parameters under these names and shapes."""
OTHER_NAMES = """\
An *alias* is a registered class that adds nothing to the one it names (`kit.alias`): an object keeps the
name it was made by (its repr, its errors, model files). A *former name* is what a renamed class was called:
`tn.<former name>` still gives the class, with a DeprecationWarning, and model files naming it still load."""


@attrs.define
class Item:
    """One documented object: a registered class or initializer, or a metric function."""

    obj: Any
    kind: str
    distribution: str
    names: dict[str, str]  # name string -> the fields it sets unlike the defaults ("" if none), registered first
    heading: str

    @property
    def summary(self) -> str:
        return docstring(self.obj).partition("\n")[0]


def docstring(obj: Any) -> str:
    """The object's own docstring (a class's is not inherited), cleaned; "" when it has none."""
    own = obj.__doc__ if isinstance(obj, type) else inspect.getdoc(obj)
    return inspect.cleandoc(own) if own else ""


def alias_target(obj: Any) -> Any:
    """The class ``obj`` is another name for (made by ``kit.alias``), or None."""
    return getattr(obj, "__dict__", {}).get("alias_of")


def snake_case(name: str) -> str:
    """``SoftmaxCE`` -> ``softmax_ce``: a spelling some kinds accept beside the lower-case name."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def resolved(kind: str, name: str) -> tuple[Any, str] | None:
    """What the name string ``name`` gives where a ``kind`` is asked for: (the class or function, the fields
    that name sets unlike the class's defaults, e.g. ``mean=True``), or None if it gives nothing."""
    resolve = RESOLVERS.get(kind) or (lambda n: get_plugins().lookup(kind, n))
    try:
        found = resolve(name)
    except TensornetError:
        return None
    if isinstance(found, type) or not attrs.has(type(found)):
        return found, ""
    default = type(found)()
    changed = [f"{f.alias or f.name}={getattr(found, f.name)!r}" for f in fields_of(type(found))
               if getattr(found, f.name) != getattr(default, f.name)]
    return type(found), ", ".join(changed)


def table_keys(modules: set[str]) -> set[str]:
    """The string keys of the public module-level dicts of ``modules``: where alias tables (``LOSS_NAMES``) live."""
    names: set[str] = set()
    for module in sorted(modules):
        for attribute, value in vars(sys.modules[module]).items():
            if not attribute.startswith("_") and isinstance(value, dict):
                names.update(key for key in value if isinstance(key, str))
    return names


def metric_table() -> dict[str, Any]:
    """{name: metric}: the ``METRICS`` of the first of METRIC_HOMES that exists and holds one."""
    for home in METRIC_HOMES:
        table = importlib.util.find_spec(home) and getattr(importlib.import_module(home), "METRICS", None)
        if table:
            return dict(table)
    return {}


def tn_attribute(name: str) -> Any:
    """``tn.<name>``, or None where that is unknown or ambiguous."""
    try:
        return getattr(tn, name)
    except (AttributeError, TensornetError):
        return None


def registered() -> list[tuple[str, Any, str, list[str]]]:
    """(kind, object, distribution, registered names) of every first-party registration, ambiguous names included."""
    plugins = get_plugins()
    found: dict[tuple[str, int], tuple[str, Any, str, list[str]]] = {}
    for kind, table in plugins.registry().items():
        pairs = [(name, entry) for name, entry in table.items()]
        pairs += [(name, entry) for name, entries in plugins.ambiguous()[kind].items() for entry in entries]
        for name, entry in pairs:
            if entry.distribution in FIRST_PARTY:
                names = found.setdefault((kind, id(entry.obj)), (kind, entry.obj, entry.distribution, []))[3]
                names.append(name)
    return list(found.values())


def items() -> list[Item]:
    """Everything the reference documents, in its order: distribution, kind, then name."""
    entries = registered()
    keys = table_keys({obj.__module__ for _, obj, _, _ in entries})
    gives: dict[str, dict[str, tuple[Any, str]]] = {}  # kind -> {candidate name: what it resolves to}
    for kind in {kind for kind, *_ in entries}:
        candidates = keys | {n for k, obj, _, names in entries if k == kind for n in (*names, snake_case(obj.__name__))}
        gives[kind] = {name: found for name in sorted(candidates) if (found := resolved(kind, name)) is not None}
    out = []
    for kind, obj, distribution, registered_names in entries:
        names = sorted((n for n, (found, _) in gives[kind].items() if found is obj),
                       key=lambda n: (n not in registered_names, n))
        out.append(Item(obj, kind, distribution, {n: gives[kind][n][1] for n in names}, obj.__name__))
    if not any(kind == "metric" for kind, *_ in entries):
        by_metric: dict[int, list[str]] = {}
        table = metric_table()
        for name, metric in table.items():
            by_metric.setdefault(id(metric), []).append(name)
        for names in by_metric.values():
            metric = table[names[0]]
            names.sort(key=lambda n: (n != getattr(metric, "__name__", None), n))
            out.append(Item(metric, "metric", "tn-core", dict.fromkeys(names, ""), names[0]))
    return sorted(out, key=lambda i: (FIRST_PARTY.index(i.distribution), kind_order(i.kind), i.heading.lower()))


def kind_order(kind: str) -> tuple[int, str]:
    order = list(KIND_TITLES)
    return (order.index(kind), "") if kind in order else (len(order), kind)


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, f"{kind.title()}s")


# -- rendering --------------------------------------------------------------------


def plain(text: str) -> str:
    """One line without memory addresses (deterministic across runs)."""
    return re.sub(r" at 0x[0-9A-Fa-f]+", "", " ".join(text.split()))


def cell(text: str) -> str:
    """Text for a markdown table cell."""
    return plain(text).replace("|", "\\|")


def shapes(values: list[tuple[int, ...]]) -> str:
    return ", ".join(str(tuple(v)) for v in values) or "none"


def type_text(annotation: Any) -> str:
    """A field's annotation as written (``kit.Activation`` shown as ``Activation``)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    return re.sub(r"\bkit\.", "", text)


def default_text(field: attrs.Attribute) -> str:
    default = field.default
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return "computed" if default.takes_self else f"`{plain(repr(default.factory()))}`"
    return f"`{plain(repr(default))}`"


def fields_of(obj: Any) -> list[attrs.Attribute]:
    """The attrs fields a user passes to the constructor."""
    return [f for f in attrs.fields(obj) if f.init] if isinstance(obj, type) and attrs.has(obj) else []


def call_text(item: Item) -> str:
    """``Dense(shape, activation='linear', init=None)``, or a function's signature."""
    if not isinstance(item.obj, type):
        try:
            parameters = inspect.signature(item.obj).parameters.values()
        except (TypeError, ValueError):  # a callable without a signature
            return item.heading
        return plain(f"{item.heading}({', '.join(str(p.replace(annotation=p.empty)) for p in parameters)})")
    args, star = [], False
    for field in fields_of(item.obj):
        if field.kw_only and not star:
            args.append("*")
            star = True
        name = field.alias or field.name
        args.append(name if field.default is attrs.NOTHING else f"{name}={default_text(field).strip('`')}")
    return plain(f"{item.heading}({', '.join(args)})")


def attribute_and_strings(item: Item) -> list[str]:
    """``tn.<Name>`` where that gives the object, then the name strings (not the class name: ``tn.<Name>`` shows
    it, nor a former name: the table of other names shows it)."""
    own = getattr(item.obj, "__name__", None)
    names = [f"`tn.{own}`"] if own and tn_attribute(own) is item.obj else []
    return names + [f'`"{name}"`' + (f" ({cell(sets)})" if sets else "") for name, sets in item.names.items()
                    if (name != own or name.islower()) and name not in former_names(item.obj)]


def names_line(item: Item, aliases: list[Item]) -> str:
    """The names of ``item``, then those of its aliases, and where it is defined."""
    names = ", ".join(attribute_and_strings(item))
    also = [name for alias in aliases if alias_target(alias.obj) is item.obj for name in attribute_and_strings(alias)]
    aliased = f"; aliases {', '.join(also)}" if also else ""
    return f"Names: {names}{aliased}. Defined in `{item.obj.__module__}`."


def other_names(everything: list[Item], links: dict[int, str]) -> list[str]:
    """The table of aliases and former names, each linked to the entry of the object it names."""
    rows = []
    noun = {"structure": "layer"}
    for item in everything:
        target = alias_target(item.obj)
        if target is not None:
            same = next(i for i in everything if i.obj is target)
            rows.append(f"| {', '.join(attribute_and_strings(item))} | alias of [{same.heading}](#{links[id(same)]}) "
                        f"| {noun.get(item.kind, item.kind)} | {item.distribution} |")
        rows += [f"| `tn.{former}` | former name of [{item.heading}](#{links[id(item)]}) (warns) "
                 f"| {noun.get(item.kind, item.kind)} | {item.distribution} |" for former in former_names(item.obj)]
    return [OTHER_NAMES, "", "| name | what it is | kind | distribution |", "| --- | --- | --- | --- |", *rows]


def arity_text(arity: tuple[int, int | None]) -> str:
    low, high = arity
    if high == 0:
        return "none (a source of the network)"
    if high is None:
        return f"{low} or more"
    if high - low == 1:
        return f"{low} or {high}"
    return str(low) if low == high else f"{low} to {high}"


def layout_rows(cls: type) -> Iterator[str]:
    """One table row per example of ``cls``: the structure, input and output shapes, parameters."""
    for structure, input_shapes, _inputs in structure_examples():
        if type(structure) is not cls:
            continue
        outputs, params = structure.build_checked(list(input_shapes), np.random.default_rng(0))
        listed = [f"`{name}` {tuple(array.shape)}" + (" *buffer*" if name in cls.buffers else "")
                  for name, array in params.items()]
        yield (f"| `{cell(repr(structure))}` | {shapes(list(input_shapes))} | {shapes(outputs)} | "
               f"{cell(', '.join(listed)) or 'none'} |")


def facts(item: Item, everything: list[Item]) -> list[str]:
    """Kind-specific lines: a layer's inputs, an activation's default initializer, fusions, optimizer state."""
    obj = item.obj
    partners = {"activation": "loss", "loss": "activation"}.get(item.kind)
    lines = []
    if item.kind == "structure":
        lines.append(f"Inputs: {arity_text(obj.arity)}.")
    if item.kind == "activation":
        lines.append(f"Default weight initializer of a layer using it: `{obj.default_init}`.")
    if partners and getattr(obj, "fusion", None):
        fused = sorted(i.heading for i in everything if i.kind == partners and getattr(i.obj, "fusion", None)
                       == obj.fusion)
        lines.append(f"Fuses (`{obj.fusion}`) with the {partners} {', '.join(fused) or '(none registered)'}: "
                     "together they are computed from the pre-activation z, exact where the activation saturates.")
    if getattr(obj, "reduces_last_axis", False):
        lines.append("Works along the last axis of each sample (refused on per-sample scalars).")
    if item.kind == "optimizer":
        probe = obj()
        probe.step([np.zeros(2)], [np.ones(2)])
        state = ", ".join(f"`{name}`" for name in sorted(probe.state_arrays)) or "none"
        lines.append(f"State per parameter (saved with checkpoints): {state}.")
    return lines


class Anchors:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, heading: str) -> str:
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = self.seen.get(slug, 0)
        self.seen[slug] = count + 1
        return slug if count == 0 else f"{slug}-{count}"


def render() -> str:
    """The whole of reference.md."""
    everything = items()
    aliases = [item for item in everything if alias_target(item.obj) is not None]
    groups: dict[str, dict[str, list[Item]]] = {}
    for item in everything:
        if item not in aliases:
            groups.setdefault(item.distribution, {}).setdefault(item.kind, []).append(item)
    anchors = Anchors()  # called on every heading in the page's order, as GitHub numbers repeats
    anchors("API reference")
    anchors("Contents")
    other_anchor = anchors("Other names")
    dist_anchor, kind_anchor, links = {}, {}, {}
    for dist, kinds in groups.items():
        dist_anchor[dist] = anchors(dist)
        for kind, group in kinds.items():
            kind_anchor[dist, kind] = anchors(f"{kind_title(kind)} ({dist})")
            links.update({id(item): anchors(item.heading) for item in group})
    lines = [
        "# API reference", "",
        "<!-- Generated by docs/gen_reference.py from the plugin registry; do not edit by hand. -->", "",
        INTRO, "",
        "Regenerate with `python docs/gen_reference.py`; `tests/docs/test_reference.py` checks it is current.",
        "", "## Contents", "", f"- [Other names](#{other_anchor}): aliases and former names",
    ]
    for dist, kinds in groups.items():
        lines.append(f"- [{dist}](#{dist_anchor[dist]})")
        for kind, group in kinds.items():
            entries = ", ".join(f"[{item.heading}](#{links[id(item)]})" for item in group)
            lines.append(f"  - [{kind_title(kind)}](#{kind_anchor[dist, kind]}): {entries}")
    lines += ["", "## Other names", "", *other_names(everything, links)]
    for dist, kinds in groups.items():
        lines += ["", f"## {dist}"]
        for kind, group in kinds.items():
            lines += ["", f"### {kind_title(kind)} ({dist})", "", "| name | summary |", "| --- | --- |"]
            lines += [f"| [{item.heading}](#{links[id(item)]}) | {cell(item.summary)} |" for item in group]
            for item in group:
                lines += ["", *entry(item, everything, aliases)]
    return "\n".join(lines) + "\n"


def entry(item: Item, everything: list[Item], aliases: list[Item]) -> list[str]:
    """The section of one item."""
    lines = [f"#### {item.heading}", "", names_line(item, aliases), "", f"`{call_text(item)}`", ""]
    text = docstring(item.obj) or "(no docstring)"
    fence = "`" * max(3, 1 + max(map(len, re.findall("`+", text)), default=0))  # longer than any run inside
    lines += [f"{fence}text", text, fence]
    fields = fields_of(item.obj)
    if fields:
        lines += ["", "| field | type | default |", "| --- | --- | --- |"]
        lines += [f"| `{f.alias or f.name}` | `{cell(type_text(f.type))}` | {cell(default_text(f))} |"
                  for f in fields]
    more = facts(item, everything)
    if more:
        lines += ["", *(f"- {line}" for line in more)]
    if item.kind == "structure":
        rows = list(layout_rows(item.obj))
        lines += ["", "Layout of the examples:", "", "| example | inputs | outputs | parameters |",
                  "| --- | --- | --- | --- |", *rows] if rows else ["", "No example registered."]
    return lines


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is out of date: run python docs/gen_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
