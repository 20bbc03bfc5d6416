"""Graph pruners on the rolled bipartite layer graphs: spectral sparsification and Ramanujan.

The rolled graph of a layer (Pal et al. 2022; Laenen 2023, section 2.4; the Ramanujan-graph
LTH paper, section 3) has one left node per input unit of the kernel, ``C_in * k_h * k_w``
for a convolution (``C_in / groups`` for grouped ones) or ``in_features`` for a
Linear layer, and one right node per output channel / feature. Its
bi-adjacency matrix is ``W.reshape(C_out, -1).T`` (left x right).

* ``spectral`` (Laenen 2023, Algorithms 1-2): per layer, sample edges with
  probability ``p_e = min(1, C * w_e * R_eff(e))`` where ``w_e`` is the edge's
  score and ``R_eff`` its effective resistance in the score-weighted rolled
  graph, then fix the count exactly.
* ``ramanujan`` (Ramanujan-graph LTH paper, Algorithm 1): iterative pruning that stops pruning a
  layer as soon as the next pruning step would break its Ramanujan bounds
  (Table 1) or collapse it (an average degree below 2).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from prunegraph.errors import ValidationError
from prunegraph.loader.masks import Masks
from prunegraph.loader.pruning.baselines import erk_densities
from prunegraph.loader.pruning.core import (
    PruneContext,
    apportion,
    check_positive_int,
    layer_sizes,
    n_keep,
    register_pruner,
    threshold,
    top_k_mask,
)
from prunegraph.loader.pruning.magnitude import magnitude_scores
from prunegraph.loader.pruning.pai import snip_scores, synflow_scores

SPECTRAL_SCORES = ("magnitude", "snip", "synflow")
ALLOCATIONS = ("epsilon", "uniform", "erk")
RAMANUJAN_BASES = ("imp", "snip", "synflow", "magnitude")


def rolled(array: np.ndarray) -> np.ndarray:
    """Bi-adjacency (left x right) of a layer's rolled graph from its weight-shaped array."""
    return array.reshape(array.shape[0], -1).T


# --------------------------------------------------------------------------- effective resistance


def effective_resistances(
    n_left: int,
    n_right: int,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    *,
    exact_max_nodes: int = 1500,
    n_projections: int = 48,
    seed: int = 0,
    tol: float = 1e-6,
) -> np.ndarray:
    """Effective resistance of every edge of a weighted bipartite graph.

    ``R_eff(u, v) = (e_u - e_v)^T L^+ (e_u - e_v)`` with ``L`` the weighted
    Laplacian. Exact (pseudo-inverse by ``eigh``) up to ``exact_max_nodes``
    nodes; above, the Spielman-Srivastava approximation: ``Z = Q W^{1/2} B L^+``
    with ``Q`` a ``k x m`` random ``±1/sqrt(k)`` matrix (``k = n_projections``),
    ``L^+`` applied by Jacobi-preconditioned conjugate gradients on the sparse
    Laplacian, and ``R_eff(u, v) ≈ ||Z (e_u - e_v)||^2`` (JL: relative error
    ``O(sqrt(log m / k))``).

    Parameters
    ----------
    n_left, n_right : int
        Node counts; left nodes are ``0..n_left-1``, right nodes follow.
    left, right : numpy.ndarray of int
        Edge endpoints (left index, right index).
    weight : numpy.ndarray of float
        Positive edge weights.
    """
    n = n_left + n_right
    u = np.asarray(left, dtype=np.int64)
    v = np.asarray(right, dtype=np.int64) + n_left
    w = np.asarray(weight, dtype=np.float64)
    if u.size == 0:
        return np.zeros(0)
    lap = sp.coo_matrix(
        (np.concatenate([-w, -w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n)
    ).tocsr()
    degree = np.bincount(u, weights=w, minlength=n) + np.bincount(v, weights=w, minlength=n)
    lap = (lap + sp.diags(degree)).tocsr()
    if n <= exact_max_nodes:
        return _exact_resistances(lap, u, v)
    rng = np.random.default_rng(seed)
    k = int(n_projections)
    y = np.zeros((n, k))
    sqrt_w = np.sqrt(w)
    chunk = max(1, 2_000_000 // k)
    for start in range(0, u.size, chunk):
        sl = slice(start, start + chunk)
        size = sqrt_w[sl].size
        bits = np.unpackbits(np.frombuffer(rng.bytes((size * k + 7) // 8), dtype=np.uint8))
        signs = bits[: size * k].reshape(size, k).astype(np.float64) * 2.0 - 1.0
        # Y += B_chunk^T W^{1/2} Q_chunk^T, with the incidence as a sparse (n x chunk) matrix
        cols = np.arange(size)
        incidence = sp.csr_matrix(
            (
                np.concatenate([sqrt_w[sl], -sqrt_w[sl]]) / math.sqrt(k),
                (np.concatenate([u[sl], v[sl]]), np.concatenate([cols, cols])),
            ),
            shape=(n, size),
        )
        y += incidence @ signs
    z = _block_pcg(lap, y, degree, tol=tol)
    out = np.empty(u.size)
    for start in range(0, u.size, chunk):
        sl = slice(start, start + chunk)
        d = z[u[sl]] - z[v[sl]]
        out[sl] = np.einsum("ij,ij->i", d, d)
    return out


def _exact_resistances(lap: sp.csr_matrix, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Exact ``R_eff`` per edge: per connected component ``c`` with ``n_c`` nodes,
    ``M_c = (L_c + J / n_c)^{-1}`` equals ``L_c^+ + J / n_c`` and the ``J`` term
    cancels in ``M[u,u] + M[v,v] - 2 M[u,v]`` (both ends lie in ``c``)."""
    from scipy.sparse.csgraph import connected_components

    n_comp, labels = connected_components(lap, directed=False)
    out = np.empty(u.size)
    edge_comp = labels[u]
    for c in range(n_comp):
        nodes = np.flatnonzero(labels == c)
        edges = np.flatnonzero(edge_comp == c)
        if edges.size == 0:
            continue
        local = np.full(lap.shape[0], -1, dtype=np.int64)
        local[nodes] = np.arange(nodes.size)
        block = lap[nodes][:, nodes].toarray() + 1.0 / nodes.size
        m = np.linalg.inv(block)
        lu, lv = local[u[edges]], local[v[edges]]
        out[edges] = m[lu, lu] + m[lv, lv] - 2.0 * m[lu, lv]
    return out


def _block_pcg(
    lap: sp.csr_matrix, rhs: np.ndarray, diag: np.ndarray, *, tol: float, maxiter: int = 1000
) -> np.ndarray:
    """Solve ``L X = B`` column by column (vectorised) with Jacobi-preconditioned CG.

    ``B``'s columns sum to zero on every connected component, so the singular
    system is consistent; the null-space drift of ``X`` is constant per
    component and cancels in ``X[u] - X[v]``.
    """
    inv_diag = 1.0 / np.where(diag > 0, diag, 1.0)
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = r * inv_diag[:, None]
    p = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    norm_b = np.linalg.norm(rhs, axis=0)
    norm_b[norm_b == 0] = 1.0
    for _ in range(maxiter):
        ap = lap @ p
        pap = np.einsum("ij,ij->j", p, ap)
        alpha = np.divide(rz, pap, out=np.zeros_like(rz), where=pap > 0)
        x += p * alpha
        r -= ap * alpha
        if np.all(np.linalg.norm(r, axis=0) <= tol * norm_b):
            break
        z = r * inv_diag[:, None]
        rz_new = np.einsum("ij,ij->j", r, z)
        beta = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
        p = z + p * beta
        rz = rz_new
    return x


# --------------------------------------------------------------------------- spectral pruning


def sample_exact(leverage: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Spielman-Srivastava sampling with an exact count (Laenen 2023, appendix A).

    ``p_e = min(1, C * l_e)`` with ``C`` found by bisection so that
    ``sum_e p_e = k``; edges are drawn independently with ``p_e``, then the
    count is corrected to exactly ``k`` by dropping random sampled edges or
    adding random unsampled ones. Returns a boolean keep vector.
    """
    m = leverage.size
    keep = np.zeros(m, dtype=bool)
    if k >= m:
        keep[:] = True
        return keep
    if k <= 0:
        return keep
    lev = np.clip(np.nan_to_num(leverage, nan=0.0, posinf=0.0), 0.0, None)
    if lev.sum() > 0:
        lo, hi = 0.0, 1.0 / max(lev[lev > 0].min(), 1e-300)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.minimum(1.0, mid * lev).sum() < k:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-12 * hi:
                break
        prob = np.minimum(1.0, hi * lev)
        keep = rng.random(m) < prob
    count = int(keep.sum())
    if count > k:
        keep[rng.choice(np.flatnonzero(keep), size=count - k, replace=False)] = False
    elif count < k:
        keep[rng.choice(np.flatnonzero(~keep), size=k - count, replace=False)] = True
    return keep


def spectral_layer_mask(
    score: np.ndarray,
    k: int,
    rng: np.random.Generator,
    *,
    exact_max_nodes: int = 1500,
    n_projections: int = 48,
) -> np.ndarray:
    """Mask of one layer keeping ``k`` edges sampled by ``score * R_eff`` (Algorithm 1)."""
    bi = rolled(np.asarray(score, dtype=np.float64))
    n_left, n_right = bi.shape
    left, right = np.nonzero(bi > 0)
    w = bi[left, right]
    keep_bi = np.zeros(bi.shape, dtype=bool)
    if w.size:
        w = w / w.mean()  # R_eff * w is scale-free; this keeps the solver well scaled
        reff = effective_resistances(
            n_left,
            n_right,
            left,
            right,
            w,
            exact_max_nodes=exact_max_nodes,
            n_projections=n_projections,
            seed=int(rng.integers(2**31)),
        )
        lev = np.zeros(bi.size)
        lev[left * n_right + right] = w * reff
    else:
        lev = np.zeros(bi.size)
    keep_bi.reshape(-1)[:] = sample_exact(lev, k, rng)
    # back from rolled (left x right) to the weight's shape (C_out, ...)
    return keep_bi.T.reshape(score.shape)


def _base_scores(ctx: PruneContext, score: str, batches: Any = None) -> dict[str, np.ndarray]:
    if score == "magnitude":
        return magnitude_scores(ctx.model)
    if score == "snip":
        return snip_scores(ctx.model, batches)
    if score == "synflow":
        return synflow_scores(ctx.model, ctx.require_input_shape("SynFlow scores"))
    raise ValidationError(
        f"The 'score' option of spectral must be one of {SPECTRAL_SCORES}. Got {score!r} instead."
    )


@register_pruner(
    "spectral",
    "graph",
    mode="init",
    needs_data=False,
    summary="spectral sparsification: per layer, sample edges by score x effective resistance",
    source="Laenen 2023 (Algorithms 1-2); Spielman & Srivastava 2011",
)
def _spectral(
    ctx: PruneContext,
    *,
    score: str = "magnitude",
    allocation: str = "epsilon",
    exact_max_nodes: int = 1500,
    n_projections: int = 48,
    n_batches: int = 1,
    batch_size: int = 128,
) -> Masks:
    if score not in SPECTRAL_SCORES:
        raise ValidationError(
            f"The 'score' option of spectral must be one of {SPECTRAL_SCORES}. Got {score!r} instead."
        )
    if allocation not in ALLOCATIONS:
        raise ValidationError(
            f"The 'allocation' option of spectral must be one of {ALLOCATIONS}. Got {allocation!r} instead."
        )
    check_positive_int(exact_max_nodes=exact_max_nodes, n_projections=n_projections)
    batches = None
    if score == "snip":
        if ctx.data is None:
            warnings.warn(
                "spectral with SNIP scores but no data: using synthetic batches.",
                UserWarning,
                stacklevel=3,
            )
        batches = ctx.batches(n_batches, batch_size)
    scores = _base_scores(ctx, score, batches)
    params = ctx.params()
    names = list(params)
    sizes = layer_sizes(params)
    total = n_keep(int(sizes.sum()), ctx.sparsity)
    if allocation == "uniform":
        densities = np.full(len(names), ctx.density)
    elif allocation == "erk":
        densities = erk_densities([tuple(p.shape) for p in params.values()], ctx.density)
    else:
        # One epsilon for every layer (Algorithm 2): the expected edge count of a layer is
        # sum_e min(1, 5 log(n) l_e eps) with sum_e l_e = n - c (Foster), i.e. ~5 n log(n) eps.
        nodes = np.array(
            [sum(rolled(np.empty(p.shape)).shape) for p in params.values()], dtype=float
        )
        weights = 5.0 * nodes * np.log(np.maximum(nodes, 2.0))
        densities = np.minimum(1.0, weights / sizes)
    counts = apportion(sizes, densities, total)
    rng = np.random.default_rng(ctx.seed)
    masks: Masks = {}
    for name, k in zip(names, counts, strict=True):
        s = np.where(np.isfinite(scores[name]), scores[name], 0.0)
        masks[name] = spectral_layer_mask(
            s, int(k), rng, exact_max_nodes=exact_max_nodes, n_projections=n_projections
        )
    return masks


# --------------------------------------------------------------------------- Ramanujan bounds


@dataclass(frozen=True)
class LayerBounds:
    """Table 1 quantities (Ramanujan-graph LTH paper) of one rolled layer graph (isolated nodes removed).

    ``delta_s = 2 sqrt(t1 - 1) - t2`` (NaN if ``t1 < 1``) and
    ``delta_r = sqrt(dl - 1) + sqrt(dr - 1) - t2`` (NaN if a mean degree < 1);
    the bound holds when the difference is positive. ``t1 >= t2`` are the two
    largest distinct singular values of the bi-adjacency (the largest
    eigenvalue magnitudes of the bipartite adjacency).
    """

    t1: float
    t2: float
    dl: float
    dr: float
    delta_s: float
    delta_r: float

    @property
    def delta_s_rel(self) -> float:
        return self.delta_s / self.t2 if self.t2 > 0 else math.inf

    @property
    def delta_r_rel(self) -> float:
        return self.delta_r / self.t2 if self.t2 > 0 else math.inf


def layer_bounds(biadjacency: np.ndarray) -> LayerBounds:
    """Ramanujan bound differences of a (weighted or 0/1) bi-adjacency matrix."""
    a = np.abs(np.asarray(biadjacency, dtype=np.float64))
    a = a[np.any(a != 0, axis=1)][:, np.any(a != 0, axis=0)]
    if a.size == 0:
        nan = float("nan")
        return LayerBounds(0.0, 0.0, 0.0, 0.0, nan, nan)
    nnz = np.count_nonzero(a)
    dl, dr = nnz / a.shape[0], nnz / a.shape[1]
    gram = a.T @ a if a.shape[1] <= a.shape[0] else a @ a.T
    sv = np.sqrt(np.clip(np.linalg.eigvalsh(gram)[::-1], 0.0, None))
    t1 = float(sv[0])
    sv[sv < t1 * 1e-6] = 0.0  # sqrt of rounding noise in the Gram matrix is ~1e-8 t1
    smaller = sv[sv < t1 * (1 - 1e-9)]
    t2 = float(smaller[0]) if smaller.size else 0.0
    delta_s = 2.0 * math.sqrt(t1 - 1.0) - t2 if t1 >= 1.0 else float("nan")
    delta_r = math.sqrt(dl - 1.0) + math.sqrt(dr - 1.0) - t2 if min(dl, dr) >= 1.0 else float("nan")
    return LayerBounds(t1, t2, dl, dr, delta_s, delta_r)


def _gt(value: float, bound: float) -> bool:
    return not math.isnan(value) and value > bound


def _ge(value: float, bound: float) -> bool:
    return not math.isnan(value) and value >= bound


@dataclass
class RamanujanReport:
    """What :func:`ramanujan_prune` did: per-layer stop reasons and iterations."""

    iterations: int = 0
    stopped: dict[str, str] = field(default_factory=dict)  # layer -> "bound" | "collapse"
    bound_sparsity: float = 0.0  # sparsity reached while respecting the bounds
    filled: bool = False  # True if the rest was pruned by scores alone to hit the target


def ramanujan_prune(
    masks: Masks,
    score_fn: Callable[[Masks, int], Mapping[str, np.ndarray]],
    target_keep: int,
    *,
    percentile: float = 0.4,
    levels: int = 4,
    max_iterations: int = 100,
) -> tuple[Masks, RamanujanReport]:
    """Algorithm 1 of the Ramanujan-graph LTH paper, repeated until no layer changes or ``target_keep`` is reached.

    In each iteration, for every layer still being pruned: try to remove the
    fraction ``percentile / 2^k`` (``k = 1..levels``) of its surviving weights
    with the lowest scores. Accept the first candidate whose rolled graph keeps
    average degrees >= 2 and satisfies the unweighted bounds
    (``max(delta_s, delta_r) > 0``) or, failing that, the weighted eigenvalue
    bound with scores as weights (``delta_s >= 0`` and ``t1 >= 1``). A layer
    whose candidate collapses (average degree < 2), or that fails at every
    level, is not pruned and is never pruned again.

    ``score_fn(masks, iteration)`` returns current scores (higher = keep).
    """
    masks = {n: m.copy() for n, m in masks.items()}
    report = RamanujanReport()
    for iteration in range(1, max_iterations + 1):
        kept = sum(int(m.sum()) for m in masks.values())
        active = [n for n in masks if n not in report.stopped]
        if kept <= target_keep or not active:
            break
        report.iterations = iteration
        scores = score_fn(masks, iteration)
        changed = False
        for name in active:
            budget = kept - target_keep
            if budget <= 0:
                break
            mask = masks[name]
            layer_scores = np.where(mask, np.nan_to_num(scores[name], neginf=-np.inf), -np.inf)
            alive = int(mask.sum())
            accepted = False
            for k in range(1, levels + 1):
                n_remove = min(round(alive * percentile / 2**k), budget)
                if n_remove < 1:
                    break
                candidate = _keep_top(layer_scores, alive - n_remove)
                bi = rolled(candidate)
                bounds = layer_bounds(bi)
                if min(bounds.dl, bounds.dr) < 2.0:
                    report.stopped[name] = "collapse"
                    break
                ok = (
                    max(
                        bounds.delta_s if not math.isnan(bounds.delta_s) else -math.inf,
                        bounds.delta_r if not math.isnan(bounds.delta_r) else -math.inf,
                    )
                    > 0
                )
                if not ok:
                    weighted = layer_bounds(
                        rolled(
                            np.where(
                                candidate, np.abs(np.nan_to_num(scores[name], neginf=0.0)), 0.0
                            )
                        )
                    )
                    ok = _ge(weighted.delta_s, 0.0) and _ge(weighted.t1, 1.0)
                if ok:
                    masks[name] = candidate
                    kept -= n_remove
                    accepted = changed = True
                    break
            if not accepted and name not in report.stopped:
                report.stopped[name] = "bound"
        if not changed:
            break
    total = sum(m.size for m in masks.values())
    report.bound_sparsity = 1.0 - sum(int(m.sum()) for m in masks.values()) / total
    return masks, report


def _keep_top(scores: np.ndarray, k: int) -> np.ndarray:
    return top_k_mask(scores.reshape(-1), k).reshape(scores.shape)


@register_pruner(
    "ramanujan",
    "graph",
    mode="init",
    trains=True,  # with base="imp" it trains the model between pruning steps
    needs_data=False,  # only with base imp/snip; warned below
    summary="Ramanujan-preserving iterative pruning on top of IMP, SNIP or SynFlow scores",
    source="Ramanujan-graph LTH paper (Algorithm 1, Table 1); Pal et al. 2022",
)
def _ramanujan(
    ctx: PruneContext,
    *,
    base: str = "synflow",
    percentile: float = 0.4,
    levels: int = 4,
    max_iterations: int = 100,
    enforce_target: bool = True,
    n_batches: int = 1,
    batch_size: int = 128,
) -> Masks:
    """With ``enforce_target`` (default) the weights still above the target after the
    bound-preserving phase are pruned globally by the base scores (with a warning), so the
    target sparsity is met; with ``enforce_target=False`` the result may be denser (the
    paper's behaviour). With ``base="imp"`` every scoring step rewinds to the
    initial weights and trains with ``ctx.training`` (the study's ``[training]``);
    ``batch_size`` and ``n_batches`` are the SNIP scoring batches."""
    if base not in RAMANUJAN_BASES:
        raise ValidationError(
            f"The 'base' option of ramanujan must be one of {RAMANUJAN_BASES}. Got {base!r} instead."
        )
    if not 0.0 < percentile < 1.0:
        raise ValidationError(
            f"The 'percentile' option of ramanujan must be a float in the range (0, 1). Got {percentile!r} instead."
        )
    check_positive_int(levels=levels, max_iterations=max_iterations)
    if base in ("imp", "snip") and ctx.data is None:
        warnings.warn(
            f"ramanujan with base '{base}' uses data but none was given: using synthetic batches "
            "(pruning at initialisation without data).",
            UserWarning,
            stacklevel=3,
        )
    params = ctx.params()
    masks: Masks = {n: np.ones(tuple(p.shape), dtype=bool) for n, p in params.items()}
    target_keep = n_keep(int(layer_sizes(params).sum()), ctx.sparsity)
    model = ctx.model
    initial = {k: v.clone() for k, v in model.state_dict().items()} if base == "imp" else None

    def score_fn(current: Masks, iteration: int) -> Mapping[str, np.ndarray]:
        if base == "synflow":
            return synflow_scores(model, ctx.require_input_shape("SynFlow"), current)
        if base == "snip":
            return snip_scores(model, ctx.batches(n_batches, batch_size, offset=iteration), current)
        if base == "imp":
            assert initial is not None
            model.load_state_dict(initial)
            ctx.train(current, seed=ctx.seed + iteration)
        scores = magnitude_scores(model)
        return {n: np.where(current[n], s, -np.inf) for n, s in scores.items()}

    masks, report = ramanujan_prune(
        masks,
        score_fn,
        target_keep,
        percentile=percentile,
        levels=levels,
        max_iterations=max_iterations,
    )
    kept = sum(int(m.sum()) for m in masks.values())
    if kept > target_keep and enforce_target:
        warnings.warn(
            f"ramanujan: the bounds stop pruning at sparsity {report.bound_sparsity:.4f}; the rest "
            f"down to {ctx.sparsity} is pruned by {base} scores alone (enforce_target=False keeps "
            "the bound-preserving masks).",
            UserWarning,
            stacklevel=3,
        )
        scores = score_fn(masks, report.iterations + 1)
        masks = threshold(
            {n: np.where(masks[n], scores[n], -np.inf) for n in masks}, ctx.sparsity, "global"
        )
        report.filled = True
    if initial is not None:
        model.load_state_dict(initial)
    return masks
