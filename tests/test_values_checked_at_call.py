"""Parameter values are checked where they change: a module's or a pytree's array
parameters are checked against their domains at each call, where reading them costs no
device synchronisation (CPU tensors outside ``torch.compile``, concrete jax arrays).

Findings: a value an optimizer step produced was never re-checked.
``m = sgt.Surrogate('heavi_circ', learnable=True); m.alpha.data.fill_(0.)`` then backward
gave NaN with no error, while ``sgt.atan(x, alpha=torch.tensor(0.))`` raised; alpha < 0
silently flipped the sign of g' (atan, erf, gaussian); alpha = 1e9 was accepted; a NaN
``v_threshold`` in a DSR node gave no spikes and a zero gradient.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")

import spikegrad.torch as sgt  # noqa: E402

BAD = {"zero": 0.0, "negative": -1.0, "huge": 1e9, "nan": math.nan}


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("name", ["heavi_circ", "atan", "erf", "gaussian"])
def test_a_learnable_value_set_after_binding_is_refused_at_the_next_call(name: str,
                                                                          bad: str) -> None:
    m = sgt.Surrogate(name, learnable=True)
    x = torch.linspace(-1, 1, 9, requires_grad=True)
    m(x).sum().backward()
    pname = next(iter(dict(m.named_parameters())))
    getattr(m, pname).data.fill_(BAD[bad])
    with pytest.raises(ValueError, match=rf"{name} \(Surrogate call 2\): {pname} must be"):
        m(x)


def test_an_optimizer_step_out_of_the_domain_names_the_step() -> None:
    m = sgt.Surrogate("atan", learnable=True)
    opt = torch.optim.SGD(m.parameters(), lr=100.0)
    x = torch.linspace(-1, 1, 9)
    with pytest.raises(ValueError, match=r"atan \(Surrogate call (\d+)\): alpha must be .* got -"):
        for _ in range(5):
            opt.zero_grad()
            # the loss pushes alpha down: d/dalpha of sum(g'(x)) > 0 for small |x|
            x.requires_grad_(True)
            (gx,) = torch.autograd.grad(m(x).sum(), x, create_graph=True)
            gx.sum().backward()
            opt.step()


def test_a_nan_threshold_in_a_dsr_node_is_refused() -> None:
    node = sgt.DSRIFNode(T=4)
    node(torch.rand(4, 3))
    node.v_threshold.data.fill_(math.nan)
    with pytest.raises(ValueError, match=r"dsr_if \(DSRIFNode call 2\): v_threshold must be"):
        node(torch.rand(4, 3))


def test_a_buffer_value_is_checked_too() -> None:
    m = sgt.Surrogate("atan", alpha=torch.tensor(2.0))
    m.alpha.fill_(-2.0)
    with pytest.raises(ValueError, match=r"alpha must be"):
        m(torch.zeros(3))


def test_valid_values_pass_and_the_module_keeps_working() -> None:
    m = sgt.Surrogate("atan", learnable=True)
    x = torch.linspace(-1, 1, 9, requires_grad=True)
    for v in (2.0, 0.5, 1e3):
        m.alpha.data.fill_(v)
        (g,) = torch.autograd.grad(m(x).sum(), x)
        assert torch.isfinite(g).all()


def test_a_compiled_module_reads_nothing_and_does_not_recompile() -> None:
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    m = sgt.Surrogate("atan", learnable=True)
    f = torch.compile(m, fullgraph=True)
    x = torch.linspace(-1, 1, 9, requires_grad=True)
    for _ in range(4):
        f(x).sum().backward()
    assert counters["stats"]["unique_graphs"] == 1
    assert m._calls == 0


def test_jax_pytree_values_are_checked_at_call() -> None:
    jax = pytest.importorskip("jax", reason="needs JAX (pip install jax)")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    s = sgj.Surrogate("atan", alpha=jnp.asarray(2.0))
    x = jnp.linspace(-1, 1, 9)
    s(x)
    moved = jax.tree_util.tree_map(lambda a: a - 3.0, s)  # an update step past the domain
    with pytest.raises(ValueError, match=r"atan \(Surrogate parameters at this call\): "
                                         r"alpha must be"):
        moved(x)
    # under jit the value is a tracer: not read, and the trace works
    assert jax.jit(lambda v, sg: sg(v))(x, s).shape == x.shape


def test_jax_multistep_threshold_is_checked_at_call() -> None:
    jax = pytest.importorskip("jax", reason="needs JAX (pip install jax)")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    node = sgj.MultiStep("dsr_if", v_threshold=jnp.asarray(1.0))
    bad = jax.tree_util.tree_map(lambda v: v * jnp.nan, node)
    with pytest.raises(ValueError, match=r"v_threshold must be"):
        bad(jnp.ones((4, 3)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bad", [None, "nan", "zero", "negative", "inf"])
def test_a_large_parameter_is_checked_in_one_generated_pass(
        dtype: torch.dtype, bad: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A per-neuron parameter's domain is checked at each call from its extremes, read in
    one generated pass (torch's ``aminmax`` of 2^18 values took 27 us of a 2^18 call);
    one bad value anywhere is refused, and the pass agrees with ``aminmax``."""
    from spikegrad import _arrays
    from spikegrad.adapters import torch as adapter

    used: list[tuple[float, float] | None] = []
    real = adapter._extremes
    monkeypatch.setitem(_arrays.FAST_EXTREMES, "torch",
                        lambda v: used.append(real(v)) or used[-1])
    alpha = torch.full((64, 129), 2.0, dtype=dtype)  # 8256 values: not a multiple of 64
    alpha[63, 128] = 2.5
    if bad is not None:
        alpha[37, 101] = {"nan": math.nan, "zero": 0.0, "negative": -1.0,
                          "inf": math.inf}[bad]
    x = torch.randn(64, 129, dtype=dtype, requires_grad=True)
    if bad is None:
        sgt.atan(x, alpha=alpha).sum().backward()
    else:
        with pytest.raises(ValueError, match="alpha must be"):
            sgt.atan(x, alpha=alpha)
    assert used and used[0] is not None
    lo, hi = (float(v) for v in torch.aminmax(alpha))
    if bad == "nan":
        assert all(math.isnan(v) for v in used[0])
    else:
        assert used[0] == (lo, hi)
