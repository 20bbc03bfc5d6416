r"""Compiled products and the plain Lanczos solver behind ``spectral_gap`` and ``spectral_radius``.

The two spectral metrics of section A need the top of two spectra of one
matrix: ``mu_0, mu_1`` of the symmetric ``|w|`` adjacency ``A_s`` and the top
of the Laplacian ``L = D - A_s``. On a large graph both solves are bound by
memory traffic: one product reads every stored entry of ``A_s``. This module
brings a solve down to the cost of its products:

* :class:`LanczosRun` is the three-term Lanczos recurrence (Lanczos, 1950)
  with no reorthogonalisation: each step is one product plus a few passes
  over three vectors (:func:`lanczos_step`; on long vectors, kept unnormalised,
  the two passes of :func:`lanczos_step_scaled`), against ARPACK's restarted
  basis of 20 vectors, swept at every step and every restart.
* Several recurrences run in lockstep through one multi-column product
  (:func:`sym_matvec2_ws`, :func:`csr_matvec2`; both runs then step in one
  call of :func:`lanczos_pair_step`): the gap's and the radius's
  vectors read the matrix once per step (``L x = d * x - A_s x`` in the same
  pass).
* On a bipartite graph the gap's folded product ``B B^T x`` is two halves of
  :func:`folded_half` over the upper triangle (each stored entry read once per
  half, rows split between threads by entries).
* The products contract ``a += w * x`` into fused multiply-adds (numba's
  ``fastmath={'contract'}``: one rounding instead of two, no reassociation by
  the compiler): 5-15 % less CPU per product on these memory-bound loops. The
  upper-triangle kernels split a row's gather into two or four partial sums
  themselves (a fixed order: the chain of dependent adds, not the memory,
  bounded the single-column loop).

Accuracy. Without reorthogonalisation, orthogonality is lost as Ritz values
converge and converged eigenvalues reappear as copies ("ghosts"). Paige (1980,
Linear Algebra Appl.) showed that in finite precision every Ritz value
``theta_i`` of the tridiagonal ``T_m`` still lies within
``2.5 (beta_m |s_{m,i}| + O(m^3 eps ||A||))`` of an eigenvalue of ``A``
(``s_{m,i}`` the last entry of its eigenvector in ``T_m``): a Ritz value that
passes ARPACK's test

.. math:: \beta_m |s_{m,i}| \le \mathrm{tol}\, |\theta_i|

is an eigenvalue to that tolerance, ghost or not. A ghost of ``mu_0`` is
harmless for the gap by its definition (``mu_1`` is the largest eigenvalue
below ``mu_0 (1 - 10^{-9})``, copies of ``mu_0`` are skipped); one that is still
converging could however sit just below that threshold, so the second value is
accepted only when its error interval excludes ``mu_0``:
``theta_0 - theta_c > 2.5 (b_0 + b_c)`` with ``b_i = beta_m |s_{m,i}|``
(otherwise the recurrence goes on: converged values keep converging, ghosts
move up into ``mu_0``'s copies). The recurrence hands over to the caller's
fallback (ARPACK) when the Krylov space closes (an invariant subspace: the
eigenvalues outside it would be missed) or after :data:`MAX_STEPS` steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from numba import njit, prange

#: Most steps of a plain Lanczos recurrence before it gives up (the caller falls back).
MAX_STEPS = 400
#: Ritz values taken from the top of ``T_m`` at each convergence test (more when
#: ghosts of ``mu_0`` fill them all).
TOP_RITZ = 8
#: Paige's factor between a Ritz value's residual bound and its distance to the spectrum.
PAIGE_FACTOR = 2.5
#: LLVM flags of the product kernels: fused multiply-add only (no reassociation, no
#: assumptions on NaN or infinity), so a product's sums keep their order.
FMA = {"contract"}


# ------------------------------------------------------------------ kernels
@njit(cache=True, parallel=True, fastmath=FMA)
def sym_matvec2_ws(
    indptr, indices, data, loops, x, wdeg, laplacian, spans, acc
):  # pragma: no cover
    """Two products from the upper triangle of ``A_s`` in one pass: ``out[j] = M_j x[:, j]``.

    ``x`` is ``(n, 2)`` C-ordered (both columns of a row in one cache line), the
    result ``(2, n)`` (each product contiguous);
    ``M_j = D - A_s`` where ``laplacian[j]``, else ``A_s``. Each upper entry is
    read once, gathered for its row and scattered to its column into one of
    per-thread accumulators (row chunks balanced by entries: :func:`upper_spans`);
    float32 weights, float64 sums. ``acc`` (``(threads, n, 2)``) is the caller's
    workspace, reused from product to product (no allocation, no serial
    zeroing per call): each thread zeroes only the stretch of its accumulator
    its rows can reach (from its first row to its largest column), so ``acc``
    must be zero outside those stretches (allocated by ``np.zeros``; the kernel
    never writes there). ResNet-20 MGE at 0.9: 4.14 -> 3.77 ms per product.
    """
    n = indptr.shape[0] - 1
    threads = spans.shape[0]
    for t in prange(threads):
        y = acc[t]
        for v in range(spans[t, 0], spans[t, 2]):
            y[v, 0] = 0.0
            y[v, 1] = 0.0
        for u in range(spans[t, 0], spans[t, 1]):
            xu0 = x[u, 0]
            xu1 = x[u, 1]
            # Two entries per turn into separate sums: half the dependency chain.
            s0 = 0.0
            s1 = 0.0
            r0 = 0.0
            r1 = 0.0
            p = indptr[u]
            end = indptr[u + 1]
            while p + 1 < end:
                w = indices[p]
                val = np.float64(data[p])
                w2 = indices[p + 1]
                val2 = np.float64(data[p + 1])
                s0 += val * x[w, 0]
                s1 += val * x[w, 1]
                r0 += val2 * x[w2, 0]
                r1 += val2 * x[w2, 1]
                y[w, 0] += val * xu0
                y[w, 1] += val * xu1
                y[w2, 0] += val2 * xu0
                y[w2, 1] += val2 * xu1
                p += 2
            if p < end:
                w = indices[p]
                val = np.float64(data[p])
                s0 += val * x[w, 0]
                s1 += val * x[w, 1]
                y[w, 0] += val * xu0
                y[w, 1] += val * xu1
            y[u, 0] += s0 + r0
            y[u, 1] += s1 + r1
    out = np.empty((2, n), dtype=np.float64)
    has_loops = loops.shape[0] == n
    for v in prange(n):
        for j in range(2):
            s = 0.0
            for t in range(threads):
                s += acc[t, v, j]
            if has_loops:
                s += loops[v] * x[v, j]
            out[j, v] = wdeg[v] * x[v, j] - s if laplacian[j] else s
    return out


@njit(cache=True, parallel=True, fastmath=FMA)
def csr_matvec2(indptr, indices, data, diag, x, wdeg, laplacian, bounds):  # pragma: no cover
    """:func:`sym_matvec2` from the full symmetric CSR (gather only, row ranges in parallel)."""
    n = indptr.shape[0] - 1
    out = np.empty((2, n), dtype=np.float64)
    has_diag = diag.shape[0] == n
    for c in prange(bounds.shape[0] - 1):
        for u in range(bounds[c], bounds[c + 1]):
            s0 = 0.0
            s1 = 0.0
            for p in range(indptr[u], indptr[u + 1]):
                w = indices[p]
                val = np.float64(data[p])
                s0 += val * x[w, 0]
                s1 += val * x[w, 1]
            if has_diag:
                s0 += diag[u] * x[u, 0]
                s1 += diag[u] * x[u, 1]
            out[0, u] = wdeg[u] * x[u, 0] - s0 if laplacian[0] else s0
            out[1, u] = wdeg[u] * x[u, 1] - s1 if laplacian[1] else s1
    return out


@njit(cache=True, parallel=True, fastmath=FMA)
def sym_matvec1_ws(
    indptr, indices, data, loops, x, wdeg, laplacian, spans, acc
):  # pragma: no cover
    """One column of :func:`sym_matvec2_ws` (``acc`` of shape ``(threads, n)``): ``A_s x`` (or ``(D - A_s) x``) from the upper triangle.

    Each upper entry gathered for its row and scattered to its column,
    per-thread accumulators over row chunks balanced by entries, with fused
    multiply-adds; a row's gather in four partial sums (two per column in
    :func:`sym_matvec2`), added at its end.
    """
    n = indptr.shape[0] - 1
    threads = spans.shape[0]
    for t in prange(threads):
        y = acc[t]
        for v in range(spans[t, 0], spans[t, 2]):
            y[v] = 0.0
        for u in range(spans[t, 0], spans[t, 1]):
            xu = x[u]
            # Four entries per turn into four sums: the gather's chain of dependent
            # adds, not the memory, bounded this loop (ResNet-20 0.9: 8 % faster).
            s_a = 0.0
            s_b = 0.0
            s_c = 0.0
            s_d = 0.0
            p = indptr[u]
            end = indptr[u + 1]
            while p + 3 < end:
                w_a = indices[p]
                w_b = indices[p + 1]
                w_c = indices[p + 2]
                w_d = indices[p + 3]
                v_a = np.float64(data[p])
                v_b = np.float64(data[p + 1])
                v_c = np.float64(data[p + 2])
                v_d = np.float64(data[p + 3])
                s_a += v_a * x[w_a]
                s_b += v_b * x[w_b]
                s_c += v_c * x[w_c]
                s_d += v_d * x[w_d]
                y[w_a] += v_a * xu
                y[w_b] += v_b * xu
                y[w_c] += v_c * xu
                y[w_d] += v_d * xu
                p += 4
            while p < end:
                w = indices[p]
                val = np.float64(data[p])
                s_a += val * x[w]
                y[w] += val * xu
                p += 1
            y[u] += (s_a + s_b) + (s_c + s_d)
    out = np.empty(n, dtype=np.float64)
    has_loops = loops.shape[0] == n
    for v in prange(n):
        s = 0.0
        for t in range(threads):
            s += acc[t, v]
        if has_loops:
            s += loops[v] * x[v]
        out[v] = wdeg[v] * x[v] - s if laplacian else s
    return out


@njit(cache=True)
def upper_spans(indptr, indices, threads):  # pragma: no cover - compiled
    """Per-thread ``(first row, row stop, accumulator stop)`` of the upper-triangle products.

    Row chunks hold about equal numbers of entries; a chunk's rows scatter only
    to columns above its first row, so its accumulator is live from that row to
    its largest column (+1) or its row stop, whichever is larger. Rows are
    sorted: a row's largest column is its last entry (O(n)).
    """
    n = indptr.shape[0] - 1
    bounds = np.searchsorted(indptr, np.linspace(0, indptr[n], threads + 1)).astype(np.int64)
    bounds[0] = 0
    bounds[threads] = n
    spans = np.empty((threads, 3), dtype=np.int64)
    for t in range(threads):
        top = bounds[t + 1]
        for u in range(bounds[t], bounds[t + 1]):
            if indptr[u + 1] > indptr[u]:
                top = max(top, np.int64(indices[indptr[u + 1] - 1]) + 1)
        spans[t, 0] = bounds[t]
        spans[t, 1] = bounds[t + 1]
        spans[t, 2] = top
    return spans


def sym_matvec2(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    loops: np.ndarray,
    x: np.ndarray,
    wdeg: np.ndarray,
    laplacian: np.ndarray,
    threads: int,
) -> np.ndarray:
    """:func:`sym_matvec2_ws` with its spans and workspace made for this one call."""
    n = indptr.shape[0] - 1
    spans = upper_spans(indptr, indices, threads)
    return sym_matvec2_ws(
        indptr, indices, data, loops, x, wdeg, laplacian, spans, np.zeros((threads, n, 2))
    )


def sym_matvec1(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    loops: np.ndarray,
    x: np.ndarray,
    wdeg: np.ndarray,
    laplacian: bool,
    threads: int,
) -> np.ndarray:
    """:func:`sym_matvec1_ws` with its spans and workspace made for this one call."""
    n = indptr.shape[0] - 1
    spans = upper_spans(indptr, indices, threads)
    return sym_matvec1_ws(
        indptr, indices, data, loops, x, wdeg, laplacian, spans, np.zeros((threads, n))
    )


@njit(cache=True, parallel=True, fastmath=FMA)
def folded_half(indptr, indices, data, side, y, threads):  # pragma: no cover - compiled
    r"""Half of a folded product on a bipartite graph: ``(A_s y)[u]`` for ``side[u]``, else 0.

    From the upper triangle of ``A_s`` (no loops: no edge inside a side). Every
    stored entry ``(u, w)``, ``u < w``, joins the two sides: a row on ``side``
    gathers ``sum_w a_uw y[w]``, a row off it scatters ``a_uw y[u]`` to ``w``
    (per-thread accumulators over row chunks balanced by entries, so both
    threads read as many entries); ``y`` on ``side`` is never read. Two calls,
    first onto the other side then onto this one, make one product of ``B B^T``
    at the cost of one pass over the entries:

    .. math:: B B^T x = P_S A_s P_{\bar S} A_s x, \quad x = P_S x.
    """
    n = indptr.shape[0] - 1
    bounds = np.searchsorted(indptr, np.linspace(0, indptr[n], threads + 1)).astype(np.int64)
    bounds[0] = 0
    bounds[threads] = n
    acc = np.zeros((threads, n), dtype=np.float64)
    for t in prange(threads):
        a = acc[t]
        for u in range(bounds[t], bounds[t + 1]):
            if side[u]:
                s = 0.0
                for p in range(indptr[u], indptr[u + 1]):
                    s += np.float64(data[p]) * y[indices[p]]
                a[u] += s
            else:
                yu = y[u]
                for p in range(indptr[u], indptr[u + 1]):
                    a[indices[p]] += np.float64(data[p]) * yu
    out = np.empty(n, dtype=np.float64)
    for v in prange(n):
        s = 0.0
        if side[v]:
            for t in range(threads):
                s += acc[t, v]
        out[v] = s
    return out


@njit(cache=True)
def lanczos_step(w, v, vp, beta_prev):  # pragma: no cover - compiled
    r"""One Lanczos update in place, after the product ``w = M v``; returns ``(alpha, beta)``.

    .. math::

        \alpha = v^T w, \quad w \leftarrow w - \alpha v - \beta_{prev} v_{prev},
        \quad \beta = \|w\|, \quad w \leftarrow w / \beta

    (``w`` becomes the next basis vector; nothing is scaled when ``beta`` is 0).
    """
    n = w.shape[0]
    alpha = 0.0
    for i in range(n):
        alpha += v[i] * w[i]
    ss = 0.0
    for i in range(n):
        r = w[i] - alpha * v[i] - beta_prev * vp[i]
        w[i] = r
        ss += r * r
    beta = np.sqrt(ss)
    if beta > 0.0:
        inv = 1.0 / beta
        for i in range(n):
            w[i] *= inv
    return alpha, beta


#: LLVM flags of the long-vector steps: their reductions may be reassociated
#: (vectorised, several partial sums), which changes their last bits only.
REASSOC = {"reassoc", "contract"}


@njit(cache=True, parallel=True, fastmath=REASSOC)
def lanczos_step_scaled(w, v, vp, scale, scale_prev, beta_prev):  # pragma: no cover
    r"""One Lanczos update of unnormalised vectors, for long vectors; returns ``(alpha, beta)``.

    The basis vectors are kept unscaled: ``v_k = s v`` and ``v_{k-1} = s_p vp``
    (``scale``, ``scale_prev``), and ``w = M v`` is the product of the stored
    ``v``. Two passes over the threads,

    .. math::

        \alpha = s^2 v^T w, \quad
        w \leftarrow s w - \alpha s v - \beta_{prev} s_p vp, \quad \beta = \|w\|,

    leave the next unnormalised vector in ``w`` (its scale is ``1 / beta``): the
    normalising pass of the plain step is folded into the next step's
    coefficients. The reductions are reassociated (SIMD lanes, per-thread
    partial sums): the last bits of ``alpha`` and ``beta`` differ from
    sequential sums, far below the solves' tolerances.
    """
    n = w.shape[0]
    dot = 0.0
    for i in prange(n):
        dot += v[i] * w[i]
    alpha = dot * scale * scale
    c_w = scale
    c_v = alpha * scale
    c_p = beta_prev * scale_prev
    ss = 0.0
    for i in prange(n):
        r = c_w * w[i] - c_v * v[i] - c_p * vp[i]
        w[i] = r
        ss += r * r
    return alpha, np.sqrt(ss)


@njit(cache=True, parallel=True, fastmath=REASSOC)
def lanczos_pair_step(y, x, prev, scale, scale_prev, beta_prev, out):  # pragma: no cover
    """:func:`lanczos_step_scaled` of two runs at once, after their joint product.

    ``x`` (``(n, 2)``, the product's input) and ``prev`` hold the two runs'
    current and previous unnormalised vectors column by column, ``y`` (``(2, n)``)
    the products ``M_j x[:, j]``. One pass for the two dot products, one that
    moves ``x`` into ``prev`` and writes the next vectors into ``x``: the next
    joint product reads them where they are. ``out`` receives
    ``(alpha_0, alpha_1, beta_0, beta_1)``.
    """
    n = y.shape[1]
    dot0 = 0.0
    dot1 = 0.0
    for i in prange(n):
        dot0 += y[0, i] * x[i, 0]
        dot1 += y[1, i] * x[i, 1]
    s0 = scale[0]
    s1 = scale[1]
    alpha0 = dot0 * s0 * s0
    alpha1 = dot1 * s1 * s1
    cv0 = alpha0 * s0
    cv1 = alpha1 * s1
    cp0 = beta_prev[0] * scale_prev[0]
    cp1 = beta_prev[1] * scale_prev[1]
    ss0 = 0.0
    ss1 = 0.0
    for i in prange(n):
        u0 = x[i, 0]
        u1 = x[i, 1]
        r0 = s0 * y[0, i] - cv0 * u0 - cp0 * prev[i, 0]
        r1 = s1 * y[1, i] - cv1 * u1 - cp1 * prev[i, 1]
        prev[i, 0] = u0
        prev[i, 1] = u1
        x[i, 0] = r0
        x[i, 1] = r1
        ss0 += r0 * r0
        ss1 += r1 * r1
    out[0] = alpha0
    out[1] = alpha1
    out[2] = np.sqrt(ss0)
    out[3] = np.sqrt(ss1)


#: From this vector length on, :class:`LanczosRun` keeps its vectors unnormalised and
#: steps with :func:`lanczos_step_scaled` (and two runs with :func:`lanczos_pair_step`).
LONG_STEP_MIN = 100_000


# ----------------------------------------------------- small graphs, compiled
@njit(cache=True)
def _small_product(ptr, idx, data, diag, wdeg, x, mode, side, tmp, out):  # pragma: no cover
    """``out = M x`` in the calling thread: ``mode`` 0 ``A_s``, 1 ``D - A_s``, 2 ``B B^T``.

    ``B B^T`` (bipartite, ``side[u]`` True on the side ``x`` lives on): the other
    side's rows of ``A_s x`` into ``tmp``, then this side's rows of ``A_s tmp``.
    """
    n = ptr.shape[0] - 1
    has_diag = diag.shape[0] == n
    if mode == 2:
        for u in range(n):
            s = 0.0
            if not side[u]:
                for p in range(ptr[u], ptr[u + 1]):
                    s += np.float64(data[p]) * x[idx[p]]
            tmp[u] = s
        for u in range(n):
            s = 0.0
            if side[u]:
                for p in range(ptr[u], ptr[u + 1]):
                    s += np.float64(data[p]) * tmp[idx[p]]
            out[u] = s
        return
    for u in range(n):
        s = 0.0
        for p in range(ptr[u], ptr[u + 1]):
            s += np.float64(data[p]) * x[idx[p]]
        if has_diag:
            s += diag[u] * x[u]
        out[u] = wdeg[u] * x[u] - s if mode == 1 else s


#: Most implicit QL sweeps per eigenvalue in :func:`ritz_last_row` before it gives up.
QL_MAX_SWEEPS = 60
#: Up to this many steps :class:`LanczosRun` tests convergence with the compiled
#: :func:`ritz_accept` (all of ``T_m``, O(m^2): 0.05 ms at m = 47, 0.22 ms at 100);
#: above, LAPACK's solver for the top eigenpairs alone (:func:`accepted`) is cheaper.
RITZ_COMPILED_MAX = 128


@njit(cache=True)
def ritz_last_row(alpha, beta, m, theta, last):  # pragma: no cover - compiled
    r"""Eigenvalues of ``T_m`` and the last entries of its unit eigenvectors, in O(m^2).

    ``T_m`` is the symmetric tridiagonal matrix with diagonal ``alpha[:m]`` and
    off-diagonal ``beta[:m - 1]``. Implicit QL with Wilkinson's shift (Wilkinson
    and Reinsch, 1971): each sweep is a chain of plane rotations ``G`` with
    ``T <- G^T T G``, and the eigenvector matrix ``Z = prod G`` is needed only
    through its last row (the residual bounds ``beta_m |s_{m,i}|`` read nothing
    else), so only ``e_m^T Z`` is carried, as ARPACK does for its Ritz estimates.
    Fills ``theta[:m]`` (unsorted) and ``last[:m]`` (``last[i]`` belongs to
    ``theta[i]``); returns False when an eigenvalue needs more than
    :data:`QL_MAX_SWEEPS` sweeps (the caller then asks LAPACK).
    """
    eps = np.finfo(np.float64).eps
    d = theta
    e = np.zeros(m)
    for i in range(m):
        d[i] = alpha[i]
        last[i] = 0.0
    for i in range(m - 1):
        e[i] = beta[i]
    last[m - 1] = 1.0
    for lo in range(m):
        sweeps = 0
        while True:
            hi = lo
            while hi < m - 1:  # the first negligible off-diagonal entry splits the matrix
                if abs(e[hi]) <= eps * (abs(d[hi]) + abs(d[hi + 1])):
                    break
                hi += 1
            if hi == lo:
                break
            sweeps += 1
            if sweeps > QL_MAX_SWEEPS:
                return False
            g = (d[lo + 1] - d[lo]) / (2.0 * e[lo])
            r = np.sqrt(g * g + 1.0)
            g = d[hi] - d[lo] + e[lo] / (g + (r if g >= 0.0 else -r))
            s = 1.0
            c = 1.0
            p = 0.0
            deflated = False
            for i in range(hi - 1, lo - 1, -1):
                f = s * e[i]
                b = c * e[i]
                r = np.sqrt(f * f + g * g)
                e[i + 1] = r
                if r == 0.0:  # an exact zero: the matrix splits here, sweep again
                    d[i + 1] -= p
                    e[hi] = 0.0
                    deflated = True
                    break
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
                f = last[i + 1]
                last[i + 1] = s * last[i] + c * f
                last[i] = c * last[i] - s * f
            if deflated:
                continue
            d[lo] -= p
            e[lo] = g
            e[hi] = 0.0
    return True


@njit(cache=True)
def ritz_accept(alpha, beta, m, b, tol, gap, degeneracy):  # pragma: no cover - compiled
    """:func:`accepted`'s test on ``T_m`` from :func:`ritz_last_row`: ``(status, theta_0, theta_c)``.

    ``status`` 1 accepted, 0 not yet, -1 the QL iteration gave up (ask :func:`accepted`).
    """
    theta = np.empty(m)
    last = np.empty(m)
    if not ritz_last_row(alpha, beta, m, theta, last):
        return -1, 0.0, 0.0
    order = np.argsort(theta)
    top = order[m - 1]
    t0 = theta[top]
    b0 = b * abs(last[top])
    if b0 > tol * abs(t0):
        return 0, t0, 0.0
    if not gap:
        return 1, t0, 0.0
    threshold = t0 - degeneracy * abs(t0) if t0 != 0 else -degeneracy
    for k in range(m - 2, -1, -1):
        i = order[k]
        if theta[i] < threshold:
            bc = b * abs(last[i])
            ok = bc <= tol * abs(theta[i]) and t0 - theta[i] > PAIGE_FACTOR * (b0 + bc)
            return (1 if ok else 0), t0, theta[i]
    return 0, t0, 0.0


@njit(cache=True)
def small_lanczos(
    ptr, idx, data, diag, wdeg, side, v0, mode, tol, gap, degeneracy, max_steps, check_every
):  # pragma: no cover - compiled
    """:class:`LanczosRun` in one compiled call (graphs of a few thousand nodes).

    Plain three-term recurrence on ``M`` (:func:`_small_product`'s ``mode``),
    :func:`accepted`'s test every ``check_every`` steps (and at the last).
    Returns ``(status, theta_0, theta_c, steps)``: status 1 converged, -1 the
    Krylov space closed or ``max_steps`` passed (the caller falls back).
    """
    n = v0.shape[0]
    v = v0 / np.sqrt(np.sum(v0 * v0))
    vp = np.zeros(n)
    w = np.empty(n)
    tmp = np.empty(n)
    alpha = np.empty(max_steps)
    beta = np.empty(max_steps)
    b_prev = 0.0
    top = 0.0
    for m in range(max_steps):
        _small_product(ptr, idx, data, diag, wdeg, v, mode, side, tmp, w)
        a, b = lanczos_step(w, v, vp, b_prev)
        alpha[m] = a
        scale = max(1.0, abs(a))
        if m:
            scale = max(scale, abs(alpha[m - 1]))
        if b <= 1e-12 * scale:
            return -1, 0.0, 0.0, m + 1
        size = m + 1
        if size >= (2 if gap else 1) and (size % check_every == 0 or size == max_steps):
            status, top, second = ritz_accept(alpha, beta, size, b, tol, gap, degeneracy)
            if status < 0:
                return -1, 0.0, 0.0, size
            if status == 1:
                return 1, top, second, size
        beta[m] = b
        b_prev = b
        vp, v, w = v, w, vp
    return -1, top, 0.0, max_steps


# ------------------------------------------------------------------ solver
@dataclass
class LanczosRun:
    """One plain Lanczos recurrence: its two last basis vectors and the tridiagonal ``T_m``.

    ``gap`` selects the acceptance test: the top Ritz value alone (False) or the
    top one and the largest one below ``theta_0 (1 - degeneracy)`` (True, see
    :func:`accepted`); the test runs every ``check_every`` steps, compiled
    (:func:`ritz_accept`: microseconds, against about 0.3 ms for LAPACK's
    tridiagonal solver behind scipy's checks, once per step of every run).
    From :data:`LONG_STEP_MIN` entries on, ``v`` and ``vp`` are stored
    unnormalised: the basis vectors are ``scale * v`` and ``scale_prev * vp``
    (a product of ``v`` is what :meth:`advance` takes).
    """

    v: np.ndarray
    tol: float
    gap: bool
    degeneracy: float = 1e-9
    check_every: int = 1
    vp: np.ndarray = field(init=False)
    alpha: np.ndarray = field(init=False)
    beta: np.ndarray = field(init=False)
    scale: float = field(init=False, default=1.0)
    scale_prev: float = field(init=False, default=1.0)
    steps: int = 0
    result: np.ndarray | None = None
    failed: bool = False

    def __post_init__(self) -> None:
        self.v = self.v / np.linalg.norm(self.v)
        self.vp = np.zeros_like(self.v)
        self.alpha = np.empty(MAX_STEPS)
        self.beta = np.empty(MAX_STEPS)

    @property
    def active(self) -> bool:
        """Neither converged nor given up."""
        return self.result is None and not self.failed

    @property
    def beta_prev(self) -> float:
        """``beta`` of the last step (0 before the first)."""
        return float(self.beta[self.steps - 1]) if self.steps else 0.0

    def advance(self, w: np.ndarray, into: np.ndarray | None = None) -> None:
        """Take the product ``w = M v`` (overwritten), extend ``T``, test convergence.

        ``into`` (optional, short vectors) receives a copy of the new basis vector.
        """
        if w.shape[0] < LONG_STEP_MIN:
            a, b = lanczos_step(w, self.v, self.vp, self.beta_prev)
            if into is not None:
                into[:] = w
        else:
            a, b = lanczos_step_scaled(
                w, self.v, self.vp, self.scale, self.scale_prev, self.beta_prev
            )
            self.scale_prev, self.scale = self.scale, 1.0 / b if b > 0.0 else 1.0
        self.vp, self.v = self.v, w
        self.record(a, b)

    def record(self, a: float, b: float) -> None:
        """Extend ``T`` by ``alpha = a`` and the new ``beta = b``; test convergence."""
        m = self.steps
        self.alpha[m] = a
        self.steps = m = m + 1
        scale = max(1.0, abs(a), abs(self.alpha[m - 2]) if m > 1 else 0.0)
        if b <= 1e-12 * scale:  # Krylov space closed: eigenvalues outside it would be missed
            self.failed = True
            return
        found = None
        if m % self.check_every == 0 and m >= (2 if self.gap else 1):
            status = -1
            if m <= RITZ_COMPILED_MAX:
                status, t0, tc = ritz_accept(
                    self.alpha, self.beta, m, b, self.tol, self.gap, self.degeneracy
                )
            if status < 0:  # a long T_m (or the QL gave up): LAPACK's selected eigenpairs
                found = accepted(self.alpha[:m], self.beta[: m - 1], b, self)
            elif status == 1:
                found = np.array([t0, tc]) if self.gap else np.array([t0])
        self.beta[m - 1] = b
        if found is not None:
            self.result = found
        elif m >= MAX_STEPS or m >= self.v.shape[0]:
            self.failed = True


def ritz_top(
    alpha: np.ndarray, beta: np.ndarray, b: float, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` largest Ritz values of ``T_m`` (descending) and their residual bounds."""
    m = alpha.shape[0]
    count = min(count, m)
    theta, s = sla.eigh_tridiagonal(alpha, beta, select="i", select_range=(m - count, m - 1))
    return theta[::-1], (b * np.abs(s[-1]))[::-1]


def accepted(alpha: np.ndarray, beta: np.ndarray, b: float, run: LanczosRun) -> np.ndarray | None:
    r"""The accepted top values of ``T_m`` (``[theta_0]`` or ``[theta_0, theta_c]``), or None.

    ``theta_0`` passes when ``b_0 \le tol |\theta_0|``. For the gap, ``theta_c``
    is the largest Ritz value below ``theta_0 - degeneracy |theta_0|``; it passes
    when ``b_c \le tol |\theta_c|`` and ``theta_0 - theta_c > 2.5 (b_0 + b_c)``
    (its error interval excludes ``mu_0``: not a ghost of it still converging).
    """
    m = alpha.shape[0]
    if m < (2 if run.gap else 1):
        return None
    count = TOP_RITZ
    while True:
        theta, bound = ritz_top(alpha, beta, b, count)
        t0 = theta[0]
        if bound[0] > run.tol * abs(t0):
            return None
        if not run.gap:
            return theta[:1]
        threshold = t0 - run.degeneracy * abs(t0) if t0 != 0 else -run.degeneracy
        below = np.flatnonzero(theta < threshold)
        if below.size == 0:
            if theta.shape[0] >= m:
                return None
            count *= 2  # ghosts of mu_0 fill the top: look further down
            continue
        c = int(below[0])
        tc, bc = theta[c], bound[c]
        if bc <= run.tol * abs(tc) and t0 - tc > PAIGE_FACTOR * (bound[0] + bc):
            return np.array([t0, tc])
        return None


def lockstep(
    runs: Sequence[LanczosRun],
    single: Sequence[Callable[[np.ndarray], np.ndarray]],
    joint: Callable[[np.ndarray], np.ndarray] | None,
) -> None:
    """Advance ``runs`` until each converges or fails.

    While two runs are active and ``joint`` is given, one step of both is one
    call of ``joint`` on the ``(n, 2)`` array of their vectors (one pass over
    the matrix; it returns the two products as the rows of a ``(2, n)`` array);
    otherwise each active run calls its own ``single`` product. On long
    vectors both runs then step in one compiled call (:func:`lanczos_pair_step`),
    which leaves their next vectors in the product's input; each run gets its
    own vectors back when the other stops.
    """
    x2: np.ndarray | None = None
    prev2 = np.empty((0, 2))
    pair: list[int] = []
    out = np.empty(4)
    while True:
        live = [i for i, r in enumerate(runs) if r.active]
        if not live:
            return
        if joint is not None and len(live) == 2:
            long = runs[live[0]].v.shape[0] >= LONG_STEP_MIN
            if x2 is None:
                pair = live
                x2 = np.empty((runs[0].v.shape[0], 2))
                x2[:, 0] = runs[live[0]].v
                x2[:, 1] = runs[live[1]].v
                if long:
                    prev2 = np.empty_like(x2)
                    prev2[:, 0] = runs[live[0]].vp
                    prev2[:, 1] = runs[live[1]].vp
            y = joint(x2)
            if not long:  # short vectors: each run's own step, its vector copied into x2
                for col, i in enumerate(live):
                    runs[i].advance(y[col], into=x2[:, col])
                continue
            pr = [runs[i] for i in live]
            lanczos_pair_step(
                y, x2, prev2,
                np.array([r.scale for r in pr]), np.array([r.scale_prev for r in pr]),
                np.array([r.beta_prev for r in pr]), out,
            )  # fmt: skip
            for col, r in enumerate(pr):
                b = float(out[2 + col])
                r.scale_prev, r.scale = r.scale, 1.0 / b if b > 0.0 else 1.0
                r.record(float(out[col]), b)
            continue
        if x2 is not None and pair:  # the pair split: each run takes its vectors back
            for col, i in enumerate(pair):
                if runs[i].active and prev2.shape[0]:
                    runs[i].v = x2[:, col].copy()
                    runs[i].vp = prev2[:, col].copy()
            pair = []
        for i in live:
            runs[i].advance(single[i](runs[i].v))


__all__ = [
    "MAX_STEPS",
    "LanczosRun",
    "accepted",
    "csr_matvec2",
    "folded_half",
    "lanczos_pair_step",
    "lanczos_step",
    "lanczos_step_scaled",
    "lockstep",
    "ritz_accept",
    "ritz_last_row",
    "ritz_top",
    "small_lanczos",
    "sym_matvec1",
    "sym_matvec1_ws",
    "sym_matvec2",
    "sym_matvec2_ws",
    "upper_spans",
]
