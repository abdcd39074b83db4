"""The seed's keywords (BenLand100/tensornetwork): accepted ones equal today's spelling and warn; refused
ones name the replacement. Layer access by name and in order. Weights files named or holding HDF5."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine, Shift
from tn_core.errors import ConfigError, UnknownNameError, WeightsFileError
from tn_core.weights import HDF5_SIGNATURE


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def outputs(inputs: list[tn.Instance], output: tn.Instance | tn.OutputRef, feed: list[np.ndarray]) -> np.ndarray:
    return tn.System(inputs=inputs, outputs=[output], dtype=np.float64).guess(feed)[0]


def seed_spelling(new: str) -> pytest.WarningsRecorder:
    """Expect one DeprecationWarning naming today's spelling ``new``."""
    return pytest.warns(DeprecationWarning, match=r"is the seed's spelling; write .*" + new)


# -- wiring keywords (the seed used them on its RNN and LSTM; Split has several output slots too) ------------------


def test_input_index_is_the_slot_of_the_parent() -> None:
    x = tn.Input((5, 3))()
    rows = tn.Split()(x)
    with seed_spelling(r"Affine\(\.\.\.\)\(x\[1\]\)"):
        old = Affine(2)(rows, input_index=1, rng=rng())
    new = Affine(2)(rows[1], rng=rng())
    assert old.parents == new.parents == [rows[1]]
    feed = [rng(1).normal(size=(3, 5, 3))]
    np.testing.assert_array_equal(outputs([x], old, feed), outputs([x], new, feed))


def test_input_indexes_are_the_slots_of_each_parent() -> None:
    x = tn.Input((5, 3))()
    rows = tn.Split()(x)
    with seed_spelling(r"\[a\[1\], b\[0\]\]"):
        old = tn.FlatConcat()([rows, x], input_indexes=[1, 0])
    assert old.parents == [rows[1], x[0]]
    with pytest.raises(ConfigError, match=r"input_indexes=\[1\] gives 1 slots for 2 parents"):
        tn.FlatConcat()([rows, x], input_indexes=[1])


@pytest.mark.plugins  # the recurrent layers' carries
def test_state_inst_is_the_initial_state_input() -> None:
    x, h0 = tn.Input((5, 3))(), tn.Input((4,))()
    with seed_spelling(r"RNN\(\.\.\.\)\(x, h0\)"):
        old = tn.RNN(4)(x, state_inst=h0, rng=rng())
    new = tn.RNN(4)(x, h0, rng=rng())
    assert old.parents == new.parents
    feed = [rng(1).normal(size=(2, 5, 3)), rng(2).normal(size=(2, 4))]
    np.testing.assert_array_equal(outputs([x, h0], old[1], feed), outputs([x, h0], new[1], feed))


@pytest.mark.plugins  # the recurrent layers' carries
def test_state_index_and_mem_index_pick_slots_of_the_carries() -> None:
    x = tn.Input((5, 3))()
    first = tn.LSTM(4)(x)
    with seed_spelling(r"LSTM\(\.\.\.\)\(x, h0\[1\], c0\[2\]\)"):
        second = tn.LSTM(4)(x, state_inst=first, state_index=1, mem_inst=first, mem_index=2)
    assert second.parents == [x[0], first[1], first[2]]


@pytest.mark.plugins  # the recurrent layers' carries
def test_mem_inst_alone_starts_from_a_zero_state_as_the_seed_did() -> None:
    x, c0 = tn.Input((5, 3))(), tn.Input((4,))()
    with seed_spelling(r"LSTM\(\.\.\.\)\(x, tn\.Constant\(np\.zeros\(size\)\)\(\), c0\)"):
        old = tn.LSTM(4)(x, mem_inst=c0, rng=rng())
    new = tn.LSTM(4)(x, tn.Constant(np.zeros(4))(), c0, rng=rng())
    feed = [rng(1).normal(size=(2, 5, 3)), rng(2).normal(size=(2, 4))]
    np.testing.assert_array_equal(outputs([x, c0], old[0], feed), outputs([x, c0], new[0], feed))


def test_clone_takes_the_seed_keywords_and_still_shares_its_parameters() -> None:
    x = tn.Input((5, 3))()
    rows = tn.Split()(x)
    shared = tn.Clone(Affine(2))
    with pytest.warns(DeprecationWarning):
        a = shared(rows, input_index=1)
        b = shared(rows, input_index=1)
    assert a.params is b.params and a.parents == [rows[1]]


@pytest.mark.parametrize(
    ("keywords", "error", "message"),
    [
        ({"state_inst": "h0"}, ConfigError, r"Affine: state_inst= gives the initial state, and it carries nothing .* "
                                            r"for RNN, LSTM and GRU"),
        ({"input_index": 9}, IndexError, r"Split has output slots 0\.\.4, asked for 9"),
        ({"inputs": "h0"}, TypeError, r"Affine\(\.\.\.\)\(\.\.\.\) got an unexpected keyword argument 'inputs'; it "
                                      r"takes the parent instances"),
    ],
)
def test_seed_wiring_keywords_a_layer_never_took_are_refused(keywords: dict, error: type, message: str) -> None:
    x, h0 = tn.Input((5, 3))(), tn.Input((4,))()
    given = {key: h0 if value == "h0" else value for key, value in keywords.items()}
    with pytest.raises(error, match=message):
        Affine(2)(tn.Split()(x), **given)


@pytest.mark.plugins  # the recurrent layers' carries
@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"mem_inst": "h0"}, r"RNN: mem_inst= gives the initial memory, and its initial carries are \['state'\]"),
        ({"state_index": 1}, r"RNN: state_index= picks a slot of state_inst=, which is not given"),
    ],
)
def test_seed_carry_keywords_a_recurrent_layer_never_took_are_refused(keywords: dict, message: str) -> None:
    x, h0 = tn.Input((5, 3))(), tn.Input((4,))()
    given = {key: h0 if value == "h0" else value for key, value in keywords.items()}
    with pytest.raises(ConfigError, match=message):
        tn.RNN(4)(x, **given)


def test_input_index_needs_one_instance_parent() -> None:
    x = tn.Input((5, 3))()
    rows = tn.Split()(x)
    with pytest.raises(ConfigError, match=r"input_index=1 picks an output slot of an Instance, got OutputRef"):
        Affine(2)(rows[0], input_index=1)
    with pytest.raises(ConfigError, match=r"input_index= picks the slot of a single parent, got 2 parents"):
        tn.Concatenate()(rows, rows, input_index=1)


@pytest.mark.plugins  # ResWrap's keyword
def test_reswrap_output_index_is_slot() -> None:
    x = tn.Input((5, 3))()
    cell = tn.RNN(15)
    with seed_spelling(r"ResWrap\(cell, slot=1\)"):
        old = tn.ResWrap(cell, output_index=1)
    assert old == tn.ResWrap(cell, slot=1)
    with seed_spelling(r"Residual\(cell, slot=1\)"):
        assert tn.Residual(cell, output_index=1).slot == 1
    feed = [rng(1).normal(size=(2, 5, 3))]
    np.testing.assert_array_equal(outputs([x], old(x, rng=rng()), feed),
                                  outputs([x], tn.ResWrap(cell, slot=1)(x, rng=rng()), feed))
    with pytest.raises(ConfigError, match=r"ResWrap: output_index= is the seed's spelling of slot=; give one"):
        tn.ResWrap(cell, slot=0, output_index=1)


@pytest.mark.plugins  # ResWrap's keyword
def test_reswrap_still_round_trips_through_a_model_file(tmp_path) -> None:
    x = tn.Input((6,))()
    y = tn.ResWrap(tn.Dense(4, activation="tanh"), activation="relu")(x)
    system = tn.System(inputs=[x], outputs=[y])
    tn.save(system, tmp_path / "model.tn")
    loaded = tn.load(tmp_path / "model.tn")
    assert loaded.order[-1].structure == y.structure
    feed = rng(1).normal(size=(2, 6))
    np.testing.assert_array_equal(loaded.guess([feed])[0], system.guess([feed])[0])


# -- System keywords ------------------------------------------------------------------------------


def small_system(seed: int = 0) -> tuple[tn.System, np.ndarray, np.ndarray]:
    x = tn.Input((4,))()
    h = Affine(5, activation="hyperbolictangent")(x, rng=rng(seed))
    y = Affine(3, activation="logistic")(h, rng=rng(seed + 1))
    data = rng(7)
    return tn.System(inputs=[x], outputs=[y], dtype=np.float64), data.normal(size=(6, 4)), data.random((6, 3))


def test_system_verbose_prints_the_layers(capsys: pytest.CaptureFixture[str]) -> None:
    system, _, _ = small_system()
    x, y = system.inputs[0], system.outputs[0].instance
    with seed_spelling(r"print\(system\)"):
        tn.System(inputs=[x], outputs=[y], dtype=np.float64, verbose=True)
    assert capsys.readouterr().out == f"{system}\n"
    with seed_spelling(r"System\(\.\.\.\) \(quiet is the default\)"):
        tn.System(inputs=[x], outputs=[y], dtype=np.float64, verbose=False)
    assert capsys.readouterr().out == ""


def test_guess_verbose_prints_the_layers_and_guesses_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    system, xs, _ = small_system()
    with seed_spelling(r"print\(system\)"):
        loud = system.guess([xs], verbose=True)
    assert capsys.readouterr().out == f"{system}\n"
    np.testing.assert_array_equal(loud[0], system.guess([xs])[0])


def test_learn_adam_keywords_equal_an_adam_kept_across_calls() -> None:
    old, xs, ts = small_system()
    new, _, _ = small_system()
    adam = tn.Adam(lr=1e-2, beta1=0.5, beta2=0.9, eps=1e-6)
    for _ in range(3):
        _, state = old.guess([xs], return_state=True)
        with seed_spelling(r"adam = tn\.Adam\(lr=\.\.\., beta1=0\.5, beta2=0\.9, eps=1e-06\) once"):
            old.learn(state, [ts], method="adam", scale=1e-2, loss="ce", b1=0.5, b2=0.9, epsilon=1e-6)
        _, state = new.guess([xs], return_state=True)
        new.learn(state, [ts], method=adam, loss="ce")
    assert old.optimizer.steps == 3  # one Adam, its moments kept, as the seed's per-neuron m, v, t
    for (_, _, a), (_, _, b) in zip(old.parameters(), new.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert a is not b


def test_learn_adam_keywords_need_adam_and_valid_values() -> None:
    system, xs, ts = small_system()
    before = [p.copy() for _, _, p in system.parameters()]
    _, state = system.guess([xs], return_state=True)
    with pytest.warns(DeprecationWarning), pytest.raises(
        ConfigError, match=r"learn: b1 set Adam's beta1 \(the seed's method='adam'\), but the method is SGD"
    ):
        system.learn(state, [ts], method="sgd", b1=0.9)
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match=r"beta1.*1\.5"):
        system.learn(state, [ts], method="adam", b1=1.5)
    for old, (_, _, new) in zip(before, system.parameters()):
        np.testing.assert_array_equal(old, new)


def test_learn_batch_false_is_the_default_and_batch_true_is_refused() -> None:
    old, xs, ts = small_system()
    new, _, _ = small_system()
    _, state = old.guess([xs], return_state=True)
    with seed_spelling(r"learn\(\.\.\.\) \(one update per call"):
        loss_old = old.learn(state, [ts], scale=0.1, batch=False)
    _, state = new.guess([xs], return_state=True)
    assert new.learn(state, [ts], scale=0.1) == loss_old
    for (_, _, a), (_, _, b) in zip(old.parameters(), new.parameters()):
        np.testing.assert_array_equal(a, b)
    before = [p.copy() for _, _, p in old.parameters()]
    _, state = old.guess([xs], return_state=True)
    with pytest.raises(ConfigError, match=r"batch=True.*system\.gradients\(inputs, true_outputs, loss=\.\.\.\)"):
        old.learn(state, [ts], batch=True)
    with pytest.raises(TypeError, match=r"learn\(\) got an unexpected keyword argument 'momentum'"):
        old.learn(state, [ts], momentum=0.9)
    for a, (_, _, b) in zip(before, old.parameters()):
        np.testing.assert_array_equal(a, b)


# -- layers by name and in order -------------------------------------------------------------------


def test_layers_by_name_and_in_order() -> None:
    x = tn.Input((4,))()
    h = Affine(5, activation="hyperbolictangent")(x, name="hidden")
    y = Affine(3)(Affine(5)(h))
    system = tn.System(inputs=[x], outputs=[y])
    assert list(system.layers) == ["input_1", "hidden", "affine_1", "affine_2"]
    assert list(system.layers.values()) == system.order
    assert system["hidden"] is h and system["affine_2"] is y
    assert system[0] is x and system[-1] is y and system[1] is h
    assert system["affine_2"].params["weights"] is y.params["weights"]
    assert system["affine_2"].params["weights"].shape == (3, 5)
    with pytest.raises(TypeError):
        system.layers["extra"] = h  # read-only


def test_unknown_layers_are_refused_with_the_names() -> None:
    system, _, _ = small_system()
    with pytest.raises(UnknownNameError, match=r"no layer 'afine_1' \(did you mean 'affine_1'\?\); its layers: "
                                               r"input_1, affine_1, affine_2"):
        system["afine_1"]
    with pytest.raises(IndexError, match=r"the System has 3 layers, asked for layer 3"):
        system[3]
    with pytest.raises(TypeError, match=r"indexed by name or position, got float 1\.0"):
        system[1.0]


def test_the_seeds_parts_and_layer_point_at_layers_and_params() -> None:
    system, _, _ = small_system()
    with pytest.raises(AttributeError, match=r"System\.parts \(the seed's list of layers\) is now System\.layers"):
        _ = system.parts
    with pytest.raises(AttributeError, match=r"Affine instances have no \.layer .* \.params\['weights'\]"):
        _ = system["affine_1"].layer
    assert not hasattr(system, "other") and not hasattr(system["affine_1"], "other")


# -- weights files and HDF5 --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ocr.h5", "ocr.HDF5", "ocr.he5"])
def test_save_weights_refuses_an_hdf5_name(tmp_path, name: str) -> None:
    system, _, _ = small_system()
    path = tmp_path / name
    with pytest.raises(ConfigError, match=r"writes weights as an \.npz archive, not HDF5.*name it '.*ocr\.npz'"):
        system.save_weights(path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("user_block", [0, 512, 2048])
def test_loading_an_hdf5_file_says_what_it_is_and_how_to_convert_it(tmp_path, user_block: int) -> None:
    system, _, _ = small_system()
    path = tmp_path / "seed.h5"
    path.write_bytes(b"\0" * user_block + HDF5_SIGNATURE + bytes(200))
    with pytest.raises(WeightsFileError, match=r"seed\.h5 is an HDF5 file, not an \.npz archive.*tn_core\.h5\."
                                               r"load_seed_weights\(system, .*pip install 'tn-core\[h5\]'"):
        system.load_weights(path)


def test_an_npz_file_under_an_h5_name_still_loads(tmp_path) -> None:
    """Files written before save_weights refused .h5 names are read by what they hold."""
    system, xs, _ = small_system()
    system.save_weights(tmp_path / "ocr.npz")
    (tmp_path / "ocr.npz").rename(tmp_path / "old.h5")
    other, _, _ = small_system(seed=5)
    other.load_weights(tmp_path / "old.h5")
    np.testing.assert_array_equal(other.guess([xs])[0], system.guess([xs])[0])


def write_seed_h5(path, parts: dict[str, tuple[np.ndarray, np.ndarray] | None], checkpoint: str = "default") -> None:
    """A file laid out as the seed's System.save_weights wrote it: <checkpoint>/<index>_<type>/neuron0_w, _b."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as handle:
        group = handle.create_group(checkpoint)
        for name, arrays in parts.items():
            part = group.create_group(name)
            if arrays is not None:
                part["neuron0_w"], part["neuron0_b"] = arrays


def seed_conv_net() -> tn.System:
    """The seed's ConvNetwork notebook, smaller: Conv (3, 3) x 2 channels, pad, then Dense."""
    x = tn.Input((6, 6))()
    c = tn.Conv((3, 3), out_shape=(2,), pad=True, activation="tanh")(x)
    return tn.System(inputs=[x], outputs=[tn.Dense(4, activation="sigmoid")(c)], dtype=np.float64)


@pytest.mark.plugins  # the seed's Dense and Conv layouts
def test_load_seed_weights_reads_the_seeds_dense_and_conv_layout(tmp_path) -> None:
    from tn_core.h5 import load_seed_weights

    data = rng(3)
    w_conv, b_conv = data.normal(size=(2, 9)), data.normal(size=2)  # the seed's (out, kernel taps * channels)
    w_dense, b_dense = data.normal(size=(4, 72)), data.normal(size=4)
    write_seed_h5(tmp_path / "conv.h5", {"0_Dense": (w_dense, b_dense), "1_Conv": (w_conv, b_conv), "2_Input": None})
    system = seed_conv_net()
    load_seed_weights(system, tmp_path / "conv.h5")
    np.testing.assert_array_equal(system["conv_1"].params["weights"], w_conv.reshape(2, 3, 3, 1))
    np.testing.assert_array_equal(system["conv_1"].params["biases"], b_conv)
    np.testing.assert_array_equal(system["dense_1"].params["weights"], w_dense)
    # the converted network computes what the seed's did: a window's dot product with the flattened kernel
    image = data.normal(size=(6, 6))
    padded = np.pad(image, 1)
    z = np.array([[w_conv @ padded[i:i + 3, j:j + 3].ravel() + b_conv for j in range(6)] for i in range(6)])
    expected = 1 / (1 + np.exp(-(w_dense @ np.tanh(z).ravel() + b_dense)))
    np.testing.assert_allclose(system.guess([image])[0], expected, rtol=1e-12)
    system.save_weights(tmp_path / "conv.npz")
    again = seed_conv_net()
    again.load_weights(tmp_path / "conv.npz")
    np.testing.assert_array_equal(again.guess([image])[0], system.guess([image])[0])


def test_load_seed_weights_reads_the_first_releases_instance_names(tmp_path) -> None:
    from tn_core.h5 import load_seed_weights

    x = tn.Input((3,))()
    system = tn.System(inputs=[x], outputs=[Affine(2)(Affine(4)(x))], dtype=np.float64)
    w1, w2 = rng(1).normal(size=(4, 3)), rng(2).normal(size=(2, 4))
    parts = {"0_Instance": (w2, np.ones(2)), "1_Instance": (w1, np.zeros(4)), "2_Instance": None}
    write_seed_h5(tmp_path / "deep.h5", parts, checkpoint="best")
    load_seed_weights(system, tmp_path / "deep.h5", checkpoint="best")
    np.testing.assert_array_equal(system["affine_1"].params["weights"], w1)
    np.testing.assert_array_equal(system["affine_2"].params["biases"], np.ones(2))


@pytest.mark.plugins  # the seed's Dense and Conv layouts
@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({"0_Dense": ((4, 72), 4), "1_Conv": ((2, 8), 2)}, r"part 1_Conv has weights \(2, 8\) and biases \(2,\), "
                                                           r"layer conv_1 weights \(2, 3, 3, 1\)"),
        ({"0_Dense": ((4, 72), 4)}, r"holds 1 layers with weights \(\['0_Dense'\]\), the network 2"),
        ({"0_Dense": ((4, 72), 4), "1_Clone(Dense)": ((2, 9), 2)}, r"1_Clone\(Dense\) is a per-step copy of a seed "
                                                                   r"RNN or LSTM cell"),
    ],
)
def test_load_seed_weights_refuses_a_mismatch_and_changes_nothing(tmp_path, parts: dict, message: str) -> None:
    from tn_core.h5 import load_seed_weights

    arrays = {name: (np.ones(w), np.ones(b)) for name, (w, b) in parts.items()}
    write_seed_h5(tmp_path / "bad.h5", arrays)
    system = seed_conv_net()
    before = [p.copy() for _, _, p in system.parameters()]
    with pytest.raises(WeightsFileError, match=message):
        load_seed_weights(system, tmp_path / "bad.h5")
    for old, (_, _, new) in zip(before, system.parameters()):
        np.testing.assert_array_equal(old, new)


def test_load_seed_weights_refuses_layers_it_cannot_map_and_missing_checkpoints(tmp_path) -> None:
    from tn_core.h5 import load_seed_weights

    write_seed_h5(tmp_path / "seed.h5", {"0_Dense": (np.ones((4, 6)), np.ones(4))})
    x = tn.Input((6,))()
    shifted = tn.System(inputs=[x], outputs=[Affine(4)(Shift()(x))])
    with pytest.raises(WeightsFileError, match=r"layer shift_1 is a Shift with parameters \['shift'\]; only networks "
                                               r"of Dense"):
        load_seed_weights(shifted, tmp_path / "seed.h5")
    with pytest.raises(WeightsFileError, match=r"seed\.h5 has no checkpoint 'best' \(it has \['default'\]\)"):
        load_seed_weights(small_system()[0], tmp_path / "seed.h5", checkpoint="best")


def test_load_seed_weights_without_h5py_says_what_to_install(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tn_core.h5 import load_seed_weights

    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(ImportError, match=r"needs h5py: pip install 'tn-core\[h5\]'"):
        load_seed_weights(small_system()[0], tmp_path / "seed.h5")


def hostile_part(kind: str, handle, part, folder) -> None:
    """Fill ``part`` (the file's default/0_Dense) with what ``kind`` names: weights read from elsewhere."""
    h5py = pytest.importorskip("h5py")
    secret, other = folder / "secret.bin", folder / "other.h5"
    secret.write_bytes(np.arange(24, dtype="<f8").tobytes())
    with h5py.File(other, "w") as elsewhere:
        elsewhere["default/0_Dense/neuron0_w"], elsewhere["default/0_Dense/neuron0_b"] = np.ones((4, 6)), np.ones(4)
    part["neuron0_b"] = np.ones(4)
    if kind == "external storage":
        part.create_dataset("neuron0_w", shape=(4, 6), dtype="<f8", external=[(str(secret), 0, 192)])
    elif kind == "virtual dataset":
        layout = h5py.VirtualLayout((4, 6), "<f8")
        layout[:] = h5py.VirtualSource(str(other), "default/0_Dense/neuron0_w", shape=(4, 6))
        part.create_virtual_dataset("neuron0_w", layout)
    elif kind == "external link":
        part["neuron0_w"] = h5py.ExternalLink(str(other), "/default/0_Dense/neuron0_w")
    elif kind == "soft link":
        handle["stash"] = np.ones((4, 6))
        part["neuron0_w"] = h5py.SoftLink("/stash")
    elif kind == "dangling soft link":
        part["neuron0_w"] = h5py.SoftLink("/nowhere")
    elif kind == "external part":
        del handle["default/0_Dense"]
        handle["default/0_Dense"] = h5py.ExternalLink(str(other), "/default/0_Dense")
    else:  # the checkpoint
        del handle["default"]
        handle["default"] = h5py.ExternalLink(str(other), "/default")


#: how the file leads elsewhere -> what the refusal says
LEADS_ELSEWHERE = {
    "external storage": r"part 0_Dense: /default/0_Dense/neuron0_w keeps its data in other files",
    "virtual dataset": r"part 0_Dense: /default/0_Dense/neuron0_w keeps its data in other files",
    "external link": r"/default/0_Dense/neuron0_w is a link \(<ExternalLink",
    "soft link": r"/default/0_Dense/neuron0_w is a link \(<SoftLink to \"/stash\">\)",
    "dangling soft link": r"/default/0_Dense/neuron0_w is a link \(<SoftLink to \"/nowhere\">\)",
    "external part": r"/default/0_Dense is a link \(<ExternalLink",
    "external checkpoint": r"/default is a link \(<ExternalLink",
}


@pytest.mark.parametrize(("kind", "message"), LEADS_ELSEWHERE.items(), ids=list(LEADS_ELSEWHERE))
def test_load_seed_weights_reads_nothing_from_other_files_or_through_links(tmp_path, kind: str, message: str) -> None:
    """Only what the file stores under its own names is read: another file's bytes never become weights."""
    from tn_core.h5 import load_seed_weights

    h5py = pytest.importorskip("h5py")
    path = tmp_path / "hostile.h5"
    with h5py.File(path, "w") as handle:
        hostile_part(kind, handle, handle.create_group("default/0_Dense"), tmp_path)
    x = tn.Input((6,))()
    system = tn.System(inputs=[x], outputs=[Affine(4)(x, rng=rng())], dtype=np.float64)
    before = [p.copy() for _, _, p in system.parameters()]
    with pytest.raises(WeightsFileError, match=message) as caught:
        load_seed_weights(system, path)
    assert str(caught.value).startswith(f"{path}: ")
    for old, (_, _, new) in zip(before, system.parameters()):
        np.testing.assert_array_equal(old, new)


def test_load_seed_weights_refuses_corrupt_data_and_checkpoint_paths(tmp_path) -> None:
    """A chunk that does not decompress is a WeightsFileError naming the part; a checkpoint is one name (a path
    could pass through links)."""
    from tn_core.h5 import load_seed_weights

    h5py = pytest.importorskip("h5py")
    path = tmp_path / "corrupt.h5"
    with h5py.File(path, "w") as handle:
        part = handle.create_group("default/0_Dense")
        part.create_dataset("neuron0_w", data=rng(1).normal(size=(4, 6)), chunks=(4, 6), compression="gzip")
        part["neuron0_b"] = np.ones(4)
        chunk = part["neuron0_w"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[chunk.byte_offset + 10 : chunk.byte_offset + 40] = b"\xff" * 30
    path.write_bytes(bytes(data))
    x = tn.Input((6,))()
    system = tn.System(inputs=[x], outputs=[Affine(4)(x, rng=rng())], dtype=np.float64)
    before = [p.copy() for _, _, p in system.parameters()]
    with pytest.raises(WeightsFileError, match=r"corrupt\.h5: part 0_Dense cannot be read \(OSError: "):
        load_seed_weights(system, path)
    for old, (_, _, new) in zip(before, system.parameters()):
        np.testing.assert_array_equal(old, new)
    with pytest.raises(ConfigError, match="checkpoint must be a non-empty name without '/'"):
        load_seed_weights(system, path, checkpoint="default/0_Dense")


def test_warnings_point_at_the_callers_line() -> None:
    x = tn.Input((5, 3))()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Affine(2)(tn.Split()(x), input_index=1)
        tn.FlatConcat()([tn.Split()(x), x], input_indexes=[1, 0])
    assert [w.filename for w in caught] == [__file__, __file__]


@pytest.mark.plugins  # ResWrap's keyword
def test_a_layers_seed_keyword_warns_at_the_callers_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tn.ResWrap(tn.Dense(2), output_index=0)
    assert [w.filename for w in caught] == [__file__]
