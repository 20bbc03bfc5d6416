r"""Dense partition blocks of ``A_s`` for the spectra of small, dense graphs.

A demo network's graphs are small (a few hundred to a few thousand nodes) and,
between two partitions joined by a layer, dense: the LeNet-5 MGE at sparsity
0.5 has 100 k simple edges in 165 k cells of its five partition pairs. There a
product of ``A_s`` is cheaper from dense blocks than from the CSR: with

.. math:: A_s = \sum_{(p, q)} \left( E_p M_{pq} E_q^T + E_q M_{pq}^T E_p^T \right)

(``M_{pq}`` the dense block of partitions ``p < q``, ``E_p`` the selection of
``p``'s rows) one product is two BLAS ``gemv`` per block (``M x_q`` and
``M^T x_p``), contiguous and vectorised, against an indexed gather per stored
entry (about 4x faster on that MGE). :func:`partition_blocks` builds the blocks
from the upper triangle the engine already holds, when the graph has no edge
inside a partition and the blocks are not much larger than the entries
(:data:`DENSE_BLOCK_MAX_FILL`); :func:`block_lanczos` is
:func:`queries._spectral.small_lanczos`'s recurrence and acceptance test with
this product. The block entries are the CSR's float32 ``|w|`` sums, so the
matrix is the same; only the order of the floating-point sums in a product
differs (values agree to rounding, ~1e-14 relative).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from prunegraph.queries._spectral import lanczos_step, ritz_accept

#: The dense blocks are used when their cells are at most this many times the
#: stored upper-triangle entries: on the demo's graphs the two products cost the
#: same at 5 to 8 cells per entry (LeNet-5 MGE at 3.9 cells per entry: 2.5 ms for
#: both spectra against 3.7 ms; at 12.6: 3.0 against 1.8 ms).
DENSE_BLOCK_MAX_FILL = 5.0
#: At most this many cells in all (float64: 16 MB).
DENSE_BLOCK_MAX_CELLS = 2_000_000


@njit(cache=True)
def _fill_blocks(ptr, idx, data, node_part, pair_of, starts, offsets, flat):  # pragma: no cover
    """Scatter the upper-triangle entries into the row-major blocks of ``flat``.

    Returns False (``flat`` incomplete) when an entry's partition pair has no block.
    """
    n = ptr.shape[0] - 1
    k = offsets.shape[0] - 1
    for u in range(n):
        pu = node_part[u]
        row = u - offsets[pu]
        for p in range(ptr[u], ptr[u + 1]):
            v = idx[p]
            pv = node_part[v]
            b = pair_of[pu * k + pv]
            if b < 0:
                return False
            width = offsets[pv + 1] - offsets[pv]
            flat[starts[b] + row * width + (v - offsets[pv])] = data[p]
    return True


def partition_blocks(
    ptr: np.ndarray,
    idx: np.ndarray,
    data: np.ndarray,
    node_part: np.ndarray,
    offsets: np.ndarray,
    adjacency: np.ndarray,
    *,
    max_fill: float | None = None,
    max_cells: int | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    r"""The upper triangle of ``A_s`` as dense blocks per partition pair, or None.

    Parameters
    ----------
    ptr, idx, data : ndarray
        Upper triangle of ``A_s`` (CSR, ``v > u`` in row ``u``).
    node_part : ndarray of int
        Partition of every node; partitions are contiguous node ranges in order.
    offsets : ndarray of int
        ``offsets[p]`` the first node of partition ``p`` (length partitions + 1).
    adjacency : ndarray of bool
        ``adjacency[p, q]``: some edge joins partitions ``p`` and ``q`` (symmetric).
    max_fill, max_cells : float, int, optional
        The blocks are built only when their cells ``C`` satisfy
        ``C <= max_fill * nnz`` and ``C <= max_cells`` (default
        :data:`DENSE_BLOCK_MAX_FILL`, :data:`DENSE_BLOCK_MAX_CELLS`, read at call time).

    Returns
    -------
    (flat, table) or None
        ``flat`` holds every block row-major (float64); ``table[b] = (a0, a1,
        b0, b1, start)``: block ``b`` couples rows ``a0:a1`` with ``b0:b1``
        (``a1 <= b0``) and starts at ``flat[start]``. None when some edge joins
        two nodes of one partition or the blocks are too large.
    """
    max_fill = DENSE_BLOCK_MAX_FILL if max_fill is None else max_fill
    max_cells = DENSE_BLOCK_MAX_CELLS if max_cells is None else max_cells
    nnz = int(ptr[-1])
    k = offsets.shape[0] - 1
    if nnz == 0 or adjacency.diagonal().any():
        return None
    a, b = np.nonzero(np.triu(adjacency, 1))
    sizes = np.diff(offsets)
    cells = sizes[a] * sizes[b]
    total = int(cells.sum())
    if total > max_fill * nnz or total > max_cells:
        return None
    starts = np.concatenate(([0], np.cumsum(cells)[:-1])).astype(np.int64)
    pair_of = np.full(k * k, -1, dtype=np.int64)
    pair_of[a * k + b] = np.arange(len(a))
    flat = np.zeros(total)
    if not _fill_blocks(ptr, idx, data, node_part, pair_of, starts, offsets, flat):
        return None
    table = np.stack((offsets[a], offsets[a + 1], offsets[b], offsets[b + 1], starts), axis=1)
    return flat, table.astype(np.int64)


@njit(cache=True)
def block_product(flat, table, diag, wdeg, x, mode, side, tmp, out):  # pragma: no cover
    """``out = M x`` from the dense blocks: ``mode`` 0 ``A_s``, 1 ``D - A_s``, 2 ``B B^T``.

    ``B B^T`` (bipartite, ``side[u]`` True on the side ``x`` lives on): the other
    side's rows of ``A_s x`` into ``tmp``, then this side's rows of ``A_s tmp``.
    """
    n = x.shape[0]
    out[:] = 0.0
    if mode == 2:
        tmp[:] = 0.0
        for t in range(table.shape[0]):
            a0, a1, b0, b1, s = table[t, 0], table[t, 1], table[t, 2], table[t, 3], table[t, 4]
            m = flat[s : s + (a1 - a0) * (b1 - b0)].reshape((a1 - a0, b1 - b0))
            if side[a0]:
                tmp[b0:b1] += np.dot(x[a0:a1], m)
            else:
                tmp[a0:a1] += np.dot(m, x[b0:b1])
        for t in range(table.shape[0]):
            a0, a1, b0, b1, s = table[t, 0], table[t, 1], table[t, 2], table[t, 3], table[t, 4]
            m = flat[s : s + (a1 - a0) * (b1 - b0)].reshape((a1 - a0, b1 - b0))
            if side[a0]:
                out[a0:a1] += np.dot(m, tmp[b0:b1])
            else:
                out[b0:b1] += np.dot(tmp[a0:a1], m)
        return
    for t in range(table.shape[0]):
        a0, a1, b0, b1, s = table[t, 0], table[t, 1], table[t, 2], table[t, 3], table[t, 4]
        m = flat[s : s + (a1 - a0) * (b1 - b0)].reshape((a1 - a0, b1 - b0))
        out[a0:a1] += np.dot(m, x[b0:b1])
        out[b0:b1] += np.dot(x[a0:a1], m)
    if diag.shape[0] == n:
        for u in range(n):
            out[u] += diag[u] * x[u]
    if mode == 1:
        for u in range(n):
            out[u] = wdeg[u] * x[u] - out[u]


@njit(cache=True)
def block_lanczos(
    flat, table, diag, wdeg, side, v0, mode, tol, gap, degeneracy, max_steps, check_every
):  # pragma: no cover - compiled
    """:func:`queries._spectral.small_lanczos` with the product of :func:`block_product`.

    Same recurrence, same test every ``check_every`` steps (and at the last);
    returns ``(status, theta_0, theta_c, steps)``: status 1 converged, -1 the
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
        block_product(flat, table, diag, wdeg, v, mode, side, tmp, w)
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


__all__ = [
    "DENSE_BLOCK_MAX_CELLS",
    "DENSE_BLOCK_MAX_FILL",
    "block_lanczos",
    "block_product",
    "partition_blocks",
]
