"""Compiled (numba) graph kernels behind the in-process metric engine.

Every kernel works on a CSR adjacency ``(indptr, indices)`` with sorted,
duplicate-free rows and runs in O(edges) memory: no kernel materialises
``A @ A``. The Python callers in :mod:`topometrics`, :mod:`motifs` and
:mod:`paths` choose what to run; these functions only count.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numba import get_num_threads, njit, prange

# ----------------------------------------------------------------- CSR build


@njit(cache=True)
def directed_degrees(src, dst, n):  # pragma: no cover - compiled
    """Out- and in-degree of every node, counting parallel edges (one pass, no int64 copies)."""
    out = np.zeros(n, dtype=np.int64)
    inn = np.zeros(n, dtype=np.int64)
    for k in range(src.shape[0]):
        out[src[k]] += 1
        inn[dst[k]] += 1
    return out, inn


@njit(cache=True, nogil=True)
def abs_sum(values):  # pragma: no cover - compiled
    """``sum |v|`` in float64 without a temporary array."""
    total = 0.0
    for k in range(values.shape[0]):
        total += abs(np.float64(values[k]))
    return total


def build_chunks(n_entries: int, n: int) -> int:
    """Number of pieces of a CSR build: one per numba thread (:func:`_in_pieces`).

    Each piece keeps an ``int64`` counter per node in two arrays, so the count
    is capped at ``n_entries / (6 n)`` (that bookkeeping stays under about 3
    bytes per entry) and at 16. More pieces than threads measured slower: each
    piece's write heads scatter the same columns apart.
    """
    return int(max(1, min(get_num_threads(), 16, n_entries // max(6 * n, 1))))


def _in_pieces(kernel: Any, pieces: int, *args: Any) -> list[Any]:
    """``[kernel(*args, t) for t in range(pieces)]``, the pieces at once on their own threads.

    The kernels are serial and release the GIL (``nogil``); a thread whose
    piece is done ends there. Unlike a ``prange`` loop no worker waits spinning
    at a barrier, so on a machine whose cores other processes hold the CPU time
    stays the serial one (a parallel region measured 10-30 % more there).
    """
    if pieces == 1:
        return [kernel(*args, 0)]
    from prunegraph.queries._structure import concurrently

    return concurrently(*(partial(kernel, *args, t) for t in range(pieces)))


@njit(cache=True)
def _piece_starts(counts, base):  # pragma: no cover - compiled
    """In place: ``counts[t, v]`` becomes ``base[v] + sum_{s < t} counts[s, v]`` (write heads)."""
    pieces, n = counts.shape
    for v in range(n):
        at = base[v]
        for t in range(pieces):
            c = counts[t, v]
            counts[t, v] = at
            at += c


@njit(cache=True)
def _pointers(counts):  # pragma: no cover - compiled
    """CSR pointers of the per-piece counts summed over pieces (``counts[t, v]``)."""
    pieces, n = counts.shape
    ptr = np.zeros(n + 1, dtype=np.int64)
    for v in range(n):
        s = ptr[v]
        for t in range(pieces):
            s += counts[t, v]
        ptr[v + 1] = s
    return ptr


@njit(cache=True, nogil=True)
def _radix_counts(
    rows, cols, weights, weighted, drop_loops, relabel, ebounds, col_cnt, row_cnt, loops, t
):  # pragma: no cover
    """Edge piece ``t``: column and row counts and (``drop_loops``) the ``A + A.T`` diagonal.

    A non-empty ``relabel`` maps every node id first (``relabel[v]``).
    """
    cc = col_cnt[t]
    rc = row_cnt[t]
    mapped = relabel.shape[0] > 0
    for k in range(ebounds[t], ebounds[t + 1]):
        r, c = rows[k], cols[k]
        if mapped:
            r, c = relabel[r], relabel[c]
        if drop_loops and r == c:
            if weighted:
                loops[t, r] += 2.0 * abs(np.float64(weights[k]))
            continue
        cc[c] += 1
        rc[r] += 1


@njit(cache=True, nogil=True)
def _radix_by_col(
    rows, cols, weights, heads, ebounds, weighted, drop_loops, relabel, by_col, w_by_col, t
):  # pragma: no cover
    """Pass 1, edge piece ``t``: rows (and ``|w|``) in column order, from the piece's write heads."""
    fill = heads[t]
    mapped = relabel.shape[0] > 0
    for k in range(ebounds[t], ebounds[t + 1]):
        r, c = rows[k], cols[k]
        if mapped:
            r, c = relabel[r], relabel[c]
        if drop_loops and r == c:
            continue
        at = fill[c]
        by_col[at] = r
        if weighted:
            w_by_col[at] = abs(weights[k])
        fill[c] = at + 1


@njit(cache=True, nogil=True)
def _rows_per_piece(by_col, col_ptr, cbounds, counts, j):  # pragma: no cover - compiled
    """``counts[j, r]``: entries of row ``r`` among the columns of piece ``j``."""
    cnt = counts[j]
    for p in range(col_ptr[cbounds[j]], col_ptr[cbounds[j + 1]]):
        cnt[by_col[p]] += 1


@njit(cache=True)
def _rows_last_piece(row_cnt, counts):  # pragma: no cover - compiled
    """The last column piece's row counts: the edge pieces' total less the other pieces'."""
    pieces, n = counts.shape
    last = counts[pieces - 1]
    for r in range(n):
        s = 0
        for t in range(row_cnt.shape[0]):
            s += row_cnt[t, r]
        for j in range(pieces - 1):
            s -= counts[j, r]
        last[r] = s


@njit(cache=True, nogil=True)
def _radix_to_rows(
    by_col, w_by_col, col_ptr, heads, fill, cbounds, weighted, indices, data, j
):  # pragma: no cover
    """Pass 2, column piece ``j``: scatter to the piece's slots of the rows, columns ascending.

    A repeat of the last column written to a row (a duplicate pair: its copies
    are consecutive in this piece's writes) adds its ``|w|`` there instead.
    ``fill[j, r]`` ends where the piece stopped in row ``r``; returns the
    number of repeats merged.
    """
    start = heads[j]
    f = fill[j]
    dups = 0
    for c in range(cbounds[j], cbounds[j + 1]):
        for p in range(col_ptr[c], col_ptr[c + 1]):
            r = by_col[p]
            at = f[r]
            if at > start[r] and indices[at - 1] == c:
                if weighted:
                    data[at - 1] += w_by_col[p]
                dups += 1
                continue
            indices[at] = c
            if weighted:
                data[at] = w_by_col[p]
            f[r] = at + 1
    return dups


@njit(cache=True)
def _compact_rows(indices, data, heads, fill, weighted):  # pragma: no cover - compiled
    """Close the gaps the merged duplicates left (in place, left to right): the row pointers."""
    pieces, n = heads.shape
    ptr = np.zeros(n + 1, dtype=np.int64)
    out = 0
    for r in range(n):
        for j in range(pieces):
            for p in range(heads[j, r], fill[j, r]):
                indices[out] = indices[p]
                if weighted:
                    data[out] = data[p]
                out += 1
        ptr[r + 1] = out
    return ptr


def _radix_csr(
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    n: int,
    weighted: bool,
    drop_loops: bool,
    relabel: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the pairs by two stable counting passes (by column, then by row): sorted rows.

    ``relabel`` (int32, length ``n``), when given, renames every node ``v`` to
    ``relabel[v]`` as the pairs are read (no relabelled copy of the edge arrays).

    O(edges + n) time, no comparison sort; duplicates ``(r, c)`` merged with
    their ``|w|`` summed (float32, in edge order). With ``drop_loops`` the pairs
    ``r == c`` are left out and ``2 |w|`` (the diagonal of ``A + A.T``) summed
    per node into the returned ``loops``. Peak extra memory: 16 bytes per pair.

    Both passes run in :func:`build_chunks` pieces (:func:`_in_pieces`): pass 1
    over contiguous edge ranges, pass 2 over column ranges of about equal
    entries, each piece writing from its own heads (``base[v]`` plus the counts
    of the pieces before it), so the result is the serial one, entry for entry.
    Duplicates are merged as they are written (a repeat is always the last
    column its row received from that piece); the gaps they leave are closed
    by one serial pass only when there are any.
    """
    pieces = build_chunks(rows.shape[0], n)
    ebounds = np.linspace(0, rows.shape[0], pieces + 1).astype(np.int64)
    relabel = np.zeros(0, dtype=np.int32) if relabel is None else relabel
    col_cnt = np.zeros((pieces, n), dtype=np.int64)
    row_cnt = np.zeros((pieces, n), dtype=np.int64)
    loop_parts = np.zeros((pieces, n if drop_loops else 0), dtype=np.float64)
    _in_pieces(
        _radix_counts,
        pieces,
        rows,
        cols,
        weights,
        weighted,
        drop_loops,
        relabel,
        ebounds,
        col_cnt,
        row_cnt,
        loop_parts,
    )
    loops = loop_parts.sum(axis=0) if drop_loops else np.zeros(0)
    col_ptr = _pointers(col_cnt)
    _piece_starts(col_cnt, col_ptr)
    kept = int(col_ptr[n])
    by_col = np.empty(kept, dtype=np.int32)
    w_by_col = np.empty(kept if weighted else 0, dtype=np.float32)
    _in_pieces(
        _radix_by_col,
        pieces,
        rows,
        cols,
        weights,
        col_cnt,
        ebounds,
        weighted,
        drop_loops,
        relabel,
        by_col,
        w_by_col,
    )
    del col_cnt
    cbounds = row_chunks(col_ptr, pieces)
    heads = np.zeros((pieces, n), dtype=np.int64)
    if pieces > 1:
        _in_pieces(_rows_per_piece, pieces - 1, by_col, col_ptr, cbounds, heads)
    _rows_last_piece(row_cnt, heads)
    del row_cnt
    row_ptr = _pointers(heads)
    _piece_starts(heads, row_ptr)
    idx = np.empty(kept, dtype=np.int32)
    data = np.empty(kept if weighted else 0, dtype=np.float32)
    fill = heads.copy()
    dups = _in_pieces(
        _radix_to_rows, pieces, by_col, w_by_col, col_ptr, heads, fill, cbounds, weighted, idx, data
    )
    del by_col, w_by_col
    if sum(dups):
        row_ptr = _compact_rows(idx, data, heads, fill, weighted)
        kept = int(row_ptr[-1])
        idx, data = idx[:kept], data[: kept if weighted else 0]
    return row_ptr, idx, data, loops


def csr_pattern(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary CSR pattern of the pairs ``(rows[k], cols[k])``: sorted rows, duplicates merged.

    Two counting passes (O(edges + n), no comparison sort); returns ``indptr``
    (int64, length ``n + 1``) and ``indices`` (int32).
    """
    rows = np.ascontiguousarray(rows)
    cols = np.ascontiguousarray(cols)
    empty = np.zeros(0, dtype=np.float32)
    ptr, idx, _, _ = _radix_csr(rows, cols, empty, n, False, False)
    return ptr, idx


@njit(cache=True, nogil=True)
def _block_row_counts(src, relabel, spans, heads, mine):  # pragma: no cover - compiled
    """Row counts of each block in ``mine``: ``heads[span[6] + r]`` for its local row ``r``."""
    mapped = relabel.shape[0] > 0
    for j in mine:
        start, stop, rows_at, heads_at = spans[j, 0], spans[j, 1], spans[j, 2], spans[j, 6]
        for k in range(start, stop):
            r = src[k]
            if mapped:
                r = relabel[r]
            heads[heads_at + r - rows_at] += 1


@njit(cache=True)
def _block_heads(spans, heads, n):  # pragma: no cover - compiled
    """Row pointers from the blocks' row counts, which become each block's write heads.

    ``spans`` is in row order of the output: blocks by source partition, then by
    destination partition, so a row's segments from its blocks follow each other
    with their columns ascending.
    """
    ptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(spans.shape[0]):
        rows_at, rows, heads_at = spans[j, 2], spans[j, 3], spans[j, 6]
        for r in range(rows):
            ptr[rows_at + r + 1] += heads[heads_at + r]
    for v in range(n):
        ptr[v + 1] += ptr[v]
    at = ptr[:-1].copy()
    for j in range(spans.shape[0]):
        rows_at, rows, heads_at = spans[j, 2], spans[j, 3], spans[j, 6]
        for r in range(rows):
            c = heads[heads_at + r]
            heads[heads_at + r] = at[rows_at + r]
            at[rows_at + r] += c
    return ptr


@njit(cache=True, nogil=True)
def _block_fill(
    src, dst, weight, relabel, spans, heads, by_col, indices, data, mine
):  # pragma: no cover
    """The two counting passes of :func:`_radix_csr` inside each block of ``mine``.

    A block's columns are one partition's ids and its rows another's, so the
    write heads (one per column, then one per row) cover that partition only and
    its writes stay in the block's own stretch of ``by_col`` and of the output
    rows. ``by_col`` (int64) holds each entry's local row in its high half and
    the bits of ``|w|`` (float32, sign bit cleared) in its low half: one write
    per edge in the scattering pass instead of two (ResNet-20 MGE at 0.9: 51 ->
    46 ms on one thread, 0.6: 225 -> 191 ms). Returns the duplicate pairs met
    (the caller then builds globally).
    """
    mapped = relabel.shape[0] > 0
    dups = 0
    weight_bits = weight.view(np.int32)
    data_bits = data.view(np.int32)
    for j in mine:
        start, stop = spans[j, 0], spans[j, 1]
        rows_at, rows, cols_at, cols, heads_at = (
            spans[j, 2], spans[j, 3], spans[j, 4], spans[j, 5], spans[j, 6]
        )  # fmt: skip
        col_ptr = np.zeros(cols + 1, dtype=np.int64)
        for k in range(start, stop):
            c = dst[k]
            if mapped:
                c = relabel[c]
            col_ptr[c - cols_at + 1] += 1
        for c in range(cols):
            col_ptr[c + 1] += col_ptr[c]
        fill = col_ptr[:-1] + start
        for k in range(start, stop):
            r, c = src[k], dst[k]
            if mapped:
                r, c = relabel[r], relabel[c]
            at = fill[c - cols_at]
            by_col[at] = (np.int64(r - rows_at) << 32) | np.int64(weight_bits[k] & 0x7FFFFFFF)
            fill[c - cols_at] = at + 1
        head = heads[heads_at : heads_at + rows]
        first = head.copy()
        for local in range(cols):
            c = cols_at + local
            for p in range(start + col_ptr[local], start + col_ptr[local + 1]):
                packed = by_col[p]
                r = packed >> 32
                at = head[r]
                if at > first[r] and indices[at - 1] == c:
                    dups += 1
                    continue
                indices[at] = c
                data_bits[at] = np.int32(packed & 0x7FFFFFFF)
                head[r] = at + 1
    return dups


def block_upper_csr(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    n: int,
    spans: np.ndarray,
    relabel: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`weighted_upper_csr` of a graph whose edges come in blocks between two partitions.

    ``spans`` holds one row per non-empty block, ``(start, stop, src offset, src
    size, dst offset, dst size, 0)``: its edges ``start:stop`` all go from the
    first id range to the second, a later one (no two blocks join the same two
    partitions). Each block is sorted on its own by the two counting passes of
    :func:`_radix_csr`, whose write heads then span one partition instead of the
    whole graph (ResNet-20 MGE at sparsity 0.9: 63 -> 51 ms median of 12), blocks
    split over :func:`build_chunks` threads by edges. The result is
    :func:`weighted_upper_csr`'s, entry for entry; None when a block holds a
    pair twice (the caller builds it globally, merging the duplicates).
    """
    spans = np.array(spans, dtype=np.int64).reshape(-1, 7)
    order = np.lexsort((spans[:, 4], spans[:, 2]))  # rows' order: source, then destination
    spans = spans[order]
    spans[:, 6] = np.concatenate(([0], np.cumsum(spans[:-1, 3])))
    heads = np.zeros(int(spans[:, 3].sum()), dtype=np.int64)
    sizes = spans[:, 1] - spans[:, 0]
    pieces = max(1, min(build_chunks(int(sizes.sum()), n), len(spans)))
    load = np.zeros(pieces)
    mine: list[list[int]] = [[] for _ in range(pieces)]
    for j in np.argsort(-sizes, kind="stable"):  # largest first onto the lightest piece
        t = int(np.argmin(load))
        mine[t].append(int(j))
        load[t] += sizes[j]
    groups = [np.array(sorted(m), dtype=np.int64) for m in mine]
    mapped = np.zeros(0, dtype=np.int32) if relabel is None else relabel
    from prunegraph.queries._structure import concurrently

    concurrently(*(partial(_block_row_counts, src, mapped, spans, heads, m) for m in groups))
    ptr = _block_heads(spans, heads, n)
    kept = int(ptr[n])
    by_col = np.empty(kept, dtype=np.int64)
    idx = np.empty(kept, dtype=np.int32)
    data = np.empty(kept, dtype=np.float32)
    weight = np.ascontiguousarray(weight, dtype=np.float32)
    dups = concurrently(
        *(
            partial(_block_fill, src, dst, weight, mapped, spans, heads, by_col, idx, data, m)
            for m in groups
        )
    )
    if sum(dups):
        return None
    return ptr, idx, data, np.zeros(n)


def weighted_upper_csr(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    n: int,
    *,
    is_dag: bool,
    relabel: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper triangle of ``A_s = A + A.T`` (``|w|``) as CSR: row ``u`` holds its neighbours ``v > u``.

    Returns ``(indptr, indices, data, loops)``: ``data[p]`` sums ``|w|`` over
    every edge between ``u`` and ``v`` in either direction (float32), ``loops``
    the diagonal of ``A_s`` (float64, length ``n``). ``is_dag`` (every
    ``src < dst``) skips the ``min``/``max`` copies. ``relabel`` (int32, length
    ``n``) builds the CSR of the graph with node ``v`` renamed ``relabel[v]``; with
    ``is_dag`` it must keep every ``relabel[src] < relabel[dst]`` (the caller's
    promise: :attr:`_structure.GraphStructure.relabel` only renames nodes inside
    their own partition, so it holds for edges between partitions).
    """
    weight = np.ascontiguousarray(weight)
    if is_dag:
        lo, hi = np.ascontiguousarray(src), np.ascontiguousarray(dst)
    else:
        if relabel is not None:
            src, dst, relabel = relabel[src], relabel[dst], None
        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    return _radix_csr(lo, hi, weight, n, True, True, relabel)


@njit(cache=True, nogil=True)
def _lower_counts(up_ptr, up_idx, rbounds, counts, t):  # pragma: no cover - compiled
    """``counts[t, v]``: upper entries in column ``v`` among the rows of piece ``t``."""
    cnt = counts[t]
    for p in range(up_ptr[rbounds[t]], up_ptr[rbounds[t + 1]]):
        cnt[up_idx[p]] += 1


@njit(cache=True)
def _symmetric_pointers(up_ptr, counts):  # pragma: no cover - compiled
    """Pointers and split of the full CSR; ``counts`` becomes each piece's lower write heads."""
    pieces, n = counts.shape
    ptr = np.zeros(n + 1, dtype=np.int64)
    split = np.empty(n, dtype=np.int64)
    for u in range(n):
        at = ptr[u]
        for t in range(pieces):
            c = counts[t, u]
            counts[t, u] = at
            at += c
        split[u] = at
        ptr[u + 1] = at + (up_ptr[u + 1] - up_ptr[u])
    return ptr, split


@njit(cache=True, nogil=True)
def _symmetric_fill(
    up_ptr, up_idx, up_data, split, heads, rbounds, idx, data, t
):  # pragma: no cover
    """Row piece ``t`` copies its upper rows and deals its rows out to the lower parts.

    An empty ``data`` builds the pattern alone (no ``|w|`` written).
    """
    fill = heads[t]
    weighted = data.shape[0] > 0
    for u in range(rbounds[t], rbounds[t + 1]):
        out = split[u]
        for p in range(up_ptr[u], up_ptr[u + 1]):
            v = up_idx[p]
            idx[out] = v
            at = fill[v]
            idx[at] = u
            fill[v] = at + 1
            if weighted:
                w = up_data[p]
                data[out] = w
                data[at] = w
            out += 1


def symmetric_from_upper(
    up_ptr: np.ndarray, up_idx: np.ndarray, up_data: np.ndarray, *, weighted: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full weighted symmetric CSR of ``A_s`` from its upper triangle: ``(indptr, indices,
    split, data)``, rows sorted, row ``u``'s neighbours ``< u`` at ``[indptr[u], split[u])``.

    The weighted form of the undirected simple graph (same pattern and split, plus the
    float32 ``|w|`` sums), so the undirected metrics and the spectra share one structure.
    One counting pass, O(edges + n), in :func:`build_chunks` row pieces of about
    equal entries (:func:`_in_pieces`): piece ``t`` writes row ``u``'s lower
    part from ``indptr[u]`` plus the entries the pieces before it put there, so
    every lower part comes out sorted, as in a serial pass. ``weighted=False``
    builds the pattern alone (``data`` empty): half the writes.
    """
    n = up_ptr.shape[0] - 1
    pieces = build_chunks(up_idx.shape[0], n)
    rbounds = row_chunks(up_ptr, pieces)
    heads = np.zeros((pieces, n), dtype=np.int64)
    _in_pieces(_lower_counts, pieces, up_ptr, up_idx, rbounds, heads)
    ptr, split = _symmetric_pointers(up_ptr, heads)
    idx = np.empty(ptr[n], dtype=np.int32)
    data = np.empty(ptr[n] if weighted else 0, dtype=np.float32)
    _in_pieces(_symmetric_fill, pieces, up_ptr, up_idx, up_data, split, heads, rbounds, idx, data)
    return ptr, idx, split, data


def undirected_from_upper(
    up_ptr: np.ndarray, up_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full symmetric CSR pattern from the upper triangle, and ``split``: row ``u``'s
    neighbours ``< u`` are ``indices[indptr[u]:split[u]]``, those ``> u`` are
    ``indices[split[u]:indptr[u + 1]]`` (the pattern of :func:`symmetric_from_upper`).
    """
    ptr, idx, split, _ = symmetric_from_upper(
        up_ptr, up_idx, np.zeros(0, np.float32), weighted=False
    )
    return ptr, idx, split


def row_chunks(indptr: np.ndarray, chunks: int) -> np.ndarray:
    """Row boundaries of ``chunks`` contiguous row ranges holding about equal numbers of entries."""
    n = indptr.shape[0] - 1
    bounds = np.searchsorted(indptr, np.linspace(0, indptr[n], chunks + 1)).astype(np.int64)
    bounds[0], bounds[-1] = 0, n
    return np.maximum.accumulate(bounds)


@njit(cache=True, inline="always")
def _csr_rows(
    indptr, indices, data, diag, x, wdeg, laplacian, start, stop, out
):  # pragma: no cover
    has_diag = diag.shape[0] == out.shape[0]
    for u in range(start, stop):
        s = 0.0
        for p in range(indptr[u], indptr[u + 1]):
            s += np.float64(data[p]) * x[indices[p]]
        if has_diag:
            s += diag[u] * x[u]
        out[u] = wdeg[u] * x[u] - s if laplacian else s


@njit(cache=True, parallel=True)
def csr_matvec(indptr, indices, data, diag, x, wdeg, laplacian, bounds):  # pragma: no cover
    """``A_s @ x`` (or ``(D - A_s) @ x`` with ``laplacian``) from the full symmetric CSR of ``A_s``.

    Gather only (each row writes its own output), row ranges between ``bounds``
    (see :func:`row_chunks`) in parallel; float32 weights, float64 sums;
    ``diag`` is the diagonal of ``A_s`` (empty when it is zero).
    """
    n = indptr.shape[0] - 1
    out = np.empty(n, dtype=np.float64)
    for c in prange(bounds.shape[0] - 1):
        _csr_rows(indptr, indices, data, diag, x, wdeg, laplacian, bounds[c], bounds[c + 1], out)
    return out


@njit(cache=True)
def weighted_degree(up_ptr, up_idx, up_data, loops):  # pragma: no cover - compiled
    """Row sums of ``A_s`` from its upper triangle and diagonal (float64)."""
    n = up_ptr.shape[0] - 1
    deg = loops.copy() if loops.shape[0] == n else np.zeros(n, dtype=np.float64)
    for u in range(n):
        s = 0.0
        for p in range(up_ptr[u], up_ptr[u + 1]):
            w = np.float64(up_data[p])
            s += w
            deg[up_idx[p]] += w
        deg[u] += s
    return deg


# ------------------------------------------------------------ cores, cuts


@njit(cache=True, nogil=True)
def _coreness(indptr, indices, deg, rest, frontier):  # pragma: no cover - compiled
    n = indptr.shape[0] - 1
    for v in range(n):
        deg[v] = indptr[v + 1] - indptr[v]
        rest[v] = v
    n_rest = n
    k = 0
    while n_rest > 0:
        # Seeds of level k: the nodes left at degree k (those below k were peeled at
        # an earlier level and leave the list); k jumps to the lowest degree left
        # when no node sits at k.
        size = 0
        kept = 0
        lowest = n  # above any degree
        for i in range(n_rest):
            v = rest[i]
            d = deg[v]
            if d < k:
                continue
            if d == k:
                frontier[size] = v
                size += 1
            else:
                rest[kept] = v
                kept += 1
                lowest = min(lowest, d)
        n_rest = kept
        i = 0
        while i < size:  # peel: a neighbour above k loses one; at k it joins this level
            v = frontier[i]
            i += 1
            for p in range(indptr[v], indptr[v + 1]):
                # Branch-free (the tests are unpredictable): the write is undone by
                # not counting it, the frontier holding one spare slot.
                u = indices[p]
                du = deg[u]
                deg[u] = du - (du > k)
                frontier[size] = u
                size += du == k + 1
        k = k + 1 if size else lowest


def coreness(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Core number of every node (O(edges + n * levels)); int32.

    Level-synchronous peeling (as in Kabir and Madduri's PKC, 2017): at level
    ``k`` every node left with degree ``k`` is peeled, and each neighbour still
    above ``k`` loses one degree, joining the level when it reaches ``k``; the
    final degrees are the core numbers. The same numbers as Batagelj and
    Zaversnik's bucket order (2003), with one read-modify-write per visited
    neighbour instead of their four-array swap, without branches (ResNet-20 MGE
    at sparsity 0.9: 41 against 54 ms); the list of nodes left is compacted at each level.
    """
    n = indptr.shape[0] - 1
    deg = np.empty(n, dtype=np.int32)
    rest = np.empty(n, dtype=np.int32)
    frontier = np.empty(n + 1, dtype=np.int32)
    _coreness(indptr, indices, deg, rest, frontier)
    return deg


@njit(cache=True, nogil=True)
def _bridges_and_cut_nodes(
    indptr, indices, disc, low, parent, nxt, stack, is_cut
):  # pragma: no cover
    n = indptr.shape[0] - 1
    n_bridges = 0
    roots = 0
    timer = 0
    for root in range(n):
        if disc[root] != -1:
            continue
        disc[root] = timer
        low[root] = timer
        parent[root] = -1
        nxt[root] = indptr[root]
        timer += 1
        sp = 1
        stack[0] = root
        root_children = 0
        while sp > 0:
            v = stack[sp - 1]
            p = nxt[v]
            end = indptr[v + 1]
            pv = parent[v]
            lv = low[v]
            child = -1
            while p < end:  # scan v's neighbours until an unvisited one
                w = indices[p]
                p += 1
                dw = disc[w]
                if dw == -1:
                    child = w
                    break
                if w != pv and dw < lv:
                    lv = dw
            low[v] = lv
            if child >= 0:
                nxt[v] = p
                parent[child] = v
                disc[child] = timer
                low[child] = timer
                nxt[child] = indptr[child]
                timer += 1
                stack[sp] = child
                sp += 1
                if v == root:
                    root_children += 1
            else:
                sp -= 1
                if pv != -1:
                    if lv < low[pv]:
                        low[pv] = lv
                    dp = disc[pv]
                    if lv > dp:
                        n_bridges += 1
                    if pv != root and lv >= dp:
                        is_cut[pv] = True
        if root_children >= 2:
            is_cut[root] = True
        roots += 1
    return n_bridges, roots


def bridges_and_cut_nodes(indptr: np.ndarray, indices: np.ndarray) -> tuple[int, np.ndarray]:
    """Number of bridges and articulation-point mask of a simple undirected graph.

    Iterative Tarjan DFS with low-links: tree edge ``(p, v)`` is a bridge iff
    ``low[v] > disc[p]``; non-root ``p`` is a cut node iff some child has
    ``low[v] >= disc[p]``; a DFS root iff it has two or more children. Each
    visit of ``v`` scans its neighbours in one tight loop up to the first
    unvisited one (``low[v]`` kept in a register); int32 work arrays
    allocated by numpy.
    """
    n_bridges, is_cut, _ = cuts_and_components(indptr, indices)
    return n_bridges, is_cut


def cuts_and_components(indptr: np.ndarray, indices: np.ndarray) -> tuple[int, np.ndarray, int]:
    """:func:`bridges_and_cut_nodes` plus the number of connected components.

    The DFS starts one tree per component (its roots), so the count comes with the
    cuts at no extra pass (isolated nodes are components of their own).
    """
    n = indptr.shape[0] - 1
    disc = np.full(n, -1, dtype=np.int32)
    low = np.empty(n, dtype=np.int32)
    parent = np.empty(n, dtype=np.int32)
    nxt = np.empty(n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int32)
    is_cut = np.zeros(n, dtype=np.bool_)
    n_bridges, roots = _bridges_and_cut_nodes(
        indptr, indices, disc, low, parent, nxt, stack, is_cut
    )
    return int(n_bridges), is_cut, int(roots)


# ------------------------------------------------------------- triangles


# ------------------------------------------------- per-node 2-hop counts


def chunk_bounds(count: int, per_thread: int = 4) -> np.ndarray:
    """Boundaries of about ``per_thread`` chunks per numba thread over ``count`` items."""
    parts = max(1, min(count, get_num_threads() * per_thread))
    return np.linspace(0, count, parts + 1).astype(np.int64)


# --------------------------------------------------- symmetric mat-vec


@njit(cache=True)
def neighbour_sums(indptr, indices, values):  # pragma: no cover - compiled
    """``out[u] = sum_{x in N(u)} values[x]`` (int64)."""
    n = indptr.shape[0] - 1
    out = np.zeros(n, dtype=np.int64)
    for u in range(n):
        s = 0
        for p in range(indptr[u], indptr[u + 1]):
            s += values[indices[p]]
        out[u] = s
    return out


# ------------------------------------------------------------------ paths


@njit(cache=True, nogil=True)
def path_block_update(
    src, dst, src_offset, dst_offset, g_src, mean_src, max_src, factor, total, weighted_len, ell
):  # pragma: no cover - compiled
    """One block's contribution to the path-count DP (see ``paths.path_counts``).

    For every edge ``u -> v``: ``total[v] += f g[u]``, ``weighted_len[v] += f g[u]
    (mean[u] + 1)`` and ``ell[v] = max(ell[v], max[u] + 1)`` when ``u`` is reachable.
    """
    for k in range(src.shape[0]):
        u = src[k] - src_offset
        v = dst[k] - dst_offset
        gs = g_src[u] * factor
        total[v] += gs
        weighted_len[v] += gs * (mean_src[u] + 1.0)
        if max_src[u] >= 0 and max_src[u] + 1 > ell[v]:
            ell[v] = max_src[u] + 1


# ------------------------------------------------------------- components


@njit(cache=True)
def _find(parent, x):  # pragma: no cover - compiled
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True, nogil=True)
def count_components(n, src, dst):  # pragma: no cover - compiled
    """Number of weakly connected components (union-find over the edge list, isolated nodes count)."""
    parent = np.arange(n, dtype=np.int64)
    components = n
    for k in range(src.shape[0]):
        a = _find(parent, src[k])
        b = _find(parent, dst[k])
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
            components -= 1
    return components


# ---------------------------------------------------------------- max flow


@njit(cache=True)
def _greedy_unit_flow(n, src, dst, is_source, is_sink):  # pragma: no cover - compiled
    """The used edges of :func:`_greedy_paths` from the sources (tail pointers built here)."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    for k in range(src.shape[0]):
        ptr[src[k] + 1] += 1
    for v in range(n):
        ptr[v + 1] += ptr[v]
    return _greedy_paths(n, src, dst, is_source, is_sink, ptr)[0]


@njit(cache=True)
def _greedy_paths(n, src, dst, is_source, is_sink, ptr):  # pragma: no cover - compiled
    """Edge-disjoint source-to-sink paths along original edges only: ``(used, paths)``.

    The graph is a DAG, so a current-arc DFS with dead-end marking
    (:func:`_walk_disjoint_paths`) is one O(E) pass over a CSR of the edges by
    tail, their heads copied beside their ids (``ptr``: the cumulative
    out-degrees, counting parallel edges; ``src`` is nearly sorted for the MGE,
    so the pass is close to sequential). Each path enters no source and stops
    at the first sink. Called with ``(dst, src, is_sink, is_source)`` and the
    in-degree pointers it walks the edges backwards, from the sinks to the
    sources: the same kind of paths, reversed.
    """
    m = src.shape[0]
    edge = np.empty(m, dtype=np.int32)
    heads = np.empty(m, dtype=np.int32)
    fill = ptr[:-1].copy()
    for k in range(m):
        at = fill[src[k]]
        edge[at] = k
        heads[at] = dst[k]
        fill[src[k]] = at + 1
    on_path = np.zeros(m, dtype=np.bool_)
    paths = _walk_disjoint_paths(ptr[:-1].copy(), ptr[1:], heads, is_source, is_sink, on_path)
    used = np.zeros(m, dtype=np.bool_)
    for p in range(m):
        if on_path[p]:
            used[edge[p]] = True
    return used, paths


@njit(cache=True, nogil=True)
def _walk_disjoint_paths(it, stop, heads, start, end, used):  # pragma: no cover - compiled
    """Edge-disjoint paths from the ``start`` nodes to the ``end`` nodes, greedily; their count.

    Node ``v``'s arcs are the positions ``[it[v], stop[v])``, arc ``p`` leading to
    ``heads[p]``; ``it`` is advanced in place (current-arc pointers). A DAG walk:
    a current-arc DFS with dead-end marking, one O(arcs) pass, each path entering
    no start node and stopping at the first end node; ``used[p]`` marks the arcs
    of the paths found.
    """
    n = it.shape[0]
    dead = np.zeros(n, dtype=np.bool_)
    stack = np.empty(n + 1, dtype=np.int64)
    tails = np.empty(n + 1, dtype=np.int64)
    paths = 0
    for s in range(n):
        if not start[s]:
            continue
        while True:
            depth = 0
            v = s
            found = False
            while True:
                if end[v] and depth > 0:
                    found = True
                    break
                advanced = False
                while it[v] < stop[v]:
                    p = it[v]
                    w = heads[p]
                    if not used[p] and not dead[w] and not start[w]:
                        stack[depth] = p
                        tails[depth] = v
                        depth += 1
                        v = w
                        advanced = True
                        break
                    it[v] += 1
                if advanced:
                    continue
                if depth == 0:
                    break
                dead[v] = True
                depth -= 1
                v = tails[depth]
                it[v] += 1
            if not found:
                break
            for d in range(depth):
                used[stack[d]] = True
            paths += 1
    return paths


@njit(cache=True, nogil=True)
def greedy_paths_simple(ptr, idx, split, is_source, is_sink):  # pragma: no cover - compiled
    """:func:`_greedy_paths` on a DAG's full simple CSR (no parallel edges): the path count.

    Row ``v`` lists its in-neighbours at ``[ptr[v], split[v])`` and its
    out-neighbours at ``[split[v], ptr[v + 1])`` (every edge goes to a larger id),
    so both walks read the rows in place: no by-tail or by-head copy of the edges
    is sorted first. A CSR position stands for its edge (each edge is an
    in-neighbour entry once and an out-neighbour entry once; a walk reads one
    kind). Starts from the narrower end as :func:`unit_max_flow` does.
    """
    n = ptr.shape[0] - 1
    in_terminal = 0
    out_terminal = 0
    for v in range(n):
        if is_sink[v]:
            in_terminal += split[v] - ptr[v]
        if is_source[v]:
            out_terminal += ptr[v + 1] - split[v]
    backward = in_terminal < out_terminal
    start = is_sink if backward else is_source
    end = is_source if backward else is_sink
    it = np.empty(n, dtype=np.int64)
    stop = np.empty(n, dtype=np.int64)
    for v in range(n):
        it[v] = ptr[v] if backward else split[v]
        stop[v] = split[v] if backward else ptr[v + 1]
    used = np.zeros(idx.shape[0], dtype=np.bool_)
    return _walk_disjoint_paths(it, stop, idx, start, end, used)


@njit(cache=True, nogil=True)
def unit_max_flow(n, src, dst, is_source, is_sink, cut_bound):  # pragma: no cover - compiled
    """Maximum number of edge-disjoint paths from any ``is_source`` node to any ``is_sink`` node.

    Dinic's algorithm on unit capacities; the sources and sinks are joined to
    a virtual source / sink by edges of unlimited capacity (never cut).
    Residual edge ``2k`` is edge ``k`` forward (capacity 1), ``2k + 1`` its reverse.
    ``cut_bound`` is the size of some known cut: a flow that reaches it is
    maximum (max-flow = min-cut), so the search stops there.

    The initial greedy flow (:func:`_greedy_paths`) starts from the narrower
    end: backwards from the sinks when fewer edges enter the sinks than leave the
    sources (``sum_t d_in(t) < sum_s d_out(s)``: an MGE's few output units).
    From the narrow end nearly every search reaches the other side, so when the
    minimum cut lies there the greedy flow meets ``cut_bound`` after visiting a
    small part of the graph; from the wide end most searches explore dead ends
    first. The value is the maximum flow either way.
    """
    m = src.shape[0]
    in_ptr = np.zeros(n + 1, dtype=np.int64)
    out_terminal = 0
    for k in range(m):
        in_ptr[dst[k] + 1] += 1
        if is_source[src[k]]:
            out_terminal += 1
    in_terminal = 0
    for v in range(n):
        if is_sink[v]:
            in_terminal += in_ptr[v + 1]
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    if in_terminal < out_terminal:
        for v in range(n):
            in_ptr[v + 1] += in_ptr[v]
        used, flow = _greedy_paths(n, dst, src, is_sink, is_source, in_ptr)
        in_ptr = np.diff(in_ptr)  # back to the in-degrees
    else:
        for k in range(m):
            out_ptr[src[k] + 1] += 1
        deg_out = out_ptr.copy()
        for v in range(n):
            out_ptr[v + 1] += out_ptr[v]
        used, flow = _greedy_paths(n, src, dst, is_source, is_sink, out_ptr)
        out_ptr = deg_out[1:]
        in_ptr = in_ptr[1:]
    if flow >= cut_bound:
        return flow
    if out_ptr.shape[0] == n + 1:  # the backward greedy counted no out-degrees
        for k in range(m):
            out_ptr[src[k] + 1] += 1
        out_ptr = out_ptr[1:]
    deg = np.zeros(n + 1, dtype=np.int64)
    deg[1:] = out_ptr + in_ptr  # every node's residual edges
    ptr = np.cumsum(deg)
    fill = ptr[:-1].copy()
    adj = np.empty(2 * m, dtype=np.int32)  # residual edge ids < 2^31 (checked by the caller)
    to = np.empty(2 * m, dtype=np.int32)
    cap = np.zeros(2 * m, dtype=np.int8)
    for k in range(m):
        u, v = src[k], dst[k]
        to[2 * k] = v
        to[2 * k + 1] = u
        cap[2 * k] = 0 if used[k] else 1
        cap[2 * k + 1] = 1 if used[k] else 0
        adj[fill[u]] = 2 * k
        fill[u] += 1
        adj[fill[v]] = 2 * k + 1
        fill[v] += 1
    level = np.empty(n, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    it = np.empty(n, dtype=np.int64)
    stack = np.empty(n + 1, dtype=np.int64)
    while True:
        level[:] = -1
        head = tail = 0
        for v in range(n):
            if is_source[v]:
                level[v] = 0
                queue[tail] = v
                tail += 1
        reached = False
        sink_level = n + 1
        while head < tail:
            v = queue[head]
            head += 1
            if is_sink[v]:
                reached = True
                sink_level = min(sink_level, level[v])
                continue  # paths end at the first sink they meet
            if level[v] >= sink_level:
                continue  # only shortest augmenting paths matter in this phase
            for p in range(ptr[v], ptr[v + 1]):
                e = adj[p]
                w = to[e]
                if cap[e] > 0 and level[w] < 0:
                    level[w] = level[v] + 1
                    queue[tail] = w
                    tail += 1
        if not reached:
            return flow
        it[:] = ptr[:-1]
        for s in range(n):
            if not is_source[s]:
                continue
            while True:
                depth = 0
                v = s
                found = False
                while True:
                    if is_sink[v] and depth > 0:
                        found = True
                        break
                    advanced = False
                    while it[v] < ptr[v + 1]:
                        e = adj[it[v]]
                        w = to[e]
                        if cap[e] > 0 and level[w] == level[v] + 1:
                            stack[depth] = e
                            depth += 1
                            v = w
                            advanced = True
                            break
                        it[v] += 1
                    if advanced:
                        continue
                    if depth == 0:
                        break
                    level[v] = -1  # dead end for this phase
                    depth -= 1
                    v = to[stack[depth] ^ 1]
                    it[v] += 1
                if not found:
                    break
                for d in range(depth):
                    e = stack[d]
                    cap[e] -= 1
                    cap[e ^ 1] += 1
                flow += 1


@njit(cache=True)
def degree_ranked_csr(indptr, indices, degree):  # pragma: no cover - compiled
    """The undirected graph relabelled by rank ``(degree, id)``, rows sorted: ``(ptr, idx)``.

    Node ``v`` becomes ``rank[v]``, its position when nodes are ordered by
    degree, ties by id; each row lists its neighbours' ranks ascending.
    """
    n = indptr.shape[0] - 1
    order = np.argsort(degree, kind="mergesort")
    rank = np.empty(n, dtype=np.int64)
    for i in range(n):
        rank[order[i]] = i
    ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        v = order[i]
        ptr[i + 1] = ptr[i] + indptr[v + 1] - indptr[v]
    # Deal the ranks out in increasing order: every row comes out sorted (no sort).
    idx = np.empty(ptr[n], dtype=np.int64)
    fill = ptr[:-1].copy()
    for i in range(n):
        v = order[i]
        for p in range(indptr[v], indptr[v + 1]):
            r = rank[indices[p]]
            idx[fill[r]] = i
            fill[r] += 1
    return ptr, idx


@njit(cache=True, parallel=True)
def four_cycle_count(ptr, idx, chunks):  # pragma: no cover - compiled
    """Number of 4-cycles of a simple undirected graph given by :func:`degree_ranked_csr`.

    Each 4-cycle is counted once, from its highest-ranked node ``u`` and the
    node ``w`` opposite it: ``C4 = sum_u sum_{w < u} C(c'_uw, 2)`` where
    ``c'_uw`` counts the common neighbours of ``u`` and ``w`` ranked below
    ``u`` (all of a cycle's middle nodes are). Rows are sorted, so both inner
    loops stop at the first rank ``>= u``: the work is ``sum over edges (x, u),
    x < u, of |{w in N(x) : w < u}|``, far below the ``sum_u sum_{x in N(u)} d_x``
    of :func:`pair_wedge_sums` when high-degree nodes rank last. Nodes are
    dealt to ``chunks`` interleaved (``u = c, c + chunks, ...``) for balance.
    """
    n = ptr.shape[0] - 1
    totals = np.zeros(chunks, dtype=np.int64)
    for c in prange(chunks):
        count = np.zeros(n, dtype=np.int32)
        touched = np.empty(n, dtype=np.int64)
        s = np.int64(0)
        for u in range(c, n, chunks):
            nt = 0
            for p in range(ptr[u], ptr[u + 1]):
                x = idx[p]
                if x >= u:
                    break
                for q in range(ptr[x], ptr[x + 1]):
                    w = idx[q]
                    if w >= u:
                        break
                    if count[w] == 0:
                        touched[nt] = w
                        nt += 1
                    count[w] += 1
            for t in range(nt):
                k = np.int64(count[touched[t]])
                s += k * (k - 1) // 2
                count[touched[t]] = 0
        totals[c] = s
    return totals.sum()


@njit(cache=True, inline="always")
def _range_rows(indptr, indices, data, x, ranges, c, out):  # pragma: no cover - compiled
    for u in range(ranges[c, 0], ranges[c, 1]):
        s = 0.0
        for p in range(indptr[u], indptr[u + 1]):
            s += np.float64(data[p]) * x[indices[p]]
        out[u] = s


@njit(cache=True, parallel=True)
def csr_matvec_ranges(indptr, indices, data, x, ranges):  # pragma: no cover - compiled
    """``(A x)[u]`` for the rows ``u`` in the ``[start, stop)`` rows of ``ranges``; 0 elsewhere.

    Full CSR of ``A`` (float32 weights, float64 sums), the ranges in parallel.
    On a bipartite graph, the rows of one side read only the other side of
    ``x``: two calls make one product of ``B B^T`` at the cost of one of ``A``.
    """
    out = np.zeros(indptr.shape[0] - 1, dtype=np.float64)
    for c in prange(ranges.shape[0]):
        _range_rows(indptr, indices, data, x, ranges, c, out)
    return out


@njit(cache=True)
def csr_matvec_ranges_serial(indptr, indices, data, x, ranges):  # pragma: no cover - compiled
    """:func:`csr_matvec_ranges` in the calling thread (small graphs)."""
    out = np.zeros(indptr.shape[0] - 1, dtype=np.float64)
    for c in range(ranges.shape[0]):
        _range_rows(indptr, indices, data, x, ranges, c, out)
    return out
