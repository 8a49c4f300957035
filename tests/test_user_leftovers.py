"""User-facing leftovers: reprs that show what a layer holds, ``learnable=`` where there is
nothing to learn, and the edges of the parameter and input domains (a bool after an equal
int, an int beyond float, a longdouble input, a multi-step name in a single-step call)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import spikegrad

FRONTS = ["torch", "jax"]


def _front(name: str) -> tuple[Any, Any]:
    """``(front module, array maker)`` of ``spikegrad.torch`` / ``spikegrad.jax``."""
    if name == "torch":
        pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")
        import torch

        import spikegrad.torch as front

        return front, lambda v: torch.as_tensor(np.asarray(v, np.float32))
    pytest.importorskip("jax", reason="needs JAX (pip install jax)")
    import jax.numpy as jnp

    import spikegrad.jax as front

    return front, lambda v: jnp.asarray(np.asarray(v, np.float32))


# -- 1. reprs show the parameters ------------------------------------------------------------
def test_repr_shows_params_and_learnable() -> None:
    torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")
    import spikegrad.torch as sgt

    assert repr(sgt.Surrogate("atan", alpha=2.0, learnable=True)) == (
        "Surrogate('atan', alpha=2.0, learnable=True)")
    assert repr(sgt.Surrogate("atan", alpha=2.0)) == "Surrogate('atan', alpha=2.0)"
    assert repr(sgt.Surrogate("atan", spiking=False)) == (
        "Surrogate('atan', alpha=2.0, spiking=False)")
    # a subset of the real parameters learnable (a float32 0.3 shows as 0.3); a buffer by value
    text = repr(sgt.Surrogate("triangle", half_width=torch.tensor(0.5), learnable=["height"]))
    assert text == "Surrogate('triangle', height=0.3, half_width=0.5, learnable=['height'])"
    # a tensor parameter of more than 0 dimensions shows its shape
    text = repr(sgt.Surrogate("atan", alpha=torch.full((3,), 2.0), learnable=True))
    assert re.fullmatch(r"Surrogate\('atan', alpha=<Parameter shape \(3,\)>, learnable=True\)",
                        text), text
    # the value a learnable parameter holds now, not the one it was bound with
    m = sgt.Surrogate("atan", learnable=True)
    m.alpha.data.fill_(3.0)
    assert "alpha=3.0" in repr(m)
    # multi-step layers show the threshold and whether it trains
    text = repr(sgt.DSRIFNode(v_threshold=5.0))
    assert text.startswith("DSRIFNode(T=None, v_threshold=5.0, alpha=0.5, "), text
    assert "v_threshold_training=True" in text
    text = repr(sgt.MultiStepNode("dsr_lif", v_threshold_training=False))
    assert text.startswith("MultiStepNode('dsr_lif', T=None, v_threshold=1.0, "), text
    assert "v_threshold_training=False" in text


def test_repr_jax_surrogate() -> None:
    pytest.importorskip("jax", reason="needs JAX (pip install jax)")
    import jax
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    assert repr(sgj.Surrogate("atan", alpha=2.0)) == "spikegrad.jax.Surrogate('atan', alpha=2.0)"
    assert repr(sgj.Surrogate("atan", alpha=jnp.asarray(2.0), spiking=False)) == (
        "spikegrad.jax.Surrogate('atan', alpha=2.0, spiking=False)")
    text = repr(sgj.Surrogate("atan", alpha=jnp.full((3,), 2.0)))
    assert re.fullmatch(r"spikegrad\.jax\.Surrogate\('atan', alpha=<\w+ shape \(3,\)>\)",
                        text), text
    # inside a trace the leaves are tracers: shown by shape, never read
    seen: list[str] = []

    def f(alpha: Any) -> Any:
        s = sgj.Surrogate("atan", alpha=alpha)
        seen.append(repr(s))
        return s(jnp.zeros(2)).sum()

    jax.jit(f)(jnp.asarray(2.0))
    assert re.fullmatch(r"spikegrad\.jax\.Surrogate\('atan', alpha=<\w+ shape \(\)>\)",
                        seen[0]), seen[0]
    text = repr(sgj.MultiStep("dsr_if", v_threshold=jnp.asarray(5.0)))
    assert text.startswith("spikegrad.jax.MultiStep('dsr_if', v_threshold=5.0, alpha=0.5"), text


# -- 2. learnable= with nothing to learn ----------------------------------------------------
@pytest.mark.parametrize(("name", "listed"), [
    ("straight_through", "it has no parameters"),
    ("poisson_pass", "it has no parameters"),
    ("multi_level_spike_count", "max_spike_count (integer"),
])
def test_learnable_without_parameters_rejected(name: str, listed: str) -> None:
    pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")
    import spikegrad.torch as sgt

    kwargs: dict[str, Any] = {}
    if spikegrad.entry(name).stochastic:
        import torch

        kwargs["key"] = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=rf"{name} has no real parameter to learn") as exc:
        sgt.Surrogate(name, learnable=True, **kwargs)
    assert listed in str(exc.value)
    sgt.Surrogate(name, learnable=False, **kwargs)  # nothing asked: accepted


# -- 3. the domain leftovers ---------------------------------------------------------------
@pytest.mark.parametrize("front", FRONTS)
def test_bool_param_rejected_after_int_cached(front: str) -> None:
    mod, arr = _front(front)
    x = arr([-0.5, 0.5])
    mod.spike(x, "atan", alpha=1)  # the cache holds alpha=1 now (True == 1, same hash)
    mod.atan(x, alpha=1)
    for call in (lambda: mod.spike(x, "atan", alpha=True),
                 lambda: mod.atan(x, alpha=True),
                 lambda: mod.spike(x, "atan", alpha=np.bool_(True))):
        with pytest.raises(TypeError, match="atan: alpha must be a number, got bool"):
            call()
    # and the other way round: a bool parameter given 1 after True is cached
    mod.spike(x, "heaviside_window", inclusive=True)
    with pytest.raises(TypeError, match="inclusive must be True or False, got 1"):
        mod.spike(x, "heaviside_window", inclusive=1)
    with pytest.raises(TypeError, match="alpha must be a number, got bool"):
        spikegrad.get("atan", alpha=True)  # the cache-free path says the same


@pytest.mark.parametrize("front", ["core", *FRONTS])
def test_huge_int_param_is_value_error(front: str) -> None:
    if front == "core":
        def call(**params: Any) -> Any:
            return spikegrad.get("atan", **params)
    else:
        mod, arr = _front(front)

        def call(**params: Any) -> Any:
            return mod.spike(arr([0.5]), "atan", **params)

    for huge in (10**400, -(10**400)):
        with pytest.raises(ValueError, match=r"atan: alpha must be in \[1e-06, 1e\+06\].*got "
                                             r"an integer too large for a float"):
            call(alpha=huge)
    with pytest.raises(ValueError, match=r"n_terms must be integer in \[1, 100\].*too large"):
        spikegrad.get("squarewave_fourier_series", n_terms=10**400)
    with pytest.raises(ValueError, match=r"atan: alpha must be in"):
        spikegrad.get("atan", alpha=10**5000)  # beyond Python's int-to-str limit too


@pytest.mark.skipif(np.finfo(np.longdouble).bits == 64,
                    reason="longdouble is float64 on this platform")
def test_longdouble_input_is_type_error() -> None:
    from spikegrad.adapters import reference as ref

    x = np.linspace(-1, 1, 5).astype(np.longdouble)
    pattern = (r"x has a float\d+ dtype \(float\d+\).*float16, bfloat16, float32 or float64.*"
               r"x\.astype\(np\.float64\)")
    for name in ("atan", "tanh", "triangle", "squarewave_fourier_series"):
        b = spikegrad.get(name)
        for call in (b.spike, b.derivative, b.primitive, ref.derivative_values,
                     ref.primitive_values):
            fn = call if call in (b.spike, b.derivative, b.primitive) else (
                lambda v, c=call, b=b: c(b, v))
            with pytest.raises(TypeError, match=pattern):
                fn(x)
        with pytest.raises(TypeError, match=pattern):
            ref.forward(b, x)
        with pytest.raises(TypeError, match=r"residual has a float\d+ dtype"):
            ref.backward(b, x, np.ones_like(x))
    ms = spikegrad.get("dsr_if")
    with pytest.raises(TypeError, match=pattern):
        ms.forward(x[:, None])
    with pytest.raises(TypeError, match=pattern):
        ms.spike(x[:, None])
    # float64 and float32 still evaluate
    assert spikegrad.get("tanh").derivative(x.astype(np.float64)).dtype == np.float64
    assert spikegrad.get("tanh").derivative(x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("front", FRONTS)
def test_multistep_name_in_single_step_spike(front: str) -> None:
    mod, arr = _front(front)
    x = arr([-0.5, 0.5])
    layer = "DSRIFNode" if front == "torch" else r"MultiStep\('dsr_if'\)"
    pattern = (rf"dsr_if is a multi-step surrogate.*spikegrad\.{front}\.multistep\(x_seq, "
               rf"'dsr_if'\).*spikegrad\.{front}\.{layer}")
    for call in (lambda: mod.spike(x, "dsr_if"),
                 lambda: mod.spike(x, "dsr_if", v_threshold=1.0),
                 lambda: mod.spike(x, spikegrad.get("dsr_if")),
                 lambda: mod.spike(x, spikegrad.entry("dsr_if")),
                 lambda: mod.Surrogate("dsr_if"),
                 lambda: mod.function("dsr_if")):
        with pytest.raises(ValueError, match=pattern):
            call()
    lif = "DSRLIFNode" if front == "torch" else r"MultiStep\('dsr_lif'\)"
    with pytest.raises(ValueError, match=rf"spikegrad\.{front}\.{lif}"):
        mod.spike(x, "dsr_lif")
    # an elementwise name still works afterwards
    mod.spike(x, "atan")
