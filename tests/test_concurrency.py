"""Eight threads doing forward and backward at once give what one thread gives (numpy
reference engine, ``Bound.derivative``, jax eager and jit); torch is covered in fresh
processes by ``test_values.py``."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import spikegrad
from spikegrad.adapters import reference as engine

NAMES = ["atan", "erf", "triangle", "gaussian", "rect", "q_pseudo_spike", "dspike",
         "periodic_exponential", "squarewave_fourier_series", "sparse_fast_sigmoid"]


def _in_threads(work, n: int = 8) -> list:
    results: list = [None] * n
    errors: list[str] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # reported below, with the thread's case
            errors.append(f"thread {i}: {exc!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_numpy_forward_backward_in_threads() -> None:
    x = np.linspace(-3, 3, 4001)

    def work(i: int) -> list:
        out = []
        for name in NAMES[i % 2::2]:
            s = spikegrad.get(name)
            for dt in (np.float16, np.float32, np.float64):
                xd = x.astype(dt)
                spikes, residual = engine.forward(s, xd, key=np.random.default_rng(0))
                out += [spikes, engine.backward(s, residual, np.ones_like(xd)),
                        s.derivative(xd)]
        return out

    threaded = _in_threads(work)
    for i, got in enumerate(threaded):
        for a, b in zip(got, work(i), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def test_jax_forward_backward_in_threads() -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    x = jnp.linspace(-3, 3, 4001, dtype=jnp.float32)

    def work(i: int) -> list:
        name = NAMES[i]
        s = spikegrad.get(name)
        f = lambda v: sgj.spike(v, s).sum()
        return [np.asarray(sgj.spike(x, s)), np.asarray(jax.grad(f)(x)),
                np.asarray(jax.jit(jax.grad(f))(x))]

    threaded = _in_threads(work)
    for i, got in enumerate(threaded):
        for a, b in zip(got, work(i), strict=True):
            assert np.array_equal(a, b, equal_nan=True), NAMES[i]
