"""Model files (tn.save / tn.load) and configurations (tn.to_config / tn.from_config)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tn_core as tn
from tn_core.plugins import get_plugins
from tn_core.testing import structure_examples

from .helpers import blobs, classifier, params


def examples() -> list[tuple]:
    """Every (structure, input shapes, example inputs or None) the installed plugins offer."""
    return structure_examples()


def example_id(example: tuple) -> str:
    return f"{type(example[0]).__name__}{example[1]}"


def registered_structures() -> set[str]:
    return {entry.obj.__name__ for entry in get_plugins().registry()["structure"].values()}


def test_every_registered_structure_has_an_example() -> None:
    assert {type(s).__name__ for s, _, _ in examples()} == registered_structures()


@pytest.mark.parametrize("example", examples(), ids=example_id)
def test_save_load_gives_identical_outputs(example: tuple, tmp_path: Path) -> None:
    structure, shapes, given = example
    assert tn.from_config(json.loads(json.dumps(tn.to_config(structure)))) is not structure
    assert tn.to_config(tn.from_config(tn.to_config(structure))) == tn.to_config(structure)
    if not shapes:  # sources (Input, Constant): read by a layer
        source = structure(rng=np.random.default_rng(0))
        x = tn.Input((2,))()
        inputs, outputs = ([source], [source]) if isinstance(structure, tn.Input) else ([x], [source, x])
    else:
        dtypes = [x.dtype.name if x.dtype.kind in "iu" else None for x in given] if given else [None] * len(shapes)
        inputs = [tn.Input(shape, dtype=dtype)() for shape, dtype in zip(shapes, dtypes)]
        inst = structure(*inputs, rng=np.random.default_rng(0))
        outputs = [inst[k] for k in range(len(inst.output_shapes))]
    s = tn.System(inputs, outputs, dtype=np.float64)
    tn.save(s, tmp_path / "m.tn")
    loaded = tn.load(tmp_path / "m.tn")
    xs = given or [np.random.default_rng(1).normal(size=(3, *inst.shape)) for inst in s.inputs]
    for a, b in zip(s.guess(xs), loaded.guess(xs)):
        np.testing.assert_array_equal(a, b)
    assert loaded.dtype == np.float64 and [loaded.names[i] for i in loaded.order] == [s.names[i] for i in s.order]


def shared_network(seed: int = 0) -> tn.System:
    """Two inputs through one Clone-shared Dense, concatenated, then a Dense output."""
    rng = np.random.default_rng(seed)
    a, b = tn.Input((4,))(name="a"), tn.Input((4,))(name="b")
    shared = tn.Clone(tn.Dense(3, activation="tanh"))
    ha, hb = shared(a, rng=rng), shared(b, rng=rng, name="twin")
    y = tn.Dense(2, activation="sigmoid")(tn.Concatenate()(ha, hb), rng=rng)
    return tn.System([a, b], [y], dtype=np.float64)


def test_shared_parameters_stay_shared(tmp_path: Path) -> None:
    s = shared_network()
    tn.save(s, tmp_path / "m.tn")
    loaded = tn.load(tmp_path / "m.tn")
    first, twin = (inst for inst in loaded.order if type(inst.structure).__name__ == "Dense" and inst.shape == (3,))
    assert first.params is twin.params and first.structure is twin.structure and twin.name == "twin"
    assert len(loaded.groups) == len(s.groups) == 2
    xa, xb = np.ones((2, 4)), np.zeros((2, 4))
    np.testing.assert_array_equal(s.guess([xa, xb])[0], loaded.guess([xa, xb])[0])
    loaded.fit([xa, xb], np.ones((2, 2)), epochs=1, verbose=0)  # one update reaches both uses
    assert first.params is twin.params


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop"])
def test_optimizer_state_resumes_training_exactly(optimizer: str, tmp_path: Path) -> None:
    x, y = blobs(24)
    straight = classifier()
    straight.fit(x, y, epochs=2, batch_size=8, optimizer=optimizer, lr=0.01, shuffle=False, verbose=0)
    first = classifier()
    first.fit(x, y, epochs=1, batch_size=8, optimizer=optimizer, lr=0.01, shuffle=False, verbose=0)
    tn.save(first, tmp_path / "m.tn")
    resumed = tn.load(tmp_path / "m.tn")
    assert resumed.step == 3 and type(resumed.optimizer).__name__.lower() == optimizer
    resumed.fit(x, y, epochs=1, batch_size=8, optimizer=optimizer, shuffle=False, verbose=0)
    for a, b in zip(params(straight), params(resumed)):
        np.testing.assert_array_equal(a, b)
    tn.save(first, tmp_path / "bare.tn", optimizer=False)
    assert tn.load(tmp_path / "bare.tn").optimizer is None


def test_configurations_nest_and_use_plain_json() -> None:
    dense = tn.Dense((3, 2), activation="relu", init="he")
    config = tn.to_config(dense)
    assert config["type"] == "Dense" and config["config"]["activation"]["__object__"]["type"] == "ReLU"
    assert config["config"]["init"] == "he"
    assert json.loads(json.dumps(config)) == config
    assert tn.from_config(config) == dense
    constant = tn.Constant(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(tn.from_config(tn.to_config(constant)).value, constant.value)
    adam = tn.Adam(lr=0.01, beta1=0.8)
    assert tn.from_config(tn.to_config(adam)) == adam


def test_unsaveable_configurations_are_refused() -> None:
    with pytest.raises(tn.ConfigError, match="init"):
        tn.to_config(tn.Dense(3, init=lambda shape, fan_in, fan_out, rng: np.zeros(shape)))

    class Unregistered(tn.Structure):
        pass

    with pytest.raises(tn.ConfigError, match="not registered"):
        tn.to_config(Unregistered())


@pytest.mark.parametrize(
    "config, match",
    [
        ({"kind": "structure", "type": "Dense"}, "keys"),
        ({"kind": "weapon", "type": "Dense", "config": {}}, "malformed"),
        ({"kind": "structure", "type": "Dense", "config": {"shape": 3, "colour": 1}}, "no field"),
        ({"kind": "structure", "type": "Dense", "config": {"shape": {"__code__": "rm -rf"}}}, "malformed"),
        ({"kind": "structure", "type": "Dense", "config": {"shape": -3}}, "positive"),
    ],
)
def test_malformed_configurations_are_refused(config: dict, match: str) -> None:
    with pytest.raises(tn.ConfigError, match=match):
        tn.from_config(config)


def test_unknown_names_in_configurations_get_a_suggestion() -> None:
    with pytest.raises(tn.UnknownNameError, match="did you mean 'Adam'"):
        tn.from_config({"kind": "optimizer", "type": "Adma", "config": {}})


# -- refused files ---------------------------------------------------------------------


def write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez to exactly ``path`` (given a name, savez would append .npz)."""
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def rewrite(path: Path, edit: object) -> None:
    """Change model.json of a saved file with ``edit(model)``, keeping the arrays."""
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    model = json.loads(arrays["model.json"].tobytes())
    edit(model)  # type: ignore[operator]
    arrays["model.json"] = np.frombuffer(json.dumps(model).encode(), dtype=np.uint8)
    write(path, arrays)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "m.tn"
    tn.save(shared_network(), path)
    return path


def rename_dense(name: str) -> object:
    """Rename the output Dense's type, listing the new name in the types table as coming from Dense's plugin."""

    def edit(model: dict) -> None:
        model["instances"][-1]["structure"]["type"] = name
        dense = [row for row in model.get("types", []) if row["type"] == "Dense"]
        model.get("types", []).extend({**row, "type": name} for row in dense)

    return edit


def adam_without_state(model: dict) -> None:
    model["optimizer"] = {"kind": "optimizer", "type": "Adam", "config": {}}
    core = next(row for row in model["types"] if row["plugin"] == "core")
    model["types"].append({**core, "kind": "optimizer", "type": "Adam"})


def test_the_file_records_where_every_type_comes_from(saved: Path) -> None:
    with np.load(saved) as archive:
        model = json.loads(archive["model.json"].tobytes())
    rows = {(row["kind"], row["type"]): row for row in model["types"]}
    assert set(rows) == {("structure", "Input"), ("structure", "Dense"), ("structure", "Concatenate"),
                         ("activation", "Tanh"), ("activation", "Sigmoid")}
    version = get_plugins().registry()["structure"]["Dense"].version
    assert rows["activation", "Tanh"] == {"kind": "activation", "type": "Tanh", "plugin": "dense",
                                          "distribution": "tn-layers-dense", "version": version}
    assert rows["structure", "Input"]["distribution"] == "tn-core"


def test_a_layer_from_a_missing_first_party_plugin_names_the_distribution(saved: Path) -> None:
    plugins = get_plugins()
    module = plugins.pm.get_plugin("dense")
    version, distribution = plugins.versions["dense"], plugins.distributions["dense"]
    plugins.unregister("dense")
    try:
        with pytest.raises(tn.MissingPluginError, match=rf"\(types Sigmoid, Tanh, Dense\) needs tn-layers-dense "
                                                         rf"\({version}\), which is installed but its plugin 'dense'"):
            tn.load(saved)
    finally:
        plugins.register(module, "dense", version, distribution)
    tn.load(saved)


def test_a_type_the_named_distribution_does_not_provide_is_refused_with_its_origin(saved: Path) -> None:
    rewrite(saved, rename_dense("Transmogrifier"))
    with pytest.raises(tn.MissingPluginError, match=r"\(types Transmogrifier\) needs tn-layers-dense \(.*\), but "
                                                     r"the installed tn-layers-dense .* does not provide it"):
        tn.load(saved)


def test_a_type_missing_from_the_types_table_is_a_weights_file_error(saved: Path) -> None:
    rewrite(saved, lambda m: m["instances"][-1]["structure"].update(type="Transmogrifier"))
    with pytest.raises(tn.WeightsFileError, match=r"names types its types table does not list: "
                                                  r"\[\('structure', 'Transmogrifier'\)\]"):
        tn.load(saved)
    rewrite(saved, lambda m: m["types"].append({"kind": "structure"}))
    with pytest.raises(tn.WeightsFileError, match="malformed types table"):
        tn.load(saved)


def test_version_1_files_of_tn_core_0_1_still_load(saved: Path) -> None:
    def as_version_1(model: dict) -> None:
        del model["types"]
        model["version"] = 1
        for entry in model["instances"]:
            entry["plugin"] = "dense" if entry["structure"]["type"] == "Dense" else "core"

    expected = tn.load(saved).guess([np.ones((2, 4)), np.zeros((2, 4))])[0]
    rewrite(saved, as_version_1)
    np.testing.assert_array_equal(tn.load(saved).guess([np.ones((2, 4)), np.zeros((2, 4))])[0], expected)
    rewrite(saved, rename_dense("Transmogrifier"))
    with pytest.raises(tn.UnknownNameError, match="Transmogrifier.*plugin 'dense'"):
        tn.load(saved)


@pytest.mark.parametrize(
    "edit, match",
    [
        (rename_dense("Input"), "rebuilt"),
        (lambda m: m["instances"][-1]["structure"]["config"].update(shape={"__tuple__": [5]}), "shape"),
        (lambda m: m["instances"][1].update(parents=[[5, 0]]), "not stored before"),
        (lambda m: m["instances"][-1].update(group=None), "params/1/weights: the model has no such part"),
        (lambda m: m.update(outputs=[[0, 3]]), "rebuilt"),
        (lambda m: m.update(version=99), "version"),
        (lambda m: m.update(dtype="object"), "malformed"),
        (adam_without_state, "step count"),
        (lambda m: m.pop("names"), "malformed"),
    ],
)
def test_inconsistent_files_are_refused(saved: Path, edit: object, match: str) -> None:
    rewrite(saved, edit)
    with pytest.raises(tn.WeightsFileError, match=match):
        tn.load(saved)


def test_corrupt_and_truncated_files_are_refused(saved: Path) -> None:
    raw = saved.read_bytes()
    saved.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(tn.WeightsFileError):
        tn.load(saved)
    flipped = bytearray(raw)
    offset = raw.index(b"params/0/weights") + 200  # inside the first weight array's data
    flipped[offset] ^= 0xFF
    saved.write_bytes(bytes(flipped))
    with pytest.raises(tn.WeightsFileError):
        tn.load(saved)
    saved.write_bytes(b"not a zip file at all")
    with pytest.raises(tn.WeightsFileError):
        tn.load(saved)


def test_files_carrying_pickles_are_refused_without_unpickling(saved: Path) -> None:
    class Bomb:
        def __reduce__(self) -> tuple:
            return (exec, ("raise SystemExit('unpickled!')",))

    with np.load(saved) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["params/0/weights"] = np.array([Bomb()], dtype=object)
    write(saved, arrays)
    with pytest.raises(tn.WeightsFileError, match=r"params/0/weights: holds Python objects \(pickled data\)"):
        tn.load(saved)
    arrays["model.json"] = np.array([{"format": "tensornet-model"}], dtype=object)
    write(saved, {k: v for k, v in arrays.items() if k != "params/0/weights"})
    with pytest.raises(tn.WeightsFileError):
        tn.load(saved)


def test_a_weights_file_is_not_a_model_file(tmp_path: Path) -> None:
    s = shared_network()
    s.save_weights(tmp_path / "w.npz")
    with pytest.raises(tn.WeightsFileError, match="not a tensornet model file"):
        tn.load(tmp_path / "w.npz")


def test_save_weights_into_a_model_file_is_refused_and_leaves_it_loadable(saved: Path) -> None:
    """A checkpoint written into a model file would make tn.load refuse the file (it holds no such part)."""
    original = saved.read_bytes()
    with pytest.raises(tn.ConfigError, match=r"the file is a model file \(tn.save\); write the weights to a file of "
                                             "their own"):
        tn.load(saved).save_weights(saved, checkpoint="later")
    assert saved.read_bytes() == original and sorted(p.name for p in saved.parent.iterdir()) == [saved.name]
    tn.load(saved)


def test_stored_parameters_are_checked(saved: Path) -> None:
    with np.load(saved) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["params/0/weights"] = np.full_like(arrays["params/0/weights"], np.nan)
    write(saved, arrays)
    with pytest.raises(tn.WeightsFileError, match="finite"):
        tn.load(saved)


def test_zero_dimensional_parameters_survive_a_save(tmp_path: Path) -> None:
    """Gain, Bias and LayerNorm on the scalars Split makes of a vector have parameters of shape ()."""
    x = tn.Input((3,))()
    parts = tn.Split()(x)
    s = tn.System([x], [tn.Gain()(parts[0]), tn.Bias()(parts[1]), tn.LayerNorm()(parts[2])], dtype=np.float64)
    for _, _, array in s.parameters():
        array[...] = 0.25
    s.optimizer = tn.Adam()
    s.optimizer.step([a for _, _, a in s.parameters()], [np.full((), 0.1)] * 4)  # moments of shape ()
    tn.save(s, tmp_path / "m.tn")
    loaded = tn.load(tmp_path / "m.tn")
    assert [a.shape for _, _, a in loaded.parameters()] == [()] * 4
    for a, b in zip(params(s), params(loaded)):
        np.testing.assert_array_equal(a, b)
    state, saved = loaded.optimizer.state(), s.optimizer.state()
    assert state.keys() == saved.keys() and all(state[key].shape == saved[key].shape == () for key in state)


def test_a_small_conv_net_on_full_hd_images_loads(tmp_path: Path) -> None:
    """Large inputs with few parameters are legitimate: loading bounds what a lying file costs without refusing them."""
    x = tn.Input((1080, 1920, 3))()
    y = tn.Dense(2)(tn.GlobalAvgPool()(tn.Conv((3, 3), out_shape=4, stride=4)(x)))
    s = tn.System([x], [y])
    tn.save(s, tmp_path / "hd.tn")
    loaded = tn.load(tmp_path / "hd.tn")
    assert [a.shape for _, _, a in loaded.parameters()] == [a.shape for _, _, a in s.parameters()]
