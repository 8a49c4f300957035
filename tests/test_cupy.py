"""The cupy adapter: generated CUDA for every surrogate (compiled with nvcc when present,
no GPU needed), and the adapter against the goldens on a CUDA device (skipped without
one)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import spikegrad
from spikegrad.codegen import cuda
from spikegrad.conformance import goldens
from spikegrad.conformance.accuracy import _floor

FUSED = [n for n in spikegrad.names() if not spikegrad.entry(n).formula.stochastic_backward]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (CUDA toolkit) not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generated_cuda_compiles_for_every_surrogate(dtype: str, tmp_path) -> None:
    parts = []
    for i, name in enumerate(FUSED):
        for j, case in enumerate(c for c in goldens.cases(name, dtype)):
            s = spikegrad.get(name, **case.params)
            parts.append(cuda.module_source(s, dtype, f"k{i}_{j}", prelude=not parts))
    src = tmp_path / "kernels.cu"
    src.write_text("\n".join(parts))
    out = subprocess.run(["nvcc", "-ptx", "-diag-suppress", "177", "-o",
                          str(tmp_path / "kernels.ptx"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]
    ptx = (tmp_path / "kernels.ptx").read_text()
    assert ptx.count(".entry") == len(parts)


def test_elementwise_pieces_use_selects_and_float32_for_half() -> None:
    e = cuda.elementwise(spikegrad.get("s2nn"), "float16")
    assert e.in_params == "float16 x, float16 g" and e.out_params == "float16 out"
    assert "const float xv = (float)x;" in e.operation and " ? " in e.operation
    assert "out = (float16)" in e.operation
    with pytest.raises(NotImplementedError, match="stochastic"):
        cuda.elementwise(spikegrad.get("stochastic_spike_operator"), "float32")


def _cuda_available() -> bool:
    try:
        import cupy
    except ImportError:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # any CUDA runtime error means no usable device
        return False


needs_gpu = pytest.mark.skipif(not _cuda_available(),
                               reason="needs CuPy and a CUDA device (none on this machine)")


@needs_gpu
@pytest.mark.parametrize("case", list(goldens.cases()), ids=lambda c: c.id)
def test_cupy_matches_goldens(case: goldens.Case) -> None:  # pragma: no cover - GPU only
    import cupy

    import spikegrad.cupy as sgc

    s = spikegrad.get(case.name, **case.params)
    x = cupy.asarray(case.inputs())
    spikes, res = sgc.forward(s, x, key=cupy.random.default_rng(0))
    g = sgc.backward(s, res, cupy.ones_like(x))
    assert g.dtype == x.dtype and spikes.dtype == x.dtype
    if not s.entry.forward.startswith("bernoulli"):
        np.testing.assert_array_equal(cupy.asnumpy(spikes), s.spike(case.inputs()))
    m = goldens.compare(cupy.asnumpy(g), case.d_hi, case.d_lo, case.x, case.dtype,
                        float(s.entry.x_scale(s.params)), _floor(case))
    assert not m.bad_special and m.max_ulp_core <= 16.0
    fs, fg = sgc.forward_backward(s, x, cupy.ones_like(x))
    assert fs.dtype == x.dtype
    np.testing.assert_array_equal(cupy.asnumpy(fg), cupy.asnumpy(g))


@needs_gpu
def test_dlpack_round_trip_with_torch() -> None:  # pragma: no cover - GPU only
    torch = pytest.importorskip("torch")
    import cupy

    import spikegrad.cupy as sgc

    t = torch.linspace(-2, 2, 1001, device="cuda")
    x = cupy.from_dlpack(t)
    _, res = sgc.forward("atan", x)
    gx = torch.from_dlpack(sgc.backward("atan", res, cupy.ones_like(x)))
    assert gx.device == t.device
    expected = spikegrad.get("atan").derivative(t.cpu().numpy())
    np.testing.assert_allclose(gx.cpu().numpy(), expected, rtol=1e-6)


def test_cupy_module_names_the_extra_when_missing() -> None:
    if _cuda_available():
        pytest.skip("cupy is installed here")
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"spikegrad\[cupy\]"):
            import spikegrad.cupy  # noqa: F401
    else:
        pytest.skip("cupy imports (no device): the adapter loads, kernels need a GPU")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (CUDA toolkit) not installed")
def test_a_new_surrogate_gets_a_cuda_kernel_with_no_other_edit(tmp_path) -> None:
    from .test_codegen import _new_surrogate

    s = _new_surrogate()
    e = cuda.elementwise(s, "float32")
    assert "expf" in e.operation
    src = tmp_path / "new.cu"
    src.write_text(cuda.module_source(s, "float64"))
    out = subprocess.run(["nvcc", "-ptx", "-diag-suppress", "177", "-o",
                          str(tmp_path / "new.ptx"), str(src)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
