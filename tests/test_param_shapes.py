"""An array parameter broadcasts against ``x`` without enlarging it; otherwise a
``ValueError`` names it.

Finding: ``sgt.atan(x5, alpha=torch.full((5, 1), 2.))`` made the spike ``(5, 5)`` and
``x.grad`` five times the true ``g'``; with grad on ``alpha`` it failed with a shape error
that named nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest

import spikegrad

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

from oracles import ORACLES

X = np.array([-1.5, -0.25, 0.0, 0.4, 2.0])
BAD = [(5, 1), (2, 5), (3,), (1, 1, 5, 1)]


def _truth(alpha: np.ndarray) -> np.ndarray:
    """g'(x; alpha) of atan, elementwise, from the mpmath oracle."""
    d_atan = ORACLES["atan"][0]
    a = np.broadcast_to(alpha, X.shape)
    return np.array([float(d_atan(mpmath.mpf(float(x)), {"alpha": mpmath.mpf(float(v))}))
                     for x, v in zip(X, a, strict=True)])


def _torch():
    return pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")


@pytest.mark.parametrize("shape", BAD, ids=str)
def test_numpy_refuses_a_parameter_that_enlarges_x(shape: tuple[int, ...]) -> None:
    s = spikegrad.get("atan", alpha=np.full(shape, 2.0))
    for call in (s.derivative, s.primitive, s.spike):
        with pytest.raises(ValueError, match=r"atan: parameter alpha has shape"):
            call(X)


@pytest.mark.parametrize("shape", BAD, ids=str)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_torch_refuses_a_parameter_that_enlarges_x(shape: tuple[int, ...],
                                                    requires_grad: bool) -> None:
    torch = _torch()
    import spikegrad.torch as sgt

    x = torch.tensor(X, requires_grad=True)
    alpha = torch.full(shape, 2.0, dtype=torch.float64, requires_grad=requires_grad)
    with pytest.raises(ValueError, match=r"parameter alpha has shape .* x's shape \(5,\)"):
        sgt.atan(x, alpha=alpha)
    layer = sgt.Surrogate("atan", spiking=False, alpha=alpha)
    with pytest.raises(ValueError, match="parameter alpha"):
        layer(x)


@pytest.mark.parametrize("shape", BAD, ids=str)
def test_jax_refuses_a_parameter_that_enlarges_x(shape: tuple[int, ...]) -> None:
    jnp = pytest.importorskip("jax.numpy", reason="needs JAX (pip install jax)")
    import spikegrad.jax as sgj

    with pytest.raises(ValueError, match="parameter alpha has shape"):
        sgj.atan(jnp.asarray(X, dtype=jnp.float32), alpha=jnp.full(shape, 2.0))


@pytest.mark.parametrize("shape", [(), (1,), (5,), (1, 5)], ids=str)
def test_torch_broadcasting_parameters_give_the_true_gradient(shape: tuple[int, ...]) -> None:
    """Shapes that fit: the gradient is g' itself (the oracle), not a multiple."""
    torch = _torch()
    import spikegrad.torch as sgt

    n = int(np.prod(shape))
    alpha = np.linspace(1.0, 3.0, n).reshape(shape) if n > 1 else np.full(shape, 2.0)
    xs = X.reshape((1, 5)) if len(shape) == 2 else X
    x = torch.tensor(xs, requires_grad=True)
    y = sgt.atan(x, alpha=torch.tensor(alpha, requires_grad=True))
    assert tuple(y.shape) == xs.shape
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy().ravel(), _truth(alpha.reshape(-1)), rtol=1e-14)
