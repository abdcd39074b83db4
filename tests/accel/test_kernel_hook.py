"""The core side of fused optimizer kernels (hook tn_optimizer_kernels), with pure-NumPy kernels: no numba needed.

Kernels of both forms: new values aside, or in place with the old values aside. Which steps a kernel takes
(exact class, C-contiguous float32/float64 arrays of one dtype and shape), the all-or-nothing step around
it, how the plugin manager collects the hook (bad answers, failures, two plugins for one class) and what
``tn plugins`` shows; and the NumPy path's check of state that can overflow.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import attrs
import numpy as np
import pytest

import tn_core as tn
import tn_core.plugins
from tests.plugin_modules import module_with, use_plugins
from tn_core import cli, kit
from tn_core.plugins import Plugins

CALLS: list[tuple[int, ...]] = []


def numpy_sgd(opt: Any, p: np.ndarray, g: np.ndarray, state: list, new_p: np.ndarray, new_state: list) -> bool:
    """SGD as a kernel (a reference for the protocol): new_p = p - lr g; records the shape it was called with."""
    CALLS.append(p.shape)
    np.subtract(p, g * opt.lr, out=new_p)
    return bool(np.isfinite(new_p).all())


def numpy_momentum(opt: Any, p: np.ndarray, g: np.ndarray, state: list, new_p: np.ndarray, new_state: list) -> bool:
    """Momentum without nesterov as a kernel: v' = mu v + g, new_p = p - lr v'."""
    CALLS.append(p.shape)
    (v,), (new_v,) = state, new_state
    np.add(v * opt.momentum, g, out=new_v)
    np.subtract(p, new_v * opt.lr, out=new_p)
    return bool(np.isfinite(new_p).all() and np.isfinite(new_v).all())


def in_place(kernel: Any) -> Any:
    """``kernel`` as an in-place kernel (``in_place``): the new values into p itself, the old ones into old_p."""

    @functools.wraps(kernel)
    def run(opt: Any, p: np.ndarray, g: np.ndarray, state: list, old_p: np.ndarray, new_state: list) -> bool:
        np.copyto(old_p, p)
        return kernel(opt, old_p, g, state, p, new_state)

    run.in_place = True  # type: ignore[attr-defined]
    return run


@attrs.define
class ParameterLayer(tn.Structure):
    """y = x W^T + b (3 -> 3), through the kit's affine map."""

    def build(self, input_shapes: Any, rng: np.random.Generator) -> Any:
        return [(3,)], {"weights": rng.normal(size=(3, 3)), "biases": np.zeros(3)}

    def forward(self, params: Any, inputs: Any, training: bool) -> Any:
        return [kit.affine_forward(inputs[0], params["weights"], params["biases"])], inputs[0]

    def backward(self, params: Any, cache: Any, grads: Any) -> Any:
        dx, dw, db = kit.affine_backward(cache, params["weights"], grads[0])
        return [dx], {"weights": dw, "biases": db}


def plugin(name: str, kernels: Any) -> types.ModuleType:
    return module_with(name, tn_optimizer_kernels=lambda: kernels)


def manager(monkeypatch: pytest.MonkeyPatch, *plugins: types.ModuleType) -> Plugins:
    """The core's built-ins and ``plugins``, as the process-wide plugin manager for this test."""
    CALLS.clear()
    return use_plugins(monkeypatch, *plugins)


@pytest.fixture(params=["aside", "in place"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Plugins:
    """SGD's and Momentum's kernels, writing the new parameters aside or (every test again) in place."""
    form = in_place if request.param == "in place" else lambda kernel: kernel
    kernels = {tn.SGD: ((), form(numpy_sgd)), tn.Momentum: (("velocity",), form(numpy_momentum))}
    return manager(monkeypatch, plugin("fused", kernels))


def start(shapes: list[tuple[int, ...]], dtype: Any = np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=shape).astype(dtype) for shape in shapes]


def test_a_kernel_runs_each_touched_parameter_of_its_exact_class(kernels: Plugins) -> None:
    params, grads = start([(3, 2), (2,), (4,)]), start([(3, 2), (2,), (4,)])
    expected = [p - 0.1 * g for p, g in zip(params, grads)]
    tn.SGD(lr=0.1).step(params, [grads[0], None, grads[2]])
    assert CALLS == [(3, 2), (4,)]
    np.testing.assert_array_equal(params[0], expected[0])
    np.testing.assert_array_equal(params[2], expected[2])
    assert not np.array_equal(params[1], expected[1])


def test_kernel_state_is_the_optimizer_s_own(kernels: Plugins) -> None:
    """Created lazily under their names, current after each step, saved and loaded by state() as without it."""
    fused, plain = tn.Momentum(lr=0.1), type("PlainMomentum", (tn.Momentum,), {})(lr=0.1)
    a, b = start([(3,), (2, 2)]), start([(3,), (2, 2)])
    for seed in range(3):
        grads = start([(3,), (2, 2)])
        grads[0] += seed
        fused.step(a, grads)
        plain.step(b, grads)
    assert len(CALLS) == 6 and fused.steps == plain.steps == 3
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-15)
    state, reference = fused.state(), plain.state()
    assert state.keys() == reference.keys() == {"steps", "velocity/0", "velocity/1"}
    for key in state:
        np.testing.assert_allclose(state[key], reference[key], rtol=1e-15)
    resumed = tn.Momentum(lr=0.1)
    resumed.load_state(plain.state())
    grads = start([(3,), (2, 2)])
    resumed.step(b, grads)
    plain.step(a, grads)  # a was the kernel's; b now too
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-15)


def test_a_system_s_packed_parameters_take_one_kernel_call_per_step(kernels: Plugins) -> None:
    """A System packs its parameters in one buffer: the kernel updates all of them at once, as NumPy would."""

    def system() -> tn.System:
        rng = np.random.default_rng(0)
        x = tn.Input((3,))()
        y = tn.Constant(np.ones(2))()
        layer = ParameterLayer()
        return tn.System([x], [layer(x, rng=rng), y])

    fused, plain = system(), system()
    xs = np.random.default_rng(1).normal(size=(4, 3))
    for s, method in ((fused, tn.Momentum(lr=0.1)), (plain, type("PlainMomentum", (tn.Momentum,), {})(lr=0.1))):
        for _ in range(2):
            _, state = s.guess([xs], return_state=True)
            s.learn(state, [np.zeros((4, 3)), np.zeros((4, 2))], method=s.optimizer or method)
    assert CALLS == [(3 * 3 + 3,)] * 2  # weights (3, 3) and biases (3,), back to back
    for (_, _, p), (_, _, q) in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-15)


def test_a_failed_packed_kernel_step_names_the_parameter(kernels: Plugins) -> None:
    from tn_core.packed import Packed

    params = Packed(np.ones(7), [(3,), (4,)])
    grads = Packed(np.concatenate([np.ones(3), [1.0, 1.0, np.nan, 1.0]]), [(3,), (4,)])
    optimizer = tn.SGD(lr=0.1)
    with pytest.raises(tn.NonFiniteError, match="parameter 1") as caught:
        optimizer.step(params, grads)
    assert (caught.value.parameter, caught.value.cause) == (1, "gradient")  # type: ignore[attr-defined]
    assert CALLS[0] == (7,) and optimizer.steps == 0
    np.testing.assert_array_equal(params.flat, np.ones(7))


def packed(values: list[np.ndarray]) -> Any:
    from tn_core.packed import Packed

    return Packed(np.concatenate([v.reshape(-1) for v in values]), [v.shape for v in values])


def test_a_repeated_packed_kernel_step_reuses_its_plan_only_while_nothing_changed(
    kernels: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After one packed kernel step, the next with the same Packed arrays runs the kernel without the general
    path's checks; where the state was loaded or replaced, the gradients are another buffer, a step fails
    or the plugins change, the general path runs again. Each step equals the NumPy path's."""
    general: list[tn.Optimizer] = []  # the optimizers that took the general path
    monkeypatch.setattr(tn.Momentum, "_packable", lambda self, *args: general.append(self) or tn.Optimizer._packable(
        self, *args))
    shapes = [(2, 3), (3,)]
    fused, plain = tn.Momentum(lr=0.1), type("PlainMomentum", (tn.Momentum,), {})(lr=0.1)
    a, b = packed(start(shapes)), packed(start(shapes))
    grads = packed(start(shapes))

    def step(g: Any, runs_general: bool) -> None:
        general.clear()
        fused.step(a, g)
        plain.step(b, [np.copy(x) for x in g])
        assert any(o is fused for o in general) == runs_general
        np.testing.assert_array_equal(a.flat, b.flat)
        for key, value in plain.state().items():
            np.testing.assert_array_equal(fused.state()[key], value)

    step(grads, True)
    for _ in range(2):
        step(grads, False)
    fused.load_state(plain.state())  # other state arrays
    step(grads, True)
    step(grads, False)
    for optimizer in (fused, plain):  # one parameter's state replaced by hand
        optimizer.state_arrays["velocity"][1] = np.full(3, 2.0)
    step(grads, True)
    step(packed(start(shapes)), True)  # another gradient buffer
    step(grads, True)
    grads.flat[4] = np.nan
    before, state = np.copy(a.flat), fused.state()
    with pytest.raises(tn.NonFiniteError, match="parameter 0"):
        fused.step(a, grads)
    np.testing.assert_array_equal(a.flat, before)
    assert fused.state().keys() == state.keys() and fused.steps == state["steps"]
    for key in state:
        np.testing.assert_array_equal(fused.state()[key], state[key])
    grads.flat[4] = 1.0
    step(grads, False)  # the failed step changed nothing, its plan included
    calls = len(CALLS)
    kernels.unregister("fused")
    step(grads, True)
    assert len(CALLS) == calls  # NumPy's step, not the kernel's


def test_a_kernel_that_raises_on_a_repeated_step_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def flaky(opt: Any, p: np.ndarray, g: np.ndarray, state: list, new_p: np.ndarray, new_state: list) -> bool:
        if len(CALLS) == 1:
            raise RuntimeError("the kernel's own error")
        return numpy_sgd(opt, p, g, state, new_p, new_state)

    manager(monkeypatch, plugin("flaky", {tn.SGD: ((), flaky)}))
    optimizer, params, grads = tn.SGD(lr=0.5), packed([np.ones(3)]), packed([np.ones(3)])
    optimizer.step(params, grads)
    with pytest.raises(RuntimeError, match="the kernel's own error"):
        optimizer.step(params, grads)
    assert optimizer.steps == 1
    np.testing.assert_array_equal(params.flat, np.full(3, 0.5))


@pytest.mark.parametrize(
    "case",
    ["subclass", "fortran order", "strided", "float16", "mixed dtypes", "integer"],
)
def test_other_steps_take_the_numpy_path(case: str, kernels: Plugins) -> None:
    optimizer = type("MySGD", (tn.SGD,), {})(lr=0.5) if case == "subclass" else tn.SGD(lr=0.5)
    p = {"fortran order": np.asfortranarray(np.ones((3, 4))), "strided": np.ones((3, 8))[:, ::2],
         "float16": np.ones((3, 4), np.float16), "integer": np.ones((3, 4), np.int64)}.get(case, np.ones((3, 4)))
    g = np.full((3, 4), 2.0, np.float32 if case == "mixed dtypes" else p.dtype)
    untouched = np.ones(3)  # a parameter the kernel would take: one that does not fits sends the whole step to NumPy
    if case == "integer":
        with pytest.raises(TypeError):  # NumPy's own error: the NumPy path ran (and the step changed nothing)
            optimizer.step([untouched, p], [np.ones(3), g])
        assert optimizer.steps == 0
    else:
        optimizer.step([untouched, p], [np.ones(3), g])
        np.testing.assert_array_equal(p, np.zeros((3, 4)))
        np.testing.assert_array_equal(untouched, np.full(3, 0.5))
    assert CALLS == []


def test_a_subclass_with_its_own_update_keeps_it(kernels: Plugins) -> None:
    class Halved(tn.SGD):
        def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
            return 0.5 * self.lr * g

    p = np.ones(4)
    Halved(lr=1.0).step([p], [np.ones(4)])
    np.testing.assert_array_equal(p, np.full(4, 0.5))
    assert CALLS == []


@pytest.mark.parametrize("answer", [None, np.ones(3, bool), "yes", 1])
@pytest.mark.parametrize("form", ["aside", "in place"])
@pytest.mark.parametrize("when", ["packed first step", "per parameter", "repeated step"])
def test_a_kernel_answering_other_than_a_bool_is_a_plugin_error(answer: Any, form: str, when: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel runs to its end but forgets to say whether the values are finite (or answers with an array):
    a PluginError naming the kernel, with the parameters and the step count as before the step."""
    def forgetful(opt: Any, p: np.ndarray, g: np.ndarray, state: list, new_p: np.ndarray, new_state: list) -> Any:
        finite = numpy_sgd(opt, p, g, state, new_p, new_state)
        return finite if len(CALLS) == 1 and when == "repeated step" else answer

    kernel = in_place(forgetful) if form == "in place" else forgetful
    manager(monkeypatch, plugin("forgetful", {tn.SGD: ((), kernel)}))
    optimizer = tn.SGD(lr=0.5)
    params, grads = (([np.ones(3), np.ones(2)], [np.ones(3), None]) if when == "per parameter"
                     else (packed([np.ones(3)]), packed([np.ones(3)])))
    if when == "repeated step":
        optimizer.step(params, grads)
    before = [np.copy(p) for p in params]
    with pytest.raises(tn.PluginError, match=r"SGD kernel .*forgetful.* \(hook tn_optimizer_kernels\) returned "
                                             r".*expected True or False"):
        optimizer.step(params, grads)
    assert optimizer.steps == (1 if when == "repeated step" else 0)
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize(("bad", "cause"), [(np.inf, "gradient"), (np.nan, "gradient"), (1e308, "update")])
def test_a_failed_kernel_step_changes_nothing(bad: float, cause: str, kernels: Plugins) -> None:
    optimizer = tn.Momentum(lr=1.0, momentum=0.5)
    params = start([(3,), (2,)])
    params[1][:] = -1e308
    before = [p.copy() for p in params]
    grads = [np.ones(3), np.array([1.0, bad])]
    with pytest.raises(tn.NonFiniteError, match="parameter 1") as caught:
        optimizer.step(params, grads)
    assert (caught.value.parameter, caught.value.cause) == (1, cause)  # type: ignore[attr-defined]
    assert optimizer.steps == 0 and optimizer.state().keys() == {"steps"}  # state the step created is gone
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)
    optimizer.step(params, [np.ones(3), np.ones(2)])  # and the next step is the first
    assert optimizer.steps == 1
    np.testing.assert_array_equal(optimizer.state()["velocity/0"], np.ones(3))


def test_a_failed_step_keeps_the_state_of_earlier_steps(kernels: Plugins) -> None:
    optimizer, p = tn.Momentum(lr=0.1), np.zeros(3)
    optimizer.step([p], [np.ones(3)])
    state = {key: np.copy(value) for key, value in optimizer.state().items()}
    with pytest.raises(tn.NonFiniteError):
        optimizer.step([p], [np.array([1.0, np.nan, 1.0])])
    after = optimizer.state()
    assert after.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(after[key], state[key])
    np.testing.assert_array_equal(p, np.full(3, -0.1))


@pytest.mark.parametrize("optimizer", [tn.Adam(lr=1e-3), tn.RMSProp(lr=1e-3), tn.AdamW(lr=1e-3)])
@pytest.mark.parametrize(("dtype", "huge"), [(np.float32, 1e20), (np.float64, 1e160)])
def test_a_squared_gradient_that_overflows_is_refused(optimizer: tn.Optimizer, dtype: Any, huge: float) -> None:
    """g^2 = inf with a finite g leaves the step finite (m / sqrt(inf) = 0) but v inf: the NumPy path
    checks that state (the kernels check every value)."""
    p = np.ones(3, dtype)
    with pytest.raises(tn.NonFiniteError) as caught:
        optimizer.step([p], [np.array([huge, 1.0, 1.0], dtype)])
    assert (caught.value.parameter, caught.value.cause) == (0, "update")  # type: ignore[attr-defined]
    assert optimizer.steps == 0 and optimizer.state().keys() == {"steps"}
    np.testing.assert_array_equal(p, np.ones(3, dtype))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ([tn.SGD], r"\[<class 'tn_core.optimizers.SGD'>\], not a dict"),
        ({"sgd": ((), numpy_sgd)}, "the key 'sgd', which is not an Optimizer subclass"),
        ({tn.SGD: numpy_sgd}, r"<function numpy_sgd at \w+> for SGD, not \(state names, kernel\)"),
        ({tn.SGD: ("velocity", numpy_sgd)}, r"\('velocity', <function numpy_sgd at \w+>\) for SGD, not"),
        ({tn.SGD: ((), None)}, r"\(\(\), None\) for SGD, not \(state names, kernel\)"),
    ],
)
def test_a_malformed_answer_is_skipped_with_a_warning(answer: Any, error: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = manager(monkeypatch, plugin("odd", answer))
    with pytest.warns(RuntimeWarning, match="plugin 'odd' from tn-odd 1.0: its optimizer kernels are not used: "
                                            f"PluginError: tn_optimizer_kernels returned {error}"):
        assert plugins.optimizer_kernels() == {}
    p = np.ones(2)
    tn.SGD(lr=1.0).step([p], [np.ones(2)])  # training goes on, in NumPy
    np.testing.assert_array_equal(p, np.zeros(2))


def test_a_hook_that_raises_is_reported_by_tn_plugins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = types.ModuleType("broken")

    def no_compiler() -> None:
        raise ImportError("No module named 'numba'")

    broken.tn_optimizer_kernels = tn.hookimpl(no_compiler)  # type: ignore[attr-defined]
    manager(monkeypatch, broken, plugin("fused", {tn.SGD: ((), numpy_sgd)}))
    with pytest.warns(RuntimeWarning, match="plugin 'broken' .*: ImportError: No module named 'numba'"):
        assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "\nbroken 1.0\n  optimizer kernels: FAILED: ImportError: No module named 'numba'\n" in out
    assert "\nfused 1.0\n  optimizer kernels: SGD\n  distribution: tn-fused\n" in out


def test_a_class_two_plugins_give_a_kernel_keeps_the_numpy_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    one = plugin("one", {tn.SGD: ((), numpy_sgd), tn.Momentum: (("velocity",), numpy_momentum)})
    plugins = manager(monkeypatch, one, plugin("two", {tn.SGD: ((), numpy_sgd)}))
    assert set(plugins.optimizer_kernels()) == {tn.Momentum}
    tn.SGD(lr=0.1).step([np.ones(2)], [np.ones(2)])
    assert CALLS == []
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert ("\none 1.0\n  optimizer kernels: Momentum, SGD\n  ambiguous: optimizer kernel for SGD (not used), also "
            "registered by plugin 'two' from tn-two 1.0\n") in out
    assert "  ambiguous: optimizer kernel for SGD (not used), also registered by plugin 'one' from tn-one 1.0\n" in out


def test_kernels_are_collected_once_and_again_after_a_plugin_change(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def kernels() -> dict:
        asked.append(1)
        return {tn.SGD: ((), numpy_sgd)}

    counting = types.ModuleType("counting")
    counting.tn_optimizer_kernels = tn.hookimpl(kernels)  # type: ignore[attr-defined]
    plugins = manager(monkeypatch, counting)
    assert asked == []  # not at registration: a plugin may import a compiler in the hook
    for _ in range(3):
        tn.SGD().step([np.ones(2)], [np.ones(2)])
    assert len(asked) == 1 and len(CALLS) == 3
    plugins.unregister("counting")
    tn.SGD().step([np.ones(2)], [np.ones(2)])
    assert len(CALLS) == 3
