"""numba kernels of the MGE encoder: merging pooled edge replicas without a global sort.

An edge block drawn through a pooling window table (``cols[r, :]``: the partition
units feeding value unit ``r``, ``-1`` pads, packed left; ``mult`` their
multiplicities) is the product of the layer's own edges ``dst <- r`` (weight ``w``)
with the table: ``dst <- cols[r, c]`` with weight ``w * mult[r, c]``. Overlapping
windows make several products land on one ``(dst, src)`` pair, whose weights are
summed. Both kernels walk the output units ``dst`` one at a time and accumulate the
row in a dense array indexed by source unit, with a marker array telling which
entries this row has touched (Gustavson's row-by-row sparse product): the work is
the number of products, with no sort, and the output comes grouped by ``dst``.

``scale`` (``|c|`` per output unit of a constant gate; 0 removes the unit's edges) is
applied to every row when ``has_scale`` is true.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _add_row(r, weight, d, cols, mult, has_mult, marker, acc, touched, n_touched):
    """Add ``weight * mult[r, :]`` to output row ``d``'s accumulator over ``cols[r, :]``.

    Returns the new count of touched sources.
    """
    for c in range(cols.shape[1]):
        s = cols[r, c]
        if s < 0:
            break
        val = weight * mult[r, c] if has_mult else weight
        if marker[s] != d:
            marker[s] = d
            acc[s] = val
            touched[n_touched] = s
            n_touched += 1
        else:
            acc[s] += val
    return n_touched


@njit(cache=True, inline="always")
def _flush_row(d, f, touched, n_touched, acc, out_d, out_s, out_w, pos):
    """Write output row ``d``'s merged edges (scaled by ``f``) from position ``pos``."""
    for t in range(n_touched):
        s = touched[t]
        out_d[pos] = d
        out_s[pos] = s
        out_w[pos] = acc[s] * f
        pos += 1
    return pos


@njit(cache=True)
def merge_runs(
    dst, src, w, cols, mult, has_mult, scale, has_scale, marker, acc, touched,
    out_d, out_s, out_w, pos,
):  # fmt: skip
    """Merge edges ``dst <- src`` whose equal ``dst`` are contiguous (Linear, skips).

    Returns the new fill position of ``out_*`` (which must have room for every
    merged edge).
    """
    n = len(dst)
    k = 0
    while k < n:
        d = dst[k]
        end = k
        while end < n and dst[end] == d:
            end += 1
        f = scale[d] if has_scale else 1.0
        if f != 0:
            n_touched = 0
            for e in range(k, end):
                n_touched = _add_row(
                    src[e], w[e], d, cols, mult, has_mult, marker, acc, touched, n_touched
                )
            pos = _flush_row(d, f, touched, n_touched, acc, out_d, out_s, out_w, pos)
        k = end
    return pos


@njit(cache=True)
def merge_conv(
    indptr, in_ch, ku, kv, kw, h, wd, ho, wo, sh, sw, ph, pw, dh, dw,
    cols, mult, has_mult, scale, has_scale, marker, acc, touched, out_d, out_s, out_w, pos,
):  # fmt: skip
    """Unrolled conv edges composed with a window table, merged row by row.

    ``indptr``/``in_ch``/``ku``/``kv``/``kw``: the unmasked kernel entries grouped
    by output channel ``o`` (CSR): input channel (global), offset ``(u, v)``, ``|w|``.
    Output ``(o, y, x)`` reads value unit ``(i, y*sh - ph + u*dh, x*sw - pw + v*dw)``
    when it lies inside the ``h x wd`` input.
    """
    n_out = len(indptr) - 1
    for o in range(n_out):
        for y in range(ho):
            for x in range(wo):
                d = (o * ho + y) * wo + x
                f = scale[d] if has_scale else 1.0
                if f == 0:
                    continue
                n_touched = 0
                for e in range(indptr[o], indptr[o + 1]):
                    iy = y * sh - ph + ku[e] * dh
                    ix = x * sw - pw + kv[e] * dw
                    if iy < 0 or iy >= h or ix < 0 or ix >= wd:
                        continue
                    r = (in_ch[e] * h + iy) * wd + ix
                    n_touched = _add_row(
                        r, kw[e], d, cols, mult, has_mult, marker, acc, touched, n_touched
                    )
                pos = _flush_row(d, f, touched, n_touched, acc, out_d, out_s, out_w, pos)
    return pos


@njit(cache=True)
def merge_linear(
    mask, weight, lead, cols, mult, has_mult, scale, has_scale, marker, acc, touched,
    out_d, out_s, out_w, pos,
):  # fmt: skip
    """Linear edges ``in_j -> out_k`` (unmasked ``W[k, j]``, weight ``|W[k, j]|``) at each
    of ``lead`` leading positions, composed with a window table and merged row by row."""
    f_out, f_in = mask.shape
    for p in range(lead):
        for k in range(f_out):
            d = p * f_out + k
            f = scale[d] if has_scale else 1.0
            if f == 0:
                continue
            n_touched = 0
            for j in range(f_in):
                if not mask[k, j]:
                    continue
                wv = abs(weight[k, j])
                r = p * f_in + j
                n_touched = _add_row(
                    r, wv, d, cols, mult, has_mult, marker, acc, touched, n_touched
                )
            pos = _flush_row(d, f, touched, n_touched, acc, out_d, out_s, out_w, pos)
    return pos


@njit(cache=True)
def resolve_mask(w, user, has_user, prune, has_prune, mask):
    """``mask = (w != 0) & user & prune`` in one pass over the flat weight.

    Returns ``(n_nonfinite, n_unmasked)``: the entries of ``w`` that are NaN or
    infinite (the caller refuses the layer when there is any), and the entries of
    ``mask`` that are true.
    """
    bad = 0
    kept = 0
    for f in range(w.size):
        x = w[f]
        if not np.isfinite(x):
            bad += 1
        keep = x != 0
        if has_user:
            keep &= user[f]
        if has_prune:
            keep &= prune[f] != 0
        mask[f] = keep
        kept += keep
    return bad, kept


@njit(cache=True)
def conv_offsets(mask, weight, co, ci_g, co_g, kk, out_o, out_i, out_w, starts, ends):
    """Unmasked conv kernel entries grouped by kernel offset (a counting sort).

    ``mask``/``weight``: the flat ``(co, ci_g, kh, kw)`` arrays, ``kk = kh * kw``;
    ``out_*`` have room for every unmasked entry plus ``kk``. Offset ``k``
    (``u = k // kw``, ``v = k % kw``) gets the slice ``starts[k]:ends[k]`` of
    ``out_o`` (output channel), ``out_i`` (global input channel
    ``(o // co_g) * ci_g + i_l``) and ``out_w`` (``|w|``), in C order of
    ``(o, i_l)``: the order of a stable sort of ``np.flatnonzero(mask)`` by
    ``flat % kk``. Slices are one slot apart, so that at densities where a branch
    per entry would be mispredicted half the time every entry is written and only
    the kept ones advance their slot (the spare slot takes the last write).
    """
    counts = np.zeros(kk, np.int64)
    n_oi = co * ci_g
    for oi in range(n_oi):
        base = oi * kk
        for k in range(kk):
            counts[k] += mask[base + k]
    total = 0
    for k in range(kk):
        starts[k] = total + k
        total += counts[k]
    fill = starts.copy()
    density = total / max(1, n_oi * kk)
    branchless = 0.15 < density < 0.85
    for o in range(co):
        g_base = (o // co_g) * ci_g
        for il in range(ci_g):
            base = (o * ci_g + il) * kk
            i_glob = g_base + il
            for k in range(kk):
                if branchless:
                    p = fill[k]
                    out_o[p] = o
                    out_i[p] = i_glob
                    out_w[p] = abs(weight[base + k])
                    fill[k] = p + mask[base + k]
                elif mask[base + k]:
                    p = fill[k]
                    out_o[p] = o
                    out_i[p] = i_glob
                    out_w[p] = abs(weight[base + k])
                    fill[k] = p + 1
    ends[:] = fill


@njit(cache=True, inline="always")
def _emit_through(r, d, we, cols, mult, has_mult, src, dst, weight, pos, src_off):
    """Write ``d <- cols[r, c]`` (weight ``we * mult[r, c]``) for every valid ``c``."""
    for c in range(cols.shape[1]):
        s = cols[r, c]
        if s < 0:
            continue
        dst[pos] = d
        src[pos] = s + src_off
        weight[pos] = we * mult[r, c] if has_mult else we
        pos += 1
    return pos


@njit(cache=True)
def fill_conv(
    starts, ends, kw, o, i, wt, h, wd, ho, wo, sh, sw, ph, pw, dh, dw,
    cols, mult, has_table, has_mult, src, dst, weight, pos, src_off, dst_off,
):  # fmt: skip
    """Unrolled conv edges (global ids) written from ``pos``; returns the new position.

    Offset ``k = u * kw + v`` draws, for each of its entries ``e`` (``o``, input
    channel ``i``, ``|w|``) and each output position ``(y, x)`` whose input
    ``(y*sh - ph + u*dh, x*sw - pw + v*dw)`` lies inside the ``h x wd`` input, the
    edge ``(i, iy, ix) -> (o, y, x)``; the order is offset, entry, ``y``, ``x``.
    With ``has_table`` the input unit ``r`` is a unit of the layer's input value,
    read through the window table: one edge per valid ``cols[r, c]`` (in ``c``
    order), weight ``|w| * mult[r, c]`` when ``has_mult``.
    """
    for k in range(len(starts)):
        a, b = starts[k], ends[k]
        if b <= a:
            continue
        u, v = k // kw, k % kw
        shift_y, shift_x = u * dh - ph, v * dw - pw
        y0 = max(0, -(shift_y // sh))
        y1 = min(ho, (h - 1 - shift_y) // sh + 1)
        x0 = max(0, -(shift_x // sw))
        x1 = min(wo, (wd - 1 - shift_x) // sw + 1)
        if y1 <= y0 or x1 <= x0:
            continue
        for e in range(a, b):
            d_base = dst_off + o[e] * (ho * wo)
            we = wt[e]
            if has_table:
                r_base = i[e] * (h * wd) + shift_x
                for y in range(y0, y1):
                    d_row = d_base + y * wo
                    r_row = r_base + (y * sh + shift_y) * wd
                    for x in range(x0, x1):
                        pos = _emit_through(
                            r_row + x * sw, d_row + x, we, cols, mult, has_mult,
                            src, dst, weight, pos, src_off,
                        )  # fmt: skip
            else:
                s_base = src_off + i[e] * (h * wd) + shift_x
                for y in range(y0, y1):
                    d_row = d_base + y * wo
                    s_row = s_base + (y * sh + shift_y) * wd
                    for x in range(x0, x1):
                        dst[pos] = d_row + x
                        src[pos] = s_row + x * sw
                        weight[pos] = we
                        pos += 1
    return pos


@njit(cache=True)
def fill_linear(
    mask, weight_in, lead, rows_per, cols, mult, has_table, has_mult,
    src, dst, weight, pos, src_off, dst_off,
):  # fmt: skip
    """Linear edges ``in_j -> out_k`` (unmasked ``W[k, j]``, ``|W[k, j]|``) from ``pos``.

    At each of ``lead`` leading positions ``p``: ``p*f_in + j -> p*f_out + k``. The
    order is that of the numpy generator: blocks of ``rows_per`` output rows, then
    ``p``, then ``(k, j)`` in C order. With ``has_table`` the input unit is read
    through the window table as in :func:`fill_conv`. Without, every entry is
    written and only the unmasked ones advance (no branch to mispredict): the
    slot just after the block may be overwritten, which is the next block's
    first slot (written after this one) or past the end of ``dst`` (skipped).
    """
    f_out, f_in = mask.shape
    limit = len(dst)
    for r0 in range(0, f_out, rows_per):
        r1 = min(f_out, r0 + rows_per)
        for p in range(lead):
            for k in range(r0, r1):
                d = dst_off + p * f_out + k
                if has_table:
                    for j in range(f_in):
                        if mask[k, j]:
                            pos = _emit_through(
                                p * f_in + j, d, abs(weight_in[k, j]), cols, mult, has_mult,
                                src, dst, weight, pos, src_off,
                            )  # fmt: skip
                    continue
                s0 = src_off + p * f_in
                for j in range(f_in):  # branch-free: every entry written, kept ones advance
                    if pos < limit:  # the slot after the block is the next block's (or none)
                        dst[pos] = d
                        src[pos] = s0 + j
                        weight[pos] = abs(weight_in[k, j])
                    pos += mask[k, j]
    return pos


@njit(cache=True)
def offset_counts(mask, kk, counts):
    """``counts[k]``: unmasked entries of the flat ``(..., kh, kw)`` mask at offset ``k``."""
    counts[:] = 0
    for base in range(0, mask.size, kk):
        for k in range(kk):
            counts[k] += mask[base + k]


@njit(cache=True)
def fill_conv_direct(
    mask, weight, co, ci_g, co_g, kw, counts, h, wd, ho, wo, sh, sw, ph, pw, dh, dw,
    src, dst, out_w, pos, src_off, dst_off,
):  # fmt: skip
    """The edges of :func:`fill_conv` without a table, read straight off the mask.

    One pass over the flat ``(co, ci_g, kh, kw)`` mask and weight: the ``r``-th
    unmasked entry (C order) at offset ``k`` writes its rectangle of output
    positions at ``base[k] + r * area[k]``, where offset ``k``'s block
    ``base[k]`` follows the blocks of the offsets before it (``counts[k]``
    entries of ``area[k]`` edges each). The order is that of :func:`fill_conv`:
    offset, entry, ``y``, ``x``; returns the position after the last edge.
    """
    kk = len(counts)
    y0s = np.empty(kk, np.int64)
    y1s = np.empty(kk, np.int64)
    x0s = np.empty(kk, np.int64)
    x1s = np.empty(kk, np.int64)
    area = np.zeros(kk, np.int64)
    base = np.empty(kk, np.int64)
    at = pos
    for k in range(kk):
        u, v = k // kw, k % kw
        shift_y, shift_x = u * dh - ph, v * dw - pw
        y0s[k] = max(0, -(shift_y // sh))
        y1s[k] = min(ho, (h - 1 - shift_y) // sh + 1)
        x0s[k] = max(0, -(shift_x // sw))
        x1s[k] = min(wo, (wd - 1 - shift_x) // sw + 1)
        if y1s[k] > y0s[k] and x1s[k] > x0s[k]:
            area[k] = (y1s[k] - y0s[k]) * (x1s[k] - x0s[k])
        base[k] = at
        at += counts[k] * area[k]
    for o in range(co):
        g_base = (o // co_g) * ci_g
        d_base = dst_off + o * (ho * wo)
        for il in range(ci_g):
            f_base = (o * ci_g + il) * kk
            s_chan = src_off + (g_base + il) * (h * wd)
            for k in range(kk):
                if not mask[f_base + k] or area[k] == 0:
                    continue
                p = base[k]
                base[k] = p + area[k]
                we = abs(weight[f_base + k])
                u, v = k // kw, k % kw
                shift_y, shift_x = u * dh - ph, v * dw - pw
                for y in range(y0s[k], y1s[k]):
                    d_row = d_base + y * wo
                    s_row = s_chan + (y * sh + shift_y) * wd + shift_x
                    for x in range(x0s[k], x1s[k]):
                        dst[p] = d_row + x
                        src[p] = s_row + x * sw
                        out_w[p] = we
                        p += 1
    return at
