"""Sharded DSR gradients for tests/test_multistep_parallel.py.

Run in a fresh process with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``: prints
JSON with the input and threshold gradients of a batch sharded over two host devices and of
the same batch on one device.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import spikegrad.jax as sgj


def loss(x: jax.Array, v: jax.Array, name: str) -> jax.Array:
    y = sgj.multistep(x, name, v_threshold=v)
    return jnp.mean(jnp.sum(y * y, axis=(0, 2)))


def main() -> None:
    assert len(jax.devices()) == 2, jax.devices()
    rng = np.random.default_rng(3)
    out = {}
    for name, centre in (("dsr_if", 1.0), ("dsr_lif", 30.0)):
        x = jnp.asarray(rng.normal(centre, 20.0, (8, 6, 16)).astype(np.float32))
        v = jnp.asarray(1.0, jnp.float32)
        grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
        gx1, gv1 = grad(x, v, name)
        mesh = Mesh(np.array(jax.devices()), ("batch",))
        xs = jax.device_put(x, NamedSharding(mesh, PartitionSpec(None, "batch")))
        vs = jax.device_put(v, NamedSharding(mesh, PartitionSpec()))
        gx2, gv2 = grad(xs, vs, name)
        out[name] = {"sharded_over": len(gx2.sharding.device_set),
                     "gx_max_diff": float(jnp.max(jnp.abs(gx2 - gx1))),
                     "gv": [float(gv1), float(gv2)],
                     "gx_abs": float(jnp.max(jnp.abs(gx1)))}
    # an elementwise surrogate with an array width: the width's gradient is a sum too
    x = jnp.asarray(rng.normal(0.0, 1.0, (8, 6, 16)).astype(np.float32))
    alpha = jnp.asarray(2.0, jnp.float32)

    def eloss(x: jax.Array, a: jax.Array) -> jax.Array:
        return jnp.mean(jnp.sum(sgj.atan(x, alpha=a) * x, axis=(0, 2)))

    egrad = jax.jit(jax.grad(eloss, argnums=(0, 1)))
    gx1, ga1 = egrad(x, alpha)
    gx2, ga2 = egrad(jax.device_put(x, NamedSharding(mesh, PartitionSpec(None, "batch"))),
                     jax.device_put(alpha, NamedSharding(mesh, PartitionSpec())))
    out["atan"] = {"sharded_over": len(gx2.sharding.device_set),
                   "gx_max_diff": float(jnp.max(jnp.abs(gx2 - gx1))),
                   "gv": [float(ga1), float(ga2)], "gx_abs": float(jnp.max(jnp.abs(gx1)))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
