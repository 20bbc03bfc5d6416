"""Pruning at initialisation from scores: SNIP, GraSP, SynFlow and ProsPr."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prunegraph.errors import ValidationError
from prunegraph.loader.masks import Masks, prunable_parameters, remove_masks
from prunegraph.loader.pruning.core import (
    PruneContext,
    check_positive_int,
    current_masks,
    register_pruner,
    safe_deepcopy,
    threshold,
)

# --------------------------------------------------------------------------- PaI: SNIP, GraSP


def scoring_copy(
    model: nn.Module,
    dtype: torch.dtype | None = None,
    masks: Mapping[str, np.ndarray] | None = None,
) -> tuple[nn.Module, dict[str, nn.Parameter]]:
    """A deep copy with masks baked in as zeros, so scores never touch the caller's model."""
    net = safe_deepcopy(model)
    remove_masks(net)
    if masks:
        with torch.no_grad():
            for name, p in prunable_parameters(net).items():
                if name in masks:
                    p.mul_(torch.as_tensor(masks[name], dtype=p.dtype, device=p.device))
    if dtype is not None:
        net = net.to(dtype)
    return net, prunable_parameters(net)


def _loss_grads(
    net: nn.Module,
    params: Mapping[str, nn.Parameter],
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    temperature: float = 1.0,
) -> dict[str, torch.Tensor]:
    grads = {name: torch.zeros_like(p) for name, p in params.items()}
    for x, y in batches:
        net.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x) / temperature, y)
        g = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for name, gi in zip(params, g, strict=True):
            if gi is not None:
                grads[name] += gi
    return grads


def snip_scores(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    masks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """SNIP connection sensitivity ``|g ⊙ theta|`` with ``g = sum_b dL_b/dtheta``.

    ``L_b`` is the mean cross-entropy of batch ``b`` (model in train mode, on a
    copy); equal to ``|dL/dc|`` at ``c = 1`` for the mask ``c`` of Lee et al.
    2019. Weights masked in the model or in ``masks`` are zeroed and score ``-inf``.
    """
    masks = dict(masks) if masks is not None else current_masks(model)
    net, params = scoring_copy(model, masks=masks)
    net.train()
    grads = _loss_grads(net, params, batches)
    out = {}
    for name, p in params.items():
        s = (grads[name] * p.detach()).abs().double().cpu().numpy()
        out[name] = np.where(masks[name], s, -np.inf) if name in masks else s
    return out


@register_pruner(
    "snip",
    "pai",
    mode="init",
    needs_data=True,
    summary="SNIP: keep the largest |g * theta| (connection sensitivity) on a few batches",
    source="Lee et al. 2019; Cunegatti et al. 2024, Table 6",
)
def _snip(ctx: PruneContext, *, n_batches: int = 1, batch_size: int = 128) -> Masks:
    check_positive_int(n_batches=n_batches, batch_size=batch_size)
    scores = snip_scores(ctx.model, ctx.batches(n_batches, batch_size))
    return threshold(scores, ctx.sparsity, "global")


def grasp_scores(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    temperature: float = 200.0,
) -> dict[str, np.ndarray]:
    """GraSP *keep* scores ``theta ⊙ Hg`` (Wang et al. 2020).

    Wang et al. score ``S(-theta) = -theta ⊙ Hg`` (``H`` the Hessian, ``g`` the
    gradient of the temperature-scaled loss) and remove the weights with the
    *highest* ``S``. Equivalently we return ``-S = theta ⊙ Hg`` and keep the
    highest, so :func:`threshold` applies unchanged. ``Hg`` is the gradient of
    ``g_const · g(theta)`` (double backward).
    """
    masks = current_masks(model)
    net, params = scoring_copy(model)
    net.train()
    g_const = _loss_grads(net, params, batches, temperature=temperature)
    hg = {name: torch.zeros_like(p) for name, p in params.items()}
    for x, y in batches:
        loss = F.cross_entropy(net(x) / temperature, y)
        g = torch.autograd.grad(loss, list(params.values()), create_graph=True, allow_unused=True)
        z = sum((gi * g_const[n]).sum() for n, gi in zip(params, g, strict=True) if gi is not None)
        if not isinstance(z, torch.Tensor) or not z.requires_grad:
            continue
        h = torch.autograd.grad(z, list(params.values()), allow_unused=True)
        for name, hi in zip(params, h, strict=True):
            if hi is not None:
                hg[name] += hi
    out = {}
    for name, p in params.items():
        s = (p.detach() * hg[name]).double().cpu().numpy()
        out[name] = np.where(masks[name], s, -np.inf) if name in masks else s
    return out


@register_pruner(
    "grasp",
    "pai",
    mode="init",
    needs_data=True,
    summary="GraSP: remove the weights with the highest -theta * Hg (gradient-flow preservation)",
    source="Wang et al. 2020; Cunegatti et al. 2024, Table 6",
)
def _grasp(
    ctx: PruneContext, *, n_batches: int = 1, batch_size: int = 128, temperature: float = 200.0
) -> Masks:
    check_positive_int(n_batches=n_batches, batch_size=batch_size)
    scores = grasp_scores(ctx.model, ctx.batches(n_batches, batch_size), temperature=temperature)
    return threshold(scores, ctx.sparsity, "global")


# --------------------------------------------------------------------------- SynFlow


class _SynFlowRangeError(ArithmeticError):
    """R overflowed or underflowed in the working precision."""


def _unbound_activations(net: nn.Module) -> None:
    """Replace saturating activations (ReLU6, Hardtanh) by ReLU in a SynFlow copy.

    With non-negative parameters and an all-ones input every activation is
    non-negative, where ReLU is the identity, as in the linearised network of
    Tanaka et al.; ReLU6 would clip at 6 and zero the gradients of whole
    layers (MobileNet-V2).
    """
    for parent in net.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, (nn.ReLU6, nn.Hardtanh)):
                setattr(parent, child_name, nn.ReLU())


class _SynFlowNet:
    """A float64 copy of the model with every parameter and buffer replaced by its absolute value."""

    def __init__(
        self, model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32
    ) -> None:
        net, params = scoring_copy(model, dtype)
        net.eval()  # BatchNorm uses its (abs) running statistics, not batch statistics
        _unbound_activations(net)
        with torch.no_grad():
            for tensor in net.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
        self.net, self.params = net, params
        self.original = {n: p.detach().clone() for n, p in params.items()}
        device = next(iter(params.values())).device if params else None
        self.x = torch.ones(1, *input_shape, dtype=dtype, device=device)
        self.dtype = dtype

    def scores(self, masks: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(self.original[name])
                if masks is not None:
                    p.mul_(torch.as_tensor(masks[name], dtype=self.dtype, device=p.device))
        self.net.zero_grad(set_to_none=True)
        r = self.net(self.x).sum()
        if not torch.isfinite(r) or (r == 0 and self.dtype != torch.float64):
            # overflow, or underflow that float64 may resolve; R == 0 in float64 means the
            # masks disconnect input from output: every score is then 0
            raise _SynFlowRangeError(f"SynFlow's objective is {r.item()} in {self.dtype}")
        grads = torch.autograd.grad(r, list(self.params.values()), allow_unused=True)
        out = {}
        for (name, p), g in zip(self.params.items(), grads, strict=True):
            s = torch.zeros_like(p) if g is None else (g * p.detach()).abs()
            arr = s.cpu().numpy().copy()
            out[name] = np.where(masks[name], arr, -np.inf) if masks is not None else arr
        return out


def synflow_scores(
    model: nn.Module, input_shape: Sequence[int], masks: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """SynFlow scores ``|dR/dtheta ⊙ theta|``, ``R = 1^T (prod_l |theta^l|) 1``.

    ``R`` is the sum of the outputs of a float64 copy of the model whose
    parameters and buffers are replaced by their absolute values, evaluated on
    an all-ones input of ``input_shape`` (BatchNorm in eval mode). No data is
    used. Weights masked in ``masks`` are zeroed and score ``-inf``.
    """
    masks = masks if masks is not None else (current_masks(model) or None)
    if masks is not None:
        params = prunable_parameters(model)
        masks = {n: masks.get(n, np.ones(tuple(p.shape), dtype=bool)) for n, p in params.items()}
    return _synflow_auto(model, tuple(input_shape), "auto", lambda flow: flow.scores(masks))


@register_pruner(
    "synflow",
    "pai",
    mode="init",
    needs_data=False,
    summary="SynFlow: iterative synaptic-flow pruning, data-free, exponential schedule",
    source="Tanaka et al. 2020; Cunegatti et al. 2024, Table 6",
)
def _synflow(ctx: PruneContext, *, rounds: int = 100, precision: str = "auto") -> Masks:
    check_positive_int(rounds=rounds)
    shape = ctx.require_input_shape("SynFlow")
    current = current_masks(ctx.model)

    def run(flow: _SynFlowNet) -> Masks:
        masks: Masks = {
            n: current.get(n, np.ones(tuple(p.shape), dtype=bool)) for n, p in flow.params.items()
        }
        for k in range(1, rounds + 1):
            # exponential schedule: density after round k is d^(k/rounds)
            round_sparsity = 1.0 - ctx.density ** (k / rounds)
            masks = threshold(flow.scores(masks), round_sparsity, "global")
        return masks

    return _synflow_auto(ctx.model, shape, precision, run)


_PRECISIONS = {"float32": torch.float32, "float64": torch.float64}


def _synflow_auto(
    model: nn.Module, shape: tuple[int, ...], precision: str, run: Callable[[_SynFlowNet], Any]
) -> Any:
    """Run in float32 (fast) and redo in float64 if ``R`` over- or underflows (deep nets)."""
    if precision not in ("auto", *_PRECISIONS):
        raise ValidationError(
            "The 'precision' option of synflow must be one of ('auto', 'float32', 'float64'). "
            f"Got {precision!r} instead."
        )
    order = ["float32", "float64"] if precision == "auto" else [precision]
    for i, name in enumerate(order):
        try:
            return run(_SynFlowNet(model, shape, _PRECISIONS[name]))
        except _SynFlowRangeError as exc:
            if i == len(order) - 1:
                raise ValidationError(
                    f"{exc}: SynFlow cannot rank this model's weights (too deep or wide for "
                    "floating point)."
                ) from exc
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- ProsPr


def prospr_scores(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    steps: int = 3,
    lr: float = 0.1,
    masks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """ProsPr meta-gradient scores ``|dL(theta_M)/dc|`` at ``c = 1``.

    ``theta_0 ⊙ c`` takes ``steps`` plain SGD steps (learning rate ``lr``) on
    ``batches[0..steps-1]`` with the graph kept (second order), and ``L`` is the
    loss of the result on the next batch (Alizadeh et al. 2022). Batches are
    reused cyclically if fewer are given.
    """
    from torch.func import functional_call

    current = masks if masks is not None else current_masks(model)
    net, params = scoring_copy(model)
    net.train()
    all_params = dict(net.named_parameters())
    buffers = {n: b.clone() for n, b in net.named_buffers()}
    prunable = {name: name for name in params}
    c = {name: torch.ones_like(params[name], requires_grad=True) for name in prunable}
    weights: dict[str, torch.Tensor] = {}
    for name, p in all_params.items():
        base = p.detach()
        if name in c:
            m = (
                torch.as_tensor(current[name], dtype=base.dtype, device=base.device)
                if name in current
                else 1.0
            )
            weights[name] = base * m * c[name]
        else:
            weights[name] = base.clone().requires_grad_(True)
    for step in range(steps):
        x, y = batches[step % len(batches)]
        loss = F.cross_entropy(functional_call(net, (weights, buffers), (x,)), y)
        grads = torch.autograd.grad(
            loss, list(weights.values()), create_graph=True, allow_unused=True
        )
        weights = {
            n: (w - lr * g) if g is not None else w
            for (n, w), g in zip(weights.items(), grads, strict=True)
        }
    x, y = batches[steps % len(batches)]
    loss = F.cross_entropy(functional_call(net, (weights, buffers), (x,)), y)
    meta = torch.autograd.grad(loss, [c[n] for n in prunable], allow_unused=True)
    out = {}
    for name, g in zip(prunable, meta, strict=True):
        s = np.zeros(tuple(params[name].shape)) if g is None else g.abs().double().cpu().numpy()
        out[name] = np.where(current[name], s, -np.inf) if name in current else s
    return out


@register_pruner(
    "prospr",
    "pai",
    mode="init",
    needs_data=True,
    summary="ProsPr: keep the largest meta-gradients |dL(theta_M)/dc| through M SGD steps, iterative",
    source="Alizadeh et al. 2022; Cunegatti et al. 2024, Table 6",
)
def _prospr(
    ctx: PruneContext,
    *,
    rounds: int = 3,
    steps: int = 3,
    lr: float = 0.1,
    batch_size: int = 64,
) -> Masks:
    check_positive_int(rounds=rounds, steps=steps, batch_size=batch_size)
    params = ctx.params()
    current = current_masks(ctx.model)
    masks: Masks = {
        n: current.get(n, np.ones(tuple(p.shape), dtype=bool)) for n, p in params.items()
    }
    for k in range(1, rounds + 1):
        batches = ctx.batches(steps + 1, batch_size, offset=k - 1)
        scores = prospr_scores(ctx.model, batches, steps=steps, lr=lr, masks=masks)
        masks = threshold(scores, 1.0 - ctx.density ** (k / rounds), "global")
    return masks
