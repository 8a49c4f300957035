"""The torch adapter: any surrogate definition as one generic ``torch.autograd.Function``.

There is no per-surrogate (or per-parameter-value) class: :class:`_Spike` takes the bound
surrogate as a constant argument and its array parameters as tensor inputs,
``_Spike.apply(x, bound, key, p0, ..., p7)``, so nothing is created per call and
``torch.compile(fullgraph=True)`` traces it on the first call, with or without grad.  The
forward writes the spike in the input's dtype; the backward gives

* ``grad_x = grad * g'(x; θ)`` (a fused generated kernel on eager CPU calls with number
  parameters, the spec's formula with torch ops everywhere else, differentiable for
  ``create_graph=True``: double backward gives ``grad * g''(x)``);
* for each tensor parameter θ that requires grad, ``Σ grad · ∂g(x; θ)/∂θ``, the derivative
  of the spec's primitive obtained with ``torch.func.vjp`` and reduced over the dimensions
  θ was broadcast along; it is itself differentiable in θ (meta-gradients).

Forward mode (``jvp``) and ``vmap`` (``generate_vmap_rule``) are supported, so the Function
works under ``torch.func``.  Dynamo does not trace custom ``jvp`` methods, so under
``torch.compile`` the twin class without one is used.

Autocast: the Function is not autocast-eligible; like elementwise ops it runs in the dtype
of its input and returns the spike in that dtype (float16/bfloat16 are computed in float32
internally and rounded once).  Tensor parameters are used in that compute dtype; their
gradients come back in their own dtype.
"""

from __future__ import annotations

import ctypes
import threading
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import _arrays, special
from .._arrays import framework_of
from .._evaluate import (
    check_param_shapes,
    derivative_compute,
    differentiable_derivative,
    forward_compute,
    primitive_compute,
)
from .._spec import Bound, mapped_numbers
from ..codegen import cpu, replay
from . import _pages, _torch_native
from .torch_multistep import apply as _multistep_apply
from .torch_tensors import FLOATS as _FLOATS
from .torch_tensors import (
    apply_positional,
    backward_applies,
    check_tensor,
    fast_path_ok,
    set_fast_path,
)
from .torch_tensors import cast as _cast
from .torch_tensors import xp as _xp

if TYPE_CHECKING:  # (the front end's type: a binding never imports a front end)
    from .._frontend import NumberCall

__all__ = ["MAX_TENSOR_PARAMS", "check_tensor", "derivative", "function_for", "multistep",
           "primitive", "set_fast_path", "spike"]

#: Tensor parameters one surrogate may have (positional slots of the Function).
MAX_TENSOR_PARAMS = 8


def _overrides(bound: Bound, tensors: tuple[Any, ...]) -> dict[str, Any] | None:
    names = bound.array_param_names
    if not names:
        return None
    return dict(zip(names, tensors, strict=False))


def derivative(bound: Bound, x: torch.Tensor, key: Any = None,
               params: tuple[Any, ...] = ()) -> torch.Tensor:
    """``g'(x)`` with torch ops (differentiable, also in tensor parameters), in ``x``'s
    dtype."""
    return differentiable_derivative(bound, _cast(x), _xp(), key, _overrides(bound, params),
                                     torch.Tensor.detach).to(x.dtype)


def primitive(bound: Bound, x: torch.Tensor, params: tuple[Any, ...] = ()) -> torch.Tensor:
    """``g(x)`` with torch ops (differentiable, also in tensor parameters), in ``x``'s
    dtype."""
    return primitive_compute(bound, _cast(x), _xp(), _overrides(bound, params)).to(x.dtype)


# -- fused CPU kernels -------------------------------------------------------------------
_FUSED_DTYPES = {torch.float32: "float32", torch.float64: "float64",
                 torch.float16: "float32", torch.bfloat16: "float32"}
_HALF = (torch.float16, torch.bfloat16)
_fused_state: dict[str, Any] = {"no_compiler": False}
_KERNEL_FAILURES: dict[Any, str] = {}
#: (formula, reason) pairs already warned about: a reason that does not depend on the dtype
#: or the kind of kernel (an operation the tracer does not model) warns once per formula.
_KERNEL_WARNED: set[tuple[Any, str]] = set()
_KERNEL_LOCK = threading.Lock()


#: what the warnings say of the fallback
_FALLBACK = ("torch ops (the same formula, slower; not bit-identical where it calls exp, erf, "
             "tanh or cos, which torch and the C library round differently by a few ULP)")


#: below this many values torch's own reduction is as fast as a call into C
_FAST_EXTREMES_MIN = 4096
_EXTREMES_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


def _extremes(value: torch.Tensor) -> tuple[float, float] | None:
    """``(min, max)`` of a large contiguous float32/float64 CPU tensor in one generated
    pass (a parameter's domain check at each call: torch's ``aminmax`` of a per-neuron
    parameter at 2^18 values took 27 us), or ``None`` where torch's reduction serves
    (small, other dtypes, not contiguous, no compiler)."""
    dtype = _EXTREMES_DTYPES.get(value.dtype)
    if (dtype is None or value.numel() < _FAST_EXTREMES_MIN or not value.is_contiguous()
            or _fused_state["no_compiler"]):
        return None
    fn = _built(("extremes", dtype), "the domain check", lambda: cpu.extremes(dtype))
    if fn is None:
        return None
    out = (ctypes.c_double * 2)()
    fn(value.data_ptr(), value.numel(), ctypes.addressof(out))
    return out[0], out[1]


_arrays.FAST_EXTREMES["torch"] = _extremes


def _built(fkey: Any, name: str, build: Any) -> Any:
    """``build()``, or ``None`` where it fails: one warning per formula and reason,
    naming it and the fallback (torch ops); ``fkey`` is ``(formula, dtype, ...)``."""
    if _fused_state["no_compiler"] or fkey in _KERNEL_FAILURES:
        return None
    try:
        return build()
    except cpu.CompilerUnavailable as exc:
        _fused_state["no_compiler"] = True
        warnings.warn(f"spikegrad: fused CPU kernels unavailable ({exc}); the backward uses "
                      f"{_FALLBACK}", RuntimeWarning, stacklevel=5)
    except cpu.KERNEL_BUILD_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}"
        with _KERNEL_LOCK:
            _KERNEL_FAILURES[fkey] = reason
            first = (fkey[0], reason) not in _KERNEL_WARNED
            _KERNEL_WARNED.add((fkey[0], reason))
        if first:
            warnings.warn(f"spikegrad: no fused CPU kernel for {name} "
                          f"({type(exc).__name__}: {str(exc)[:200]}); its backward uses "
                          f"{_FALLBACK}", RuntimeWarning, stacklevel=5)
    return None


def _kernel(bound: Bound, dtype: torch.dtype) -> Any:
    """``bound``'s compiled kernels for ``dtype``, or ``None`` where they cannot be built."""
    return _built((bound.formula, _FUSED_DTYPES[dtype]), bound.name,
                  lambda: cpu.kernels(bound, _FUSED_DTYPES[dtype]))


def param_layouts(x_shape: Any, params: tuple[torch.Tensor, ...]
                  ) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """How the parameter kernels read each tensor parameter against ``x`` of shape
    ``x_shape`` (see :func:`spikegrad.codegen.cpu.param_source_and_constants`): ``"s"``
    for one value, ``"c"`` where every other parameter spans the same block of ``x``'s
    dimensions (:func:`spikegrad.codegen.cpu.channel_block`: per channel, per feature of
    a batch), else ``"e"``; and ``(m, inner)`` of the channels (empty without)."""
    ones = [p.numel() == 1 for p in params]
    if all(ones):
        return ("s",) * len(params), ()
    shape = tuple(x_shape)
    blocks = [None if one else cpu.channel_block(shape, tuple(p.shape))
              for p, one in zip(params, ones, strict=True)]
    spans = {b for b, p in zip(blocks, params, strict=True) if p.numel() != 1}
    if len(spans) == 1 and None not in spans:
        return tuple("s" if b is None else "c" for b in blocks), spans.pop()
    return tuple("s" if p.numel() == 1 else "e" for p in params), ()


def _fused_param_backward(bound: Bound, x: torch.Tensor, grad: torch.Tensor,
                          params: tuple[torch.Tensor, ...]
                          ) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
    """``(grad_x, [Σ grad ∂g/∂θ_k])`` in one generated C loop for plain CPU tensors in
    eager mode (:func:`spikegrad.codegen.cpu.param_kernel`), or ``None`` where it does not
    apply (then torch ops and autodiff of the primitive serve).  The parameters are laid
    out as :func:`param_layouts` says: one value summed in the loop, one per channel
    summed per channel in the loop, else expanded to ``x``'s shape and the per-element
    gradient summed to its shape."""
    if (bound.formula.stochastic_backward or not bound.has_primitive
            or not fast_path_ok(x, grad, *params) or not backward_applies(x, grad)
            or not all(p.is_floating_point() for p in params)):
        return None
    cdt = torch.float32 if x.dtype in _HALF else x.dtype
    dtype = _FUSED_DTYPES[cdt]
    layouts, dims = param_layouts(x.shape, params)
    static = bound.static_items  # the array values as None
    kern = _built((bound.formula, dtype, "params"), bound.name,
                  lambda: cpu.param_kernel(bound.entry, static, dtype, layouts))
    if kern is None:
        return None
    xc = x.detach().to(cdt).contiguous()
    gc = grad.to(cdt).contiguous()
    values, outs = [], []
    for p, lay in zip(params, layouts, strict=True):
        pc = p.detach().to(cdt)
        if lay == "s":
            values.append(pc.reshape(()))
            outs.append(None)
        elif lay == "c":  # the channels' values in x's order; their sums in double
            values.append(pc.contiguous())
            outs.append(torch.zeros(dims[0], dtype=torch.float64))
        else:
            trimmed = pc.reshape(pc.shape[max(0, pc.dim() - xc.dim()):])
            values.append(trimmed.expand(xc.shape).contiguous())
            outs.append(torch.empty_like(xc))
    gx = _pages.empty_like(xc)
    acc = torch.zeros(len(params), dtype=torch.float64)
    shape = (ctypes.c_int64 * 2)(*(dims or (1, 1)))
    kern(xc.data_ptr(), gc.data_ptr(), gx.data_ptr(),
         [(v.data_ptr(), 0 if o is None else o.data_ptr()) for v, o in zip(values, outs,
                                                                          strict=True)],
         acc.data_ptr(), xc.numel(), ctypes.addressof(shape))
    grads = []
    for k, (p, o, lay) in enumerate(zip(params, outs, layouts, strict=True)):
        if o is None:
            grads.append(acc[k].to(p.dtype).reshape(p.shape))
        elif lay == "c":
            grads.append(o.to(p.dtype).reshape(p.shape))
        else:
            trimmed = p.shape[max(0, p.dim() - xc.dim()):]
            grads.append(o.sum_to_size(trimmed).to(p.dtype).reshape(p.shape))
    return gx.to(x.dtype), grads


def _fused_backward(bound: Bound, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor | None:
    """``grad * g'(x)`` in one generated C loop, for plain CPU tensors in eager mode with
    number parameters; ``None`` where it does not apply."""
    if (bound.has_array_params or bound.formula.stochastic_backward
            or not fast_path_ok(x, grad) or not backward_applies(x, grad)):
        return None
    kern = _kernel(bound, x.dtype)
    if kern is None:
        return None
    if x.dtype in _HALF:
        xc, gc = x.float().contiguous(), grad.float().contiguous()
    else:
        xc = x if x.is_contiguous() else x.contiguous()
        gc = grad if grad.is_contiguous() else grad.contiguous()
    out = _pages.empty_like(xc)
    kern.backward(xc.data_ptr(), gc.data_ptr(), out.data_ptr(), xc.numel())
    return out.to(x.dtype) if x.dtype in _HALF else out


# -- the Function ----------------------------------------------------------------------------
def _forward(x: torch.Tensor, bound: Bound, key: Any, params: tuple[Any, ...]) -> torch.Tensor:
    kind = bound.forward_kind
    if kind in ("ge", "gt"):
        op = torch.ge if kind == "ge" else torch.gt
        if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
            return op(x, 0).to(x.dtype)
        # eager: write the float spike directly, no bool temporary
        return op(x, 0, out=_pages.empty_like(x))
    return forward_compute(bound, _cast(x), _xp(), key, _overrides(bound, params)
                           ).to(x.dtype)


def _grad_x(bound: Bound, x: torch.Tensor, grad: torch.Tensor, key: Any,
            params: tuple[Any, ...]) -> torch.Tensor:
    fused = None if params else _fused_backward(bound, x, grad)
    if fused is not None:
        return fused
    if torch.is_grad_enabled():  # create_graph: g'' must be right at ±inf too
        return grad * derivative(bound, x, key, params)
    return grad * derivative_compute(bound, _cast(x), _xp(), key, _overrides(bound, params)
                                     ).to(x.dtype)


def _param_grads(bound: Bound, x: torch.Tensor, grad: torch.Tensor,
                 params: tuple[Any, ...], needed: tuple[bool, ...]) -> list[Any]:
    """``Σ grad · ∂g(x; θ)/∂θ`` for each tensor parameter (``None`` where not needed)."""
    if not any(needed):
        return [None] * len(params)
    if not bound.has_primitive:
        raise NotImplementedError(
            f"{bound.name} has no primitive g, so its parameters "
            f"({', '.join(bound.array_param_names)}) have no gradient (∂L/∂θ = Σ G ∂g/∂θ); "
            "pass them as numbers or detach them")
    xd = x.detach()
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        _, vjp = torch.func.vjp(lambda *ps: primitive(bound, xd, ps), *params)
        grads = vjp(grad)
    else:  # eager: plain autograd (torch.func.vjp costs ~0.2 ms per call here)
        create_graph = torch.is_grad_enabled()  # backward(create_graph=True): keep the graph
        leaves = params if create_graph else tuple(
            p.detach().requires_grad_(True) for p in params)
        with torch.enable_grad():
            g = primitive(bound, xd, leaves)
        if not g.requires_grad:  # the primitive never reads these parameters
            grads = (None,) * len(leaves)
        else:
            grads = torch.autograd.grad(g, leaves, grad, create_graph=create_graph,
                                        allow_unused=True)
        grads = tuple(torch.zeros_like(p) if d is None else d
                      for p, d in zip(params, grads, strict=False))
    return [g if need else None for g, need in zip(grads, needed, strict=False)]


def _pad(params: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*params, *([None] * (MAX_TENSOR_PARAMS - len(params))))


def _unpack(ctx: Any, saved: tuple[Any, ...]) -> tuple[torch.Tensor, tuple[Any, ...]]:
    return saved[0], tuple(saved[1:1 + ctx.n_params])


class _Spike(torch.autograd.Function):
    """``_Spike.apply(x, bound, key, p0, ..., p7)``: the spike of ``x`` with ``bound``'s
    surrogate gradient; ``p0..`` are ``bound``'s tensor parameters (``None`` padded)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, bound: Bound, key: Any, p0: Any = None, p1: Any = None,
                p2: Any = None, p3: Any = None, p4: Any = None, p5: Any = None,
                p6: Any = None, p7: Any = None) -> torch.Tensor:
        params = (p0, p1, p2, p3, p4, p5, p6, p7)[: len(bound.array_param_names)]
        return _forward(x, bound, key, params)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, bound, key = inputs[:3]
        n = len(bound.array_param_names)
        ctx.save_for_backward(x, *inputs[3:3 + n])  # the input and the parameters only
        ctx.bound, ctx.key, ctx.n_params = bound, key, n

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        x, params = _unpack(ctx, ctx.saved_tensors)
        bound = ctx.bound
        needed = tuple(ctx.needs_input_grad[3:3 + len(params)])
        fused = _fused_param_backward(bound, x, grad, params) if any(needed) else None
        if fused is not None:
            gx, all_gps = fused
            gps = [gp if need else None for gp, need in zip(all_gps, needed, strict=True)]
            gx = gx if ctx.needs_input_grad[0] else None
        else:
            gx = (_grad_x(bound, x, grad, ctx.key, params) if ctx.needs_input_grad[0]
                  else None)
            gps = _param_grads(bound, x, grad, params, needed)
        return (gx, None, None, *_pad(tuple(gps)))


class _SpikeWithJvp(_Spike):
    """:class:`_Spike` with forward mode (outside ``torch.compile``)."""

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        _Spike.setup_context(ctx, inputs, output)
        n = ctx.n_params
        ctx.save_for_forward(inputs[0], *inputs[3:3 + n])

    @staticmethod
    def jvp(ctx: Any, x_t: Any, bound_t: Any, key_t: Any, *param_t: Any) -> torch.Tensor:
        x, params = _unpack(ctx, ctx.saved_tensors)
        bound = ctx.bound
        out = x_t * derivative(bound, x, ctx.key, params) if x_t is not None else None
        tangents = param_t[: len(params)]
        if any(t is not None for t in tangents):
            if not bound.has_primitive:
                raise NotImplementedError(f"{bound.name} has no primitive g: no tangent in "
                                          "its parameters")
            filled = tuple(t if t is not None else torch.zeros_like(p)
                           for p, t in zip(params, tangents, strict=False))
            _, dp = torch.func.jvp(lambda *ps: primitive(bound, x, ps), params, filled)
            out = dp if out is None else out + dp
        return out if out is not None else torch.zeros_like(x)


def function_for(bound: Bound | None = None) -> type[torch.autograd.Function]:
    """The ``torch.autograd.Function`` serving every surrogate:
    ``function_for().apply(x, bound, key, *tensor_params)``.

    Under ``torch.compile`` the class without a custom ``jvp`` is returned (dynamo does not
    trace custom ``jvp`` methods); everywhere else the class with forward mode.
    """
    return _Spike if torch.compiler.is_compiling() else _SpikeWithJvp


# -- the C++ node (eager CPU calls with number parameters) ------------------------------------
#: Where a bound surrogate keeps the C++ node's arguments for it, once ready, per kind of
#: input (float32 and the half types, float64): ``(module, strict, kernel address,
#: constants)``, in the bound's own ``__dict__`` (as its hash is), so they live and go
#: with the bound: no table keyed by bound values, nothing hashed per call, no cycle (the
#: bound is not in them), and a parameter that changes at every call (a sweep) leaves
#: nothing behind but what the bounded :class:`~spikegrad._frontend.BoundCache` holds.
NATIVE_SLOTS = ("_torch_node_float32", "_torch_node_float64")
NATIVE_CACHE_SIZE = 1024
#: Per formula shape (formula, dtype, replay key; the parameter values are not in it): the
#: kernel and constants program of each branch compiled (:func:`cpu.backward_branches`),
#: so a new value (a schedule, a sweep) costs a program call, not a trace.  Bounded.
_NATIVE_SHAPES: dict[tuple[Any, ...], tuple[tuple[int, Any], ...]] = {}
_NATIVE_LOCK = threading.Lock()


def _slow_backward(bound: Bound | NumberCall, x: torch.Tensor, grad: torch.Tensor
                   ) -> torch.Tensor:
    """Backward of the C++ node when its fused kernel does not apply (called from C++;
    a node made for a :data:`NumberCall` binds it here, :func:`_number_spike`)."""
    if type(bound) is tuple:
        bound = bound[0].bound(bound[1])
    return grad * derivative(bound, x)


def _native_ok(bound: Bound, x: torch.Tensor) -> bool:
    """Whether the C++ node may serve ``bound`` on ``x``: the fast-path decision, and a
    plain spike forward with a deterministic generated backward."""
    return (bound.forward_kind in ("ge", "gt") and not bound.formula.stochastic_backward
            and not _fused_state["no_compiler"] and fast_path_ok(x))


def _replayed(bound: Bound, dtype: str) -> tuple[int, list[float]] | None:
    """``(kernel address, constants)`` of ``bound`` from its formula shape's recorded
    branches (:data:`_NATIVE_SHAPES`), or ``None`` where none is recorded or applies."""
    if bound.entry.user:
        return None
    d = bound.__dict__
    return _replayed_leaves(bound.formula, dtype, replay.leaves(d["_fparams"], d["_scale"]))


def _replayed_leaves(formula: Any, dtype: str, leaves: tuple[Any, tuple[float, ...]] | None
                     ) -> tuple[int, list[float]] | None:
    """``(kernel address, constants)`` of ``formula`` for :func:`replay.leaves`'s ``(key,
    values)`` from the formula shape's recorded branches, or ``None``."""
    if not leaves:
        return None
    hit = replay.branch(_NATIVE_SHAPES.get((formula, dtype, leaves[0]), ()), leaves[1])
    return None if hit is None else (hit[1], hit[2])


#: the keys of a number shape's memo: its :func:`~spikegrad.codegen.replay.leaves`, and
#: whether the C++ node may serve its entry
_LEAVES_KEY = "torch: replay leaves"
_NODE_KEY = "torch: node"


def _number_spike(call: NumberCall, x: Any) -> torch.Tensor | None:
    """The spike of a new value of a known number shape (``(shape, items)``, validated,
    not bound) through the C++ node, where its formula shape's recorded branches
    (:data:`_NATIVE_SHAPES`, made by a bound's first call, :func:`_native_entry`) take the
    value; ``None`` otherwise (then the call is bound).  Nothing is built or kept per value
    (a sweep): the node holds the call, which its Python fallback binds
    (:func:`_slow_backward`)."""
    shape, items = call
    entry = shape.entry
    served = shape.memo.get(_NODE_KEY)
    if served is None:  # (the node serves a spike forward with a deterministic backward)
        served = shape.memo[_NODE_KEY] = (not entry.user and entry.forward in ("ge", "gt")
                                          and not entry.formula.stochastic_backward)
    if not served or _fused_state["no_compiler"] or not fast_path_ok(x) \
            or x.dtype not in _FLOATS:
        return None
    slots = shape.float_slots
    if slots is None:
        leaves = replay.leaves(*mapped_numbers(entry, items))
    else:  # (the formula's parameters are the items: the key is the shape's)
        key = shape.memo.get(_LEAVES_KEY)
        if key is None:
            key = shape.memo[_LEAVES_KEY] = replay.leaves(dict(shape.items_), 1.0) or False
        leaves = key and (key[0], tuple([items[i][1] for i in slots]))
    found = _replayed_leaves(entry.formula,
                             "float64" if x.dtype is torch.float64 else "float32", leaves)
    native = _torch_native.module() if found is not None else None
    if native is None:
        return None
    return native.spike(x, entry.forward == "gt", found[0], call, found[1])


def _native_entry(bound: Bound, double: bool) -> tuple[Any, bool, int, tuple[float, ...]] | None:
    """(module, strict, kernel address, constants) of ``bound`` for float64 input
    (``double``) or the others (float32, and the half types computed in it), once the C++
    node and that kernel are ready (kept by the bound, :data:`NATIVE_SLOTS`: the eager hot
    path is one dictionary lookup; a new parameter value of a known formula shape costs
    the program of its constants, :func:`_replayed`; else it builds the one kernel its
    input needs)."""
    native = _torch_native.module()
    if native is None:
        return None
    _connect(native)
    dtype = "float64" if double else "float32"
    found = _replayed(bound, dtype)
    if found is None:
        # (no Kernels per value: a new value of a known formula replays its constants)
        built = _built((bound.formula, dtype), bound.name,
                       lambda: cpu.backward_and_constants(bound, dtype))
        if built is None:
            return None
        found = built[0], built[1].tolist()
        key, branches = cpu.backward_branches(bound, dtype)
        if key is not None:
            with _NATIVE_LOCK:
                if len(_NATIVE_SHAPES) >= NATIVE_CACHE_SIZE:
                    _NATIVE_SHAPES.clear()
                _NATIVE_SHAPES[bound.formula, dtype, key] = branches
    # the node's arguments besides x and the bound: the kernel of one dtype (x's, or
    # float32 for halves) and the constants (Python values: every C++ allocation lives
    # with its node, none is left between the transient tensors per value)
    ready = (native, bound.forward_kind == "gt", found[0], tuple(found[1]))
    bound.__dict__[NATIVE_SLOTS[double]] = ready
    return ready


def _connect(native: Any) -> None:
    """Give the C++ nodes their Python fallback backwards (once per process)."""
    if not _fused_state.get("connected"):
        native.set_slow(_slow_backward)
        # looked up per call: the module's function, as patched (tests spy on it)
        native.set_slow_param(lambda *args: _slow_param_backward(*args))
        _fused_state["connected"] = True


def _slow_param_backward(bound: Bound, x: torch.Tensor, grad: torch.Tensor,
                         params: tuple[torch.Tensor, ...], needed: tuple[bool, ...]
                         ) -> tuple[Any, ...]:
    """Backward of the C++ parameter node where its kernel does not apply (a
    ``create_graph`` backward, another gradient dtype): ``(grad_x, *grad_params)``, each
    ``None`` where not needed (called from C++)."""
    gx = _grad_x(bound, x, grad, None, params) if needed[0] else None
    return (gx, *_param_grads(bound, x, grad, params, tuple(needed[1:])))


#: the C++ parameter node's entries, by definition and number parameters
_NATIVE_PARAM: dict[tuple[Any, ...], tuple[Any, bool, Any] | None] = {}
#: the numbers of tensor parameters the C++ parameter node serves
NATIVE_PARAM_COUNTS = tuple(range(1, MAX_TENSOR_PARAMS + 1))


def _native_param_ok(bound: Bound, x: torch.Tensor, params: tuple[Any, ...]) -> bool:
    """Whether the C++ parameter node may serve ``bound`` on ``x``: the fast-path decision
    for ``x`` and every parameter (of a floating dtype), and a primitive to differentiate
    in them."""
    return (len(params) in NATIVE_PARAM_COUNTS and bound.has_primitive
            and bound.forward_kind in ("ge", "gt") and not bound.formula.stochastic_backward
            and not _fused_state["no_compiler"] and fast_path_ok(x, *params)
            and all(p.is_floating_point() for p in params))


_NO_CONSTANTS = np.zeros(1)


def _native_param_entry(bound: Bound, layouts: tuple[str, ...]
                        ) -> tuple[Any, bool, Any] | None:
    """(module, strict, entry) of the C++ parameter node for ``bound``'s definition,
    number parameters and the parameters' ``layouts`` (``"s"``: one value, ``"e"``: one per
    element; the tensors are run-time arguments: a new tensor per call builds nothing), or
    ``None`` where it is not ready or a kernel cannot be built."""
    native = _torch_native.module()
    if native is None:
        return None
    static = bound.static_items  # the array values as None
    key = (bound.entry, static, layouts)
    if key in _NATIVE_PARAM:
        return _NATIVE_PARAM[key]
    _connect(native)
    kerns = [_built((bound.formula, dt, "params"), bound.name,
                    lambda dt=dt: cpu.param_kernel(bound.entry, static, dt, layouts))
             for dt in ("float32", "float64")]
    # one-value parameters only: the kernels that read one cotangent value (a sum's
    # gradient arrives as a stride-0 tensor: no copy of it, one product per sum)
    ones = [_built((bound.formula, dt, "params", "one"), bound.name,
                   lambda dt=dt: cpu.param_kernel(bound.entry, static, dt, layouts, True))
            for dt in ("float32", "float64")] if set(layouts) == {"s"} else [None, None]
    found = None
    if all(k is not None for k in kerns):
        k32, k64 = kerns
        o32, o64 = ones if all(k is not None for k in ones) else (None, None)
        entry = native.param_entry(
            k32.address, k64.address, ["sec".index(lay) for lay in layouts],
            torch.from_numpy(k32.constants), torch.from_numpy(k64.constants),
            *(0 if k is None else k.address for k in (o32, o64)),
            *(torch.from_numpy(k.constants if k is not None else _NO_CONSTANTS)
              for k in (o32, o64)))
        found = (native, bound.forward_kind == "gt", entry)
    with _NATIVE_LOCK:
        if len(_NATIVE_PARAM) >= NATIVE_CACHE_SIZE:
            _NATIVE_PARAM.clear()
        _NATIVE_PARAM[key] = found
    return found


def _native_param_spike(bound: Bound, x: torch.Tensor, build: bool = False
                        ) -> torch.Tensor | None:
    """The spike through the C++ parameter node, after the checks that depend on this
    call's tensors (the fast-path decision, dtypes, shapes), where the node's entry for
    the definition, numbers and parameter layouts is known from an earlier call or, with
    ``build``, can be made now (:func:`_native_param_ok`, :func:`_native_param_entry`);
    ``None`` otherwise (then the Python Function serves)."""
    params = bound.array_values
    if (not isinstance(x, torch.Tensor) or len(params) not in NATIVE_PARAM_COUNTS
            or x.dtype not in _FLOATS or not fast_path_ok(x, *params)):
        return None
    for p in params:
        if not p.is_floating_point():
            return None
        if p.dim():
            check_param_shapes(bound, x.shape)
    layouts, dims = param_layouts(x.shape, params)
    ready = _NATIVE_PARAM.get((bound.entry, bound.static_items, layouts))
    if ready is None and build and _native_param_ok(bound, x, params):
        ready = _native_param_entry(bound, layouts)
    if ready is None:
        return None
    native, strict, entry = ready
    return native.param_spike(x, strict, entry, bound, list(params), list(dims))


def spike(bound: Bound | NumberCall, x: torch.Tensor, key: Any = None) -> torch.Tensor:
    """Spike of ``x`` with ``bound``'s surrogate gradient (differentiable in ``x`` and in
    tensor parameters); a :data:`NumberCall` is served unbound where it can be
    (:func:`_number_spike`), else bound here."""
    if type(bound) is tuple:
        served = _number_spike(bound, x) if key is None else None
        if served is not None:
            return served
        bound = bound[0].bound(bound[1])
    # (no dictionary keyed by the bound inside a compiled region: dynamo cannot hash it)
    compiling = torch.compiler.is_compiling()
    names = bound.array_param_names
    double = getattr(x, "dtype", None) is torch.float64  # x is checked below
    ready = (bound.__dict__.get(NATIVE_SLOTS[double]) if key is None and not compiling
             and not names else None)
    if ready is not None and fast_path_ok(x) and x.dtype in _FLOATS:  # (x checked first)
        native, strict, kernel, constants = ready
        return native.spike(x, strict, kernel, bound, constants)
    if names and key is None and not compiling:
        served = _native_param_spike(bound, x)  # an entry known from an earlier call
        if served is not None:
            return served
    check_tensor(x)
    params: tuple[Any, ...] = ()
    if names:
        params = bound.array_values
        if len(params) > MAX_TENSOR_PARAMS:
            raise ValueError(f"{bound.name}: at most {MAX_TENSOR_PARAMS} tensor parameters")
        for name, p in zip(names, params, strict=False):
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"{bound.name}: parameter {name} is a "
                                f"{framework_of(p)} array; give torch "
                                "tensors (or numbers) with torch input")
        check_param_shapes(bound, x.shape)
        if key is None and not compiling:
            served = _native_param_spike(bound, x, build=True)
            if served is not None:
                return served
    elif key is None and not compiling and _native_ok(bound, x):
        ready = _native_entry(bound, double)
        if ready is not None:
            native, strict, kernel, constants = ready
            return native.spike(x, strict, kernel, bound, constants)
    if bound.stochastic and key is None:
        special.uniform(None, x, x.dtype, _xp())  # raises the clear "pass key=" error
    # always every slot: dynamo matches the call against the full signature
    return apply_positional(function_for(), x, bound, key, *_pad(params))


def multistep(bound: Any, x: torch.Tensor) -> torch.Tensor:
    """The output sequence of multi-step surrogate ``bound`` over ``x`` (``[T, ...]``),
    with its gradients for ``x`` and a tensor threshold."""
    return _multistep_apply(bound, x)
