"""spikegrad for PyTorch: spike functions with surrogate gradients.

>>> import torch, spikegrad.torch as sgt
>>> x = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
>>> y = sgt.atan(x, alpha=2.0)          # one function per canonical surrogate
>>> y = sgt.spike(x, "snntorch:atan")   # any name or alias, or a spikegrad.get(...) bound
>>> layer = sgt.Surrogate("spikingjelly:ATan")   # nn.Module for snntorch / spikingjelly
>>> learn = sgt.Surrogate("atan", alpha=2.0, learnable=True)   # alpha an nn.Parameter
>>> node = sgt.DSRIFNode(v_threshold=6.0)   # multi-step: [T, ...] in and out

Requires the ``torch`` extra (``pip install "spikegrad[torch]"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised without torch installed
    raise ImportError(
        "spikegrad.torch needs PyTorch: pip install 'spikegrad[torch]' (on a CPU-only "
        "machine install the CPU build first, e.g. pip install torch==2.13.0 --index-url "
        "https://download.pytorch.org/whl/cpu)"
    ) from exc

from torch.nn.utils import parametrize

from . import _constrain
from ._arrays import is_array_param, param_text
from ._evaluate import check_param_shapes
from ._frontend import named_functions, resolve
from ._spec import Bound, Entry
from ._torch_neurons import DSRIFNode, DSRLIFNode, MultiStepNode, dsr_if, dsr_lif, multistep
from .adapters import _pages, _torch_native
from .adapters import torch as _adapter
from .adapters.torch_tensors import set_fast_path

__all__ = [
    "DSRIFNode",
    "DSRLIFNode",
    "MultiStepNode",
    "Surrogate",
    "atan",
    "build_fast_path",
    "dspike",
    "dsr_if",
    "dsr_lif",
    "erf",
    "fake_numerical_gradient",
    "fast_sigmoid",
    "function",
    "gaussian",
    "heavi_circ",
    "heaviside_window",
    "leaky_k_relu",
    "leaky_spike_operator",
    "log_tailed_relu",
    "multi_gaussian",
    "multi_level_spike_count",
    "multistep",
    "nonzero_sign_log_abs",
    "periodic_exponential",
    "piecewise_exp",
    "piecewise_leaky_relu",
    "piecewise_quadratic",
    "poisson_pass",
    "q_pseudo_spike",
    "rect",
    "s2nn",
    "set_fast_path",
    "set_huge_pages",
    "sigmoid",
    "sign_triangular",
    "soft_sign",
    "sparse_fast_sigmoid",
    "spike",
    "spike_rate_escape",
    "squarewave_fourier_series",
    "stochastic_spike_operator",
    "straight_through",
    "super_spike",
    "tanh",
    "triangle",
]


#: This front end's name, as errors name its calls.
_FRONT = "spikegrad.torch"


def build_fast_path(timeout: float | None = None) -> str:
    """Build the C++ autograd node of the eager CPU path now, waiting up to ``timeout``
    seconds (it otherwise builds in a background thread on first use), and return its
    status: ``"ready"``, ``"building"``, ``"disabled"`` (:func:`set_fast_path`) or
    ``"unavailable: <reason>"`` (no compiler: every call then uses torch ops)."""
    _torch_native.ensure(timeout)
    return _torch_native.status()


def set_huge_pages(enabled: bool) -> None:
    """Advise (the default on Linux with transparent huge pages in ``madvise`` mode) or
    not the outputs of 32 MiB or more that the eager CPU path writes to use huge pages
    (values never change; see the README)."""
    _pages.set_enabled(enabled)


def _eager() -> bool:
    """Whether a call may take a new number unbound
    (:meth:`~spikegrad._frontend.BoundCache.get` with ``lean``):
    outside ``torch.compile``, which would guard on the cache's record of first sights and
    recompile for a value's second call."""
    return not torch.compiler.is_compiling()


def _compiled_numbers_as_tensors(entry: Entry, params: dict[str, Any]) -> dict[str, Any]:
    """Under ``torch.compile``, the real number parameters of a call become 0-d tensor
    parameters.

    Dynamo turns a float argument into a graph input from its second value on, and a
    bound surrogate needs a known value (its cache key, its domain check).  As tensors
    they are inputs of the graph, evaluated by torch ops as tensor parameters are (values
    within the adapter's tolerance of the eager number path), so a new value neither
    recompiles nor breaks ``fullgraph=True``; the domain is checked in the graph, when it
    runs (``RuntimeError`` naming the parameter and its domain).  Structural (static)
    parameters and eager calls are left alone.
    """
    if not params or not torch.compiler.is_compiling():
        return params
    out = dict(params)
    for p in entry.params:
        v = params.get(p.name)
        if p.static or not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        # ones * v, not scalar_tensor(v)/as_tensor(v): dynamo specializes those on the value
        t = torch.ones((), dtype=torch.float64) * v
        torch._assert_async(p.domain.inside(t, torch),
                            f"{entry.name}: {p.name} must be {p.domain.text} (a number "
                            "argument of a compiled function, checked as the graph runs)")
        out[p.name] = t
    return out


def function(name_or_bound: str | Bound | Entry | None = None,
             **params: Any) -> type[torch.autograd.Function]:
    """The ``torch.autograd.Function`` that serves every surrogate:
    ``function().apply(x, bound, key, *tensor_params)`` gives the spike.  (Arguments are
    accepted for compatibility and ignored: one Function serves all definitions.)"""
    if name_or_bound is not None:
        resolve(name_or_bound, params, front=_FRONT)  # validates
    return _adapter.function_for()


def spike(x: torch.Tensor, name_or_bound: str | Bound | Entry, /, *,
          key: torch.Generator | None = None, **params: Any) -> torch.Tensor:
    """Spike of ``x`` (in ``x``'s dtype) whose gradient is the surrogate's ``g'(x)``.

    Parameters
    ----------
    x : torch.Tensor
        Membrane potential minus threshold; real floating dtype.
    name_or_bound : str, Bound or Entry
        Canonical name, ``"library:Name"`` alias, a registered user name,
        ``spikegrad.get(...)`` or a definition.
    key : torch.Generator, optional
        Random source for stochastic surrogates.
    **params
        Surrogate parameters: Python numbers, or tensors (0-d or broadcasting against
        ``x``) that receive ``Σ G ∂g/∂θ`` when they require grad.

    Raises
    ------
    ValueError
        For a multi-step surrogate (``"dsr_if"``), which acts on a whole ``[T, ...]``
        sequence: the message names ``spikegrad.torch.multistep``.
    """
    bound = resolve(name_or_bound, params, _compiled_numbers_as_tensors, _FRONT, _eager())
    return _adapter.spike(bound, x, key)


class Surrogate(torch.nn.Module):
    """A surrogate spike as an ``nn.Module``.

    Usable as snntorch's ``spike_grad=`` and spikingjelly's ``surrogate_function=``: its
    call takes the already-shifted membrane input.  With ``spiking=False`` (spikingjelly's
    mode) the forward returns the primitive ``g(x)`` instead, differentiable by autograd.

    Parameters
    ----------
    name : str, Bound or Entry
        Canonical name, ``"library:Name"`` alias (the alias's forward convention is kept:
        ``Surrogate("snntorch:atan")`` spikes at ``x > 0``), user name or definition.
    spiking : bool
        Spike (default) or primitive forward.
    learnable : bool or iterable of str
        Real parameters to hold as ``nn.Parameter`` (``True``: all of them).  An
        ``nn.Parameter`` given as a value is learnable anyway; a plain tensor is held as a
        buffer.  Either way they show in ``parameters()``/``state_dict()`` and follow
        ``.to(device)``.  A surrogate without a real parameter (``"straight_through"``)
        has nothing to learn: ``learnable=`` then raises ``ValueError``.
    key : torch.Generator, optional
        Random source of a stochastic surrogate (required for those).
    constrain : {None, "clamp", "softplus"}
        How the learnable parameters stay inside their domains under an optimizer.
        ``None`` (default): each call checks their values (on the CPU, outside
        ``torch.compile``, where reading them costs no device synchronisation) and raises
        ``ValueError`` naming the parameter, its domain and the call; on a GPU or in a
        compiled graph nothing is checked.  ``"clamp"``: the value read is the stored one
        clipped to the domain at every call (the ``alpha.data.clamp_`` of snntorch and
        spikingjelly users, on every device).  ``"softplus"``: the stored value is
        unconstrained and mapped smoothly onto the domain (``low + softplus(raw)``).  Both
        are ``torch.nn.utils.parametrize`` parametrizations: ``module.alpha`` is the
        value, ``module.parametrizations.alpha.original`` what the optimizer updates.
    **params
        Surrogate parameters (numbers or tensors).
    """

    def __init__(self, name: str | Bound | Entry, spiking: bool = True, *,
                 learnable: bool | Iterable[str] = False, key: torch.Generator | None = None,
                 constrain: str | None = None, **params: Any) -> None:
        super().__init__()
        bound = resolve(name, params, front=_FRONT)
        self.entry = bound.entry
        self.spiking = spiking
        self.key = key
        if not spiking and not bound.has_primitive:
            raise ValueError(f"{bound.name} has no primitive: spiking=False is not "
                             "available for it")
        if bound.stochastic and key is None and spiking:
            raise TypeError(f"{bound.name} is stochastic: give it a random source, "
                            f"Surrogate({bound.name!r}, key=torch.Generator().manual_seed(0))"
                            "; spikegrad never uses hidden global random state")
        real = [p.name for p in bound.entry.params if not p.static]
        wanted = set(real) if learnable is True else set(learnable or ())
        if not real and (learnable is True or wanted):
            raise ValueError(_nothing_to_learn(bound.entry, learnable is True or wanted))
        unknown = wanted - set(real)
        if unknown:
            raise ValueError(f"{bound.name}: learnable names unknown or structural "
                             f"parameters {sorted(unknown)}; real parameters: {real}")
        self._static: dict[str, Any] = {}
        self._tensor_names: list[str] = []
        for pname, value in bound.param_items:
            if pname in wanted or isinstance(value, torch.nn.Parameter):
                t = value if isinstance(value, torch.nn.Parameter) else torch.nn.Parameter(
                    torch.as_tensor(value, dtype=torch.get_default_dtype()).clone()
                    if not isinstance(value, torch.Tensor) else value.detach().clone())
                self.register_parameter(pname, t)
                self._tensor_names.append(pname)
            elif isinstance(value, torch.Tensor):
                self.register_buffer(pname, value)
                self._tensor_names.append(pname)
            elif is_array_param(value):
                raise TypeError(f"{bound.name}: parameter {pname} must be a number or a "
                                f"torch tensor, got {type(value).__name__}")
            else:
                self._static[pname] = value
        _constrain.check_name(f"Surrogate({bound.name!r})", constrain)
        self.constrain = constrain
        learned = [n for n in self._tensor_names
                   if isinstance(getattr(self, n), torch.nn.Parameter)]
        if constrain is not None:
            if not learned:
                raise ValueError(f"Surrogate({bound.name!r}): constrain={constrain!r} with "
                                 "nothing learnable; add learnable=True")
            domains = {p.name: p.domain for p in bound.entry.params}
            for pname in learned:
                parametrize.register_parametrization(
                    self, pname, _Constrained(constrain, domains[pname]))
        self._number_bound = bound if not self._tensor_names else None
        self._calls = 0

    @property
    def bound(self) -> Bound:
        """The bound surrogate with the module's current parameter values."""
        if self._number_bound is not None:
            return self._number_bound
        items = tuple((p.name, self._static[p.name] if p.name in self._static
                       else getattr(self, p.name)) for p in self.entry.params)
        return Bound(self.entry, items)

    def forward(self, x: torch.Tensor, key: torch.Generator | None = None) -> torch.Tensor:
        bound = self.bound
        if self._tensor_names and not torch.compiler.is_compiling():
            # values an optimizer changed since binding, where reading them is free (a
            # compiled graph reads nothing: counting there would guard on the count)
            self._calls += 1
            bound.check_array_values(f"Surrogate call {self._calls}")
        if self.spiking:
            return _adapter.spike(bound, x, key if key is not None else self.key)
        _adapter.check_tensor(x)
        check_param_shapes(bound, x.shape)
        params = bound.array_values
        return _adapter.primitive(bound, x, params)

    def extra_repr(self) -> str:
        """The name, every parameter's current value (a tensor of more than 0 dimensions
        by its shape), which are learnable, and ``spiking=False`` where set."""
        parts = [repr(self.entry.name)]
        for p in self.entry.params:
            value = self._static[p.name] if p.name in self._static else getattr(self, p.name)
            parts.append(f"{p.name}={param_text(value)}")
        learned = [name for name, _ in self.named_parameters(recurse=False)]
        if learned:
            real = [p.name for p in self.entry.params if not p.static]
            parts.append("learnable=True" if set(learned) == set(real)
                         else f"learnable={learned!r}")
        if not self.spiking:
            parts.append("spiking=False")
        return ", ".join(parts)


class _Constrained(torch.nn.Module):
    """A parametrization holding a parameter inside its domain (see
    :mod:`spikegrad._constrain`, where the maps are defined once)."""

    def __init__(self, kind: str, domain: Any) -> None:
        super().__init__()
        self.kind = kind
        self.domain = domain
        # the domain's edges per dtype, on the host now (a compiled graph's constants)
        self._edges = {getattr(torch, n): _constrain.edges(domain, n)
                       for n in _constrain.FLOAT_DTYPES}

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        # torch itself as the namespace: every function the maps use is torch's own
        # (array_api_compat's wrappers cost more than the maps at 0-d)
        return _constrain.apply(self.kind, self.domain, raw, torch, self._edges[raw.dtype])

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        raw = _constrain.invert(self.kind, self.domain,
                                value.detach().to("cpu", torch.float64).numpy())
        return torch.as_tensor(raw, dtype=value.dtype).to(value.device)

    def extra_repr(self) -> str:
        return f"{self.kind!r}, {self.domain.text}"


def _nothing_to_learn(entry: Entry, wanted: bool | set[str]) -> str:
    """The message for ``learnable=`` (``True`` or the names ``wanted``) on a surrogate
    without a real parameter."""
    asked = "True" if wanted is True else repr(sorted(wanted))
    if not entry.params:
        return (f"{entry.name} has no real parameter to learn (learnable={asked}): it has no "
                "parameters; drop learnable=")
    listed = ", ".join(f"{p.name} ({p.domain.text})" if p.domain.kind != "real"
                       else f"{p.name} (a Python number: it shapes the computation)"
                       for p in entry.params)
    return (f"{entry.name} has no real parameter to learn (learnable={asked}): its "
            f"parameters {listed} are structural, fixed when it is bound; drop learnable=")


# One function per canonical surrogate, ``fn(x, /, *, key=None, **params)``, written out
# so that type checkers see them (tests/test_frontends.py checks them against the
# catalogue).
_named = named_functions(_adapter.spike, _compiled_numbers_as_tensors, _eager)
sigmoid = _named["sigmoid"]
tanh = _named["tanh"]
atan = _named["atan"]
piecewise_quadratic = _named["piecewise_quadratic"]
triangle = _named["triangle"]
piecewise_exp = _named["piecewise_exp"]
soft_sign = _named["soft_sign"]
fast_sigmoid = _named["fast_sigmoid"]
super_spike = _named["super_spike"]
erf = _named["erf"]
gaussian = _named["gaussian"]
multi_gaussian = _named["multi_gaussian"]
q_pseudo_spike = _named["q_pseudo_spike"]
dspike = _named["dspike"]
rect = _named["rect"]
nonzero_sign_log_abs = _named["nonzero_sign_log_abs"]
piecewise_leaky_relu = _named["piecewise_leaky_relu"]
squarewave_fourier_series = _named["squarewave_fourier_series"]
s2nn = _named["s2nn"]
leaky_k_relu = _named["leaky_k_relu"]
log_tailed_relu = _named["log_tailed_relu"]
fake_numerical_gradient = _named["fake_numerical_gradient"]
straight_through = _named["straight_through"]
heaviside_window = _named["heaviside_window"]
spike_rate_escape = _named["spike_rate_escape"]
sparse_fast_sigmoid = _named["sparse_fast_sigmoid"]
stochastic_spike_operator = _named["stochastic_spike_operator"]
leaky_spike_operator = _named["leaky_spike_operator"]
sign_triangular = _named["sign_triangular"]
heavi_circ = _named["heavi_circ"]
periodic_exponential = _named["periodic_exponential"]
multi_level_spike_count = _named["multi_level_spike_count"]
poisson_pass = _named["poisson_pass"]
