"""Exactness oracle for the MGE: edges == structural non-zeros of the linearised Jacobian.

The model is linearised with ``torch.fx`` (unmasked weights -> positive random
values, masked -> 0, biases 0, activations / BatchNorm / dropout identity,
max-pooling -> average pooling over the same windows). Every partition's
tensor (the traced node named in ``graph.meta["partition_nodes"]``) is cut from
its producers (``detach() + eps_p``) so the Jacobian of partition ``B`` with
respect to ``eps_A`` is the *direct* map ``A -> B`` that the edge block(s)
between them must encode. Positive coefficients mean no cancellation: a
structural non-zero is a numerical non-zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from prunegraph.loader.graph import MultipartiteGraph

_IDENTITY_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
    nn.Hardswish, nn.modules.batchnorm._BatchNorm, nn.Dropout, nn.Dropout2d, nn.Identity,
)  # fmt: skip
_IDENTITY_FUNCTIONS = {F.relu, F.relu6, F.leaky_relu, F.gelu, F.silu, F.sigmoid, F.tanh,
                       F.dropout, torch.relu, torch.sigmoid, torch.tanh}  # fmt: skip
_IDENTITY_METHODS = {"relu", "sigmoid", "tanh", "relu_"}


def _window_sum(x, kernel, stride, padding, dilation):
    """Positive linear stand-in for max-pooling: sum over each (dilated) window."""
    k, s, p, d = (
        torch.nn.modules.utils._pair(a) for a in (kernel, stride or kernel, padding, dilation)
    )
    n, c, h, w = x.shape
    cols = F.unfold(x, k, dilation=d, padding=p, stride=s)  # (n, c*kh*kw, L)
    ho = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    wo = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    return cols.view(n, c, k[0] * k[1], -1).sum(2).view(n, c, ho, wo)


def linearise(
    model: nn.Module,
    masks: dict[str, np.ndarray],
    seed: int = 0,
    keep: frozenset[str] = frozenset(),
) -> fx.GraphModule:
    """A traced copy of ``model`` that computes the positive linearised map."""
    import copy

    gm = fx.symbolic_trace(copy.deepcopy(model))
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in gm.named_parameters():
            if name in masks:
                m = torch.as_tensor(np.asarray(masks[name]), dtype=p.dtype)
                p.copy_(m * (0.5 + torch.rand(p.shape, generator=rng, dtype=p.dtype)))
            elif name not in keep:  # biases and the like; gates named in `keep` keep their values
                p.zero_()
    dependent: set[fx.Node] = set()  # nodes computed from the input (constants stay exact)
    for node in gm.graph.nodes:
        if node.op == "placeholder" or any(a in dependent for a in node.all_input_nodes):
            dependent.add(node)
    for node in list(gm.graph.nodes):
        if node not in dependent:
            continue
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            if isinstance(mod, _IDENTITY_MODULES):
                node.replace_all_uses_with(node.args[0])
                gm.graph.erase_node(node)
            elif isinstance(mod, nn.MaxPool2d):
                with gm.graph.inserting_after(node):
                    if mod.dilation in (
                        1,
                        (1, 1),
                    ):  # avg-pool has ceil_mode, window_sum has dilation
                        new = gm.graph.call_function(
                            F.avg_pool2d,
                            (node.args[0], mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode),
                        )
                    else:
                        new = gm.graph.call_function(
                            _window_sum,
                            (node.args[0], mod.kernel_size, mod.stride, mod.padding, mod.dilation),
                        )
                node.replace_all_uses_with(new)
                gm.graph.erase_node(node)
            elif isinstance(mod, nn.AdaptiveMaxPool2d):
                with gm.graph.inserting_after(node):
                    new = gm.graph.call_function(
                        F.adaptive_avg_pool2d, (node.args[0], mod.output_size)
                    )
                node.replace_all_uses_with(new)
                gm.graph.erase_node(node)
        elif node.op == "call_function":
            if node.target in _IDENTITY_FUNCTIONS:
                node.replace_all_uses_with(node.args[0])
                gm.graph.erase_node(node)
            elif node.target is F.max_pool2d:
                kw = dict(
                    zip(("kernel", "stride", "padding", "dilation"), node.args[1:], strict=False)
                )
                kw.update({k if k != "kernel_size" else "kernel": v for k, v in node.kwargs.items()
                           if k in ("kernel_size", "stride", "padding", "dilation")})  # fmt: skip
                node.target = _window_sum
                node.args = (node.args[0], kw["kernel"], kw.get("stride"), kw.get("padding", 0),
                             kw.get("dilation", 1))  # fmt: skip
                node.kwargs = {}
            elif node.target is F.max_pool1d:
                node.target = F.avg_pool1d
                node.args = node.args[:4]
                node.kwargs = {k: v for k, v in node.kwargs.items() if k in ("stride", "padding")}
            elif node.target is F.adaptive_max_pool2d:
                node.target = F.adaptive_avg_pool2d
                node.kwargs = {}
        elif node.op == "call_method" and node.target in _IDENTITY_METHODS:
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    gm.eval()
    return gm


class _Cut(fx.Interpreter):
    """Runs the linearised model with every partition's tensor *replaced* by ``eps[p]``.

    Only the nodes downstream of the impulse partition ``a`` (up to the next cuts)
    are computed; every other input-dependent tensor is zero in a bias-free linear
    map, so it is materialised as zeros without running its op.
    """

    def __init__(self, gm, cut, a, impulse, shapes, dependent) -> None:
        super().__init__(gm)
        self.cut, self.a, self.impulse = cut, a, impulse
        self.shapes, self.dependent = shapes, dependent
        self.values: dict[int, torch.Tensor] = {}
        self.live: set[fx.Node] = set()
        self.batch = impulse.shape[0]

    def _zeros(self, n: fx.Node) -> torch.Tensor:
        return torch.zeros((self.batch, *self.shapes[n][1:]), dtype=torch.float64)

    def run_node(self, n: fx.Node) -> Any:
        if n.op == "placeholder":
            if self.a == 0:
                self.live.add(n)
                return self.impulse
            return self._zeros(n)
        live_in = any(x in self.live for x in n.all_input_nodes)
        if n in self.dependent and n in self.shapes and not live_in and n.op != "output":
            out = self._zeros(n)
        else:
            out = super().run_node(n)
            if live_in:
                self.live.add(n)
        if n.name in self.cut and isinstance(out, torch.Tensor):
            p = self.cut[n.name]
            self.values[p] = out
            if p == self.a:
                self.live.add(n)
                return self.impulse
            self.live.discard(n)
            return self._zeros(n)
        return out


def _shapes(gm: fx.GraphModule, graph: MultipartiteGraph):
    """Output shape of every tensor node (batch of 1) and the input-dependent nodes."""
    from torch.fx.passes.shape_prop import ShapeProp

    x = torch.zeros((1, *graph.meta["input_shape"]), dtype=torch.float64)
    ShapeProp(gm).propagate(x)
    shapes, dependent = {}, set()
    for n in gm.graph.nodes:
        meta = n.meta.get("tensor_meta")
        if meta is not None and hasattr(meta, "shape"):
            shapes[n] = tuple(meta.shape)
        if n.op == "placeholder" or any(a in dependent for a in n.all_input_nodes):
            dependent.add(n)
    return shapes, dependent


def _direct(
    gm: fx.GraphModule, graph: MultipartiteGraph, max_units: int | None = None, seed: int = 0
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Direct Jacobians by unit impulses: the linearised map has no bias, so feeding unit
    impulses (as a batch) into partition A yields the columns of J_BA.

    Returns ``{(A, B): (J, units)}`` with ``J[b, k] = d B[b] / d A[units[k]]``; with
    ``max_units`` only a random sample of that many units of A is probed (large models).
    """
    nodes = graph.meta["partition_nodes"]
    cut = {name: p for p, name in enumerate(nodes) if p > 0}
    shapes_p = [tuple(p.shape) for p in graph.partitions]
    gm = gm.double()
    shapes, dependent = _shapes(gm, graph)
    rng = np.random.default_rng(seed)
    out = {}
    with torch.no_grad():
        for a, part_a in enumerate(graph.partitions):
            n_a = part_a.size
            units = np.arange(n_a)
            if max_units is not None and n_a > max_units:
                units = np.sort(rng.choice(n_a, size=max_units, replace=False))
            impulse = torch.zeros((len(units), n_a), dtype=torch.float64)
            impulse[torch.arange(len(units)), torch.as_tensor(units)] = 1.0
            impulse = impulse.reshape(len(units), *shapes_p[a])
            interp = _Cut(gm, cut, a, impulse, shapes, dependent)
            interp.run(impulse if a == 0 else interp._zeros(next(iter(gm.graph.nodes))))
            missing = [p for p in range(1, len(shapes_p)) if p not in interp.values]
            assert not missing, f"partitions {missing} were not produced by their nodes"
            for b in range(1, len(shapes_p)):
                if b != a:
                    j = interp.values[b].reshape(len(units), -1).T.numpy()
                    out[(a, b)] = (j, units)
    return out


def direct_jacobians(
    model: nn.Module,
    masks: dict[str, np.ndarray],
    graph: MultipartiteGraph,
    seed: int = 0,
    max_units: int | None = None,
    keep: frozenset[str] = frozenset(),
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """``{(A, B): (J, units)}``, ``J[b, k] = d partition_B[b] / d partition_A[units[k]]``."""
    return _direct(linearise(model, masks, seed, keep), graph, max_units, seed)


def check_mge_exact(
    model, masks, graph: MultipartiteGraph, *, check_weights: bool = True,
    max_units: int | None = None, keep: frozenset[str] = frozenset(),
) -> None:  # fmt: skip
    """Assert the MGE's edges between every partition pair equal the Jacobian pattern.

    With ``max_units``, each partition's edges are checked from a random sample of
    that many source units (exact for those units); otherwise from every unit.
    ``keep`` names parameters that are not masked weights but keep their values in
    the linearisation (constant gates such as a DAG network's edge weights).
    """
    keep = frozenset(keep)
    jac = direct_jacobians(model, masks, graph, max_units=max_units, keep=keep)
    for (a, b), (j, units) in jac.items():
        expected = {
            (int(x), int(units[y])) for x, y in zip(*np.nonzero(np.abs(j) > 1e-12), strict=True)
        }  # (b_unit, a_unit)
        sampled = np.zeros(graph.partitions[a].size, dtype=bool)
        sampled[units] = True
        got: set[tuple[int, int]] = set()
        for blk in graph.blocks:
            if blk.src_partition == a and blk.dst_partition == b:
                s, d, _ = graph.block_local_edges(blk)
                pairs = list(zip(d.tolist(), s.tolist(), strict=True))
                assert len(pairs) == len(set(pairs)), f"duplicate edges in block {blk.name}"
                chosen = sampled[s]
                got |= set(zip(d[chosen].tolist(), s[chosen].tolist(), strict=True))
        assert got == expected, (
            f"partitions {a}->{b}: {len(got - expected)} extra, {len(expected - got)} missing edges"
        )
    # no edge goes backwards and every block's edges stay inside its partitions
    part = graph.node_partition
    for blk in graph.blocks:
        s, d, _ = graph.block_edges(blk)
        assert (part[s] == blk.src_partition).all() and (part[d] == blk.dst_partition).all()
        assert blk.src_partition < blk.dst_partition
    if check_weights:
        check_unpooled_weights(model, masks, graph, max_units=max_units, keep=keep)


def check_unpooled_weights(
    model, masks, graph: MultipartiteGraph, max_units=None, keep=frozenset()
) -> None:
    """For conv/linear blocks without pooling, each edge weight is |theta| of its kernel entry
    (times |c| of a constant gate): compare with the Jacobian of the linearised model using
    |theta| itself as the weight."""
    abs_masks = {name: np.asarray(m) for name, m in masks.items()}
    gm_jac = _abs_weight_jacobians(model, abs_masks, graph, max_units, keep)
    for blk in graph.blocks:
        if blk.kind == "skip" or blk.pool is not None:
            continue
        s, d, w = graph.block_local_edges(blk)
        j, units = gm_jac[(blk.src_partition, blk.dst_partition)]
        shared = [b for b in graph.blocks if (b.src_partition, b.dst_partition)
                  == (blk.src_partition, blk.dst_partition)]  # fmt: skip
        if len(shared) > 1:
            continue
        column = np.full(graph.partitions[blk.src_partition].size, -1)
        column[units] = np.arange(len(units))
        chosen = column[s] >= 0
        np.testing.assert_allclose(
            np.abs(j[d[chosen], column[s[chosen]]]), w[chosen], rtol=1e-5, err_msg=blk.name
        )


def _abs_weight_jacobians(model, masks, graph, max_units=None, keep=frozenset()):
    """Jacobians of the linearisation that uses |theta| (masked) as its weights."""
    import copy

    m2 = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in m2.named_parameters():
            if name in masks:
                p.copy_(p.abs() * torch.as_tensor(masks[name], dtype=p.dtype))
    return _direct(linearise_keep_weights(m2, set(masks), keep), graph, max_units)


def linearise_keep_weights(model, names, keep=frozenset()) -> fx.GraphModule:
    """``linearise`` without re-drawing the weights (biases still zeroed)."""
    import copy

    m2 = copy.deepcopy(model)
    ones = {n: np.ones(tuple(p.shape), dtype=bool) for n, p in m2.named_parameters() if n in names}
    saved = {n: p.detach().clone() for n, p in m2.named_parameters() if n in names}
    gm = linearise(m2, ones, keep=frozenset(keep))
    with torch.no_grad():
        for n, p in gm.named_parameters():
            if n in saved:
                p.copy_(saved[n])
    return gm


def random_masks(
    model: nn.Module, density: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Bernoulli masks for every Conv/Linear weight (at least one entry kept per layer)."""
    masks = {}
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Linear):
            key = f"{name}.weight"
            m = rng.random(tuple(mod.weight.shape)) < density
            m.flat[rng.integers(m.size)] = True
            masks[key] = m
    return masks
