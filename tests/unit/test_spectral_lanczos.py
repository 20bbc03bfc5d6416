"""The plain-Lanczos spectral solves (queries/_spectral.py) against dense eigvalsh."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from _metric_graphs import build, full, random_layered

from prunegraph.queries import _spectral as S
from prunegraph.queries import topometrics as T
from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.topometrics import _dense_matrix, compute_section_a


@pytest.fixture
def plain(monkeypatch):
    """Every graph above 10 nodes takes the large-graph plain-Lanczos path (Python steps)."""
    monkeypatch.setattr(T, "DENSE_EIGEN_MAX_NODES", 10)
    monkeypatch.setattr(T, "PLAIN_LANCZOS_MIN_NODES", 10)


@pytest.fixture
def small(monkeypatch):
    """Graphs above 10 nodes take the compiled small-graph path (:func:`_small_spectra`)."""
    monkeypatch.setattr(T, "DENSE_EIGEN_MAX_NODES", 10)
    monkeypatch.setattr(T, "PLAIN_LANCZOS_MIN_NODES", 5000)
    fallbacks = []
    for name in ("_gap_before_plain", "_top_eigenvalues"):
        original = getattr(T, name)

        def spy(*args, _name=name, _original=original, **kw):
            fallbacks.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(T, name, spy)
    return fallbacks


def dense_spectra(g):
    """(gap, radius) from the whole dense spectra, the gap by the metric's definition."""
    st = GraphStructure(g)
    adj = np.sort(np.linalg.eigvalsh(_dense_matrix(st, False)))[::-1]
    lap = np.linalg.eigvalsh(_dense_matrix(st, True))
    below = adj[adj < adj[0] - T.DEGENERACY_RTOL * abs(adj[0])]
    return (float(adj[0] - below[0]) if below.size else None), float(lap[-1])


def two_components(seed, scale=1.0, skip=True):
    """Two copies of one random three-partition graph (the second's weights times ``scale``).

    With ``skip``, partition 0 also joins partition 2 (odd cycles: not bipartite).
    """
    rng = np.random.default_rng(seed)
    blocks = []
    pairs = [[e for e in full(a, b) if rng.random() < 0.3] for a, b in ((40, 50), (50, 40))]
    weights = [rng.random(len(p)) + 0.1 for p in pairs]
    skip_pairs = [(i, i) for i in range(40)]
    for base, s in ((0, 1.0), (3, scale)):
        blocks.append((base, base + 1, pairs[0], weights[0] * s, "linear"))
        blocks.append((base + 1, base + 2, pairs[1], weights[1] * s, "linear"))
        if skip:
            blocks.append((base, base + 2, skip_pairs, np.full(40, s), "skip"))
    blocks.sort(key=lambda b: (b[1], b[0]))
    return build([40, 50, 40, 40, 50, 40], blocks)


class Spy:
    """Records the runs of every :func:`_spectral.lockstep` call."""

    def __init__(self, monkeypatch):
        self.calls = []
        original = S.lockstep

        def spy(runs, single, joint):
            original(runs, single, joint)
            self.calls.append(([(r.gap, r.result is not None) for r in runs], joint is not None))

        monkeypatch.setattr(S, "lockstep", spy)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("path", ["plain", "small"])
def test_plain_pair_matches_dense_spectra(request, path, seed, skip):
    fallbacks = request.getfixturevalue(path)
    g = random_layered(seed, sizes=(60, 80, 80, 60), density=0.2, skip=skip)
    gap, radius = T.spectral_pair(GraphStructure(g))
    dgap, dradius = dense_spectra(g)
    assert gap == pytest.approx(dgap, rel=1e-7)
    assert radius == pytest.approx(dradius, rel=1e-7)
    # Alone, each spectrum gives the same value as in the lockstep solve.
    assert T.spectral_gap(GraphStructure(g)) == pytest.approx(gap, rel=1e-9)
    assert T.spectral_radius(GraphStructure(g)) == pytest.approx(radius, rel=1e-9)
    if path == "small":
        assert fallbacks == []  # the compiled recurrence converged, no fallback ran


@pytest.mark.parametrize("skip", [True, False])
def test_small_path_on_repeated_and_close_top_eigenvalues(small, skip):
    for g in (two_components(3, skip=skip), two_components(4, scale=1 - 1e-5, skip=skip)):
        dgap, dradius = dense_spectra(g)
        gap, radius = T.spectral_pair(GraphStructure(g))
        assert gap == pytest.approx(dgap, rel=1e-3 if dgap < 1e-3 else 1e-7)
        assert radius == pytest.approx(dradius, rel=1e-7)
    assert small == []


def test_small_path_falls_back_on_a_rank_one_layer(small):
    g = build([30, 40], [(0, 1, full(30, 40), None, "linear")])
    gap, radius = T.spectral_pair(GraphStructure(g))
    assert gap == pytest.approx(np.sqrt(1200.0), rel=1e-7)
    assert radius == pytest.approx(dense_spectra(g)[1], rel=1e-7)
    assert "_gap_before_plain" in small  # the closed Krylov space handed the gap over


@pytest.mark.parametrize("skip", [True, False])
def test_repeated_top_eigenvalue_is_skipped(plain, monkeypatch, skip):
    spy = Spy(monkeypatch)
    g = two_components(3, skip=skip)
    adj = np.sort(np.linalg.eigvalsh(_dense_matrix(GraphStructure(g), False)))[::-1]
    assert adj[0] == pytest.approx(adj[1], rel=1e-12)  # identical components: mu0 twice
    gap, radius = T.spectral_pair(GraphStructure(g))
    dgap, dradius = dense_spectra(g)
    assert dgap > 0.01 * adj[0]
    assert gap == pytest.approx(dgap, rel=1e-7)
    assert radius == pytest.approx(dradius, rel=1e-7)
    # One lockstep pass found both (bipartite: folded, where one start vector sees one
    # copy of sigma_0^2 and the next distinct value).
    assert spy.calls == [([(True, True), (False, True)], True)]


def test_second_eigenvalue_close_to_the_first(plain, monkeypatch):
    spy = Spy(monkeypatch)
    g = two_components(4, scale=1 - 1e-5)
    dgap, _ = dense_spectra(g)
    st = GraphStructure(g)
    mu0 = float(np.linalg.eigvalsh(_dense_matrix(st, False))[-1])
    assert dgap < 2e-5 * mu0  # the other component's top, just below mu0
    gap = T.spectral_gap(st)
    assert gap == pytest.approx(dgap, rel=1e-3)
    assert spy.calls == [([(True, True)], False)]


def test_bipartite_chain_folded_in_lockstep(plain):
    chain = random_layered(6, sizes=(60, 80, 80, 60), density=0.2, skip=False)
    st = GraphStructure(chain)
    assert T._folded_sides(st) is not None
    with pytest.MonkeyPatch.context() as mp:
        spy = Spy(mp)
        gap, radius = T.spectral_pair(st)
    assert spy.calls == [([(True, True), (False, True)], True)]
    dgap, dradius = dense_spectra(chain)
    assert gap == pytest.approx(dgap, rel=1e-7)
    assert radius == pytest.approx(dradius, rel=1e-7)


def test_metric_values_match_the_reference_solves(plain):
    g = random_layered(8, sizes=(60, 80, 80, 60), density=0.2)
    out = compute_section_a(g, ["spectral_gap", "spectral_radius"])
    alone = compute_section_a(g, ["spectral_radius"])
    dgap, dradius = dense_spectra(g)
    assert out["spectral_gap"].value == pytest.approx(dgap, rel=1e-7)
    assert out["spectral_radius"].value == pytest.approx(dradius, rel=1e-7)
    assert alone["spectral_radius"].value == pytest.approx(dradius, rel=1e-7)


def test_lanczos_run_on_a_known_spectrum():
    rng = np.random.default_rng(5)
    n = 400
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = np.concatenate([[10.0, 10.0, 9.5, 9.4], rng.uniform(-5, 5, n - 4)])
    a = (q * eig) @ q.T
    gap = S.LanczosRun(rng.uniform(0.5, 1.5, n), 1e-8, True)
    top = S.LanczosRun(rng.uniform(0.5, 1.5, n), 1e-8, False)
    S.lockstep([gap, top], [lambda x: a @ x, lambda x: a @ x], lambda x: (a @ x).T.copy())
    assert gap.result is not None and top.result is not None
    # Ghost copies of 10 are skipped: the second value is 9.5, not 10.
    np.testing.assert_allclose(gap.result, [10.0, 9.5], rtol=1e-9)
    np.testing.assert_allclose(top.result, [10.0], rtol=1e-12)


def test_closed_krylov_space_fails_for_the_fallback():
    a = np.diag(np.arange(1.0, 21.0))
    v = np.zeros(20)
    v[[3, 7]] = 1.0  # spans an invariant subspace of two eigenvectors
    run = S.LanczosRun(v, 1e-8, True)
    S.lockstep([run], [lambda x: a @ x], None)
    assert run.failed and run.result is None


@pytest.mark.parametrize("loops", [False, True])
def test_two_column_kernels_match_dense_products(loops):
    st = GraphStructure(random_layered(9, sizes=(30, 40, 40, 30), density=0.3))
    uptr, uidx, udata, diag_up = st.upper
    ptr, idx, data, diag, chunks = st.symmetric
    n = st.n
    rng = np.random.default_rng(0)
    if loops:
        diag_up = diag = rng.uniform(0.1, 1.0, n)
    wdeg = st.weighted_degree + (diag if loops else 0)
    dense = _dense_matrix(st, False) + (np.diag(diag) if loops else 0)
    x = rng.standard_normal((n, 2))
    lap = np.array([False, True])
    want = np.column_stack([dense @ x[:, 0], wdeg * x[:, 1] - dense @ x[:, 1]])
    threads = numba.get_num_threads()
    got_up = S.sym_matvec2(uptr, uidx, udata, diag_up, x, wdeg, lap, threads)
    got_gather = S.csr_matvec2(ptr, idx, data, diag, x, wdeg, lap, chunks)
    np.testing.assert_allclose(got_up.T, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_gather.T, want, rtol=1e-12, atol=1e-12)


def test_lanczos_step_is_the_three_term_update():
    rng = np.random.default_rng(2)
    v, vp, w = rng.standard_normal((3, 500))
    v /= np.linalg.norm(v)
    w0 = w.copy()
    alpha, beta = S.lanczos_step(w, v, vp, 0.7)
    r = w0 - (v @ w0) * v - 0.7 * vp
    assert alpha == pytest.approx(v @ w0, rel=1e-12)
    assert beta == pytest.approx(np.linalg.norm(r), rel=1e-12)
    np.testing.assert_allclose(w, r / np.linalg.norm(r), rtol=1e-13)


def test_scaled_steps_are_the_three_term_update_of_the_scaled_vectors():
    """The long-vector steps take unnormalised vectors and their scales: the update of
    ``v_k = s v``, ``v_(k-1) = s_p vp`` after ``w = M v``, its new vector unscaled."""
    rng = np.random.default_rng(2)
    n = 500
    a = rng.standard_normal((n, n))
    a = a + a.T
    u, up = rng.standard_normal((2, 2, n))  # two runs' stored vectors
    s = np.array([1.0 / np.linalg.norm(u[0]), 0.5 / np.linalg.norm(u[1])])
    sp = np.array([0.3, 2.0])
    beta_prev = np.array([0.7, 1.1])
    want = []
    for j in range(2):
        v, vprev = s[j] * u[j], sp[j] * up[j]
        mv = a @ v
        alpha = v @ mv
        want.append((alpha, mv - alpha * v - beta_prev[j] * vprev))
    for j in range(2):  # one run
        w = a @ u[j]
        alpha, beta = S.lanczos_step_scaled(w, u[j].copy(), up[j].copy(), s[j], sp[j], beta_prev[j])
        assert alpha == pytest.approx(want[j][0], rel=1e-12)
        assert beta == pytest.approx(np.linalg.norm(want[j][1]), rel=1e-12)
        np.testing.assert_allclose(w, want[j][1], rtol=1e-10, atol=1e-12)
    x = np.ascontiguousarray(u.T)  # both runs through their joint product's input
    prev = np.ascontiguousarray(up.T)
    out = np.empty(4)
    S.lanczos_pair_step((a @ x).T.copy(), x, prev, s, sp, beta_prev, out)
    for j in range(2):
        assert out[j] == pytest.approx(want[j][0], rel=1e-12)
        assert out[2 + j] == pytest.approx(np.linalg.norm(want[j][1]), rel=1e-12)
        np.testing.assert_allclose(x[:, j], want[j][1], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(prev[:, j], u[j])  # the current vector moved back


def test_rank_one_layer_falls_back_to_arpack(plain):
    # Complete bipartite, equal weights: A_s = +-sqrt(30 * 40) and zeros, so mu1 = 0.
    # The folded sigma_1 = 0 is refused, the Krylov space of A_s closes after three
    # vectors: the plain solves give up and ARPACK finds mu1 = 0.
    g = build([30, 40], [(0, 1, full(30, 40), None, "linear")])
    gap, radius = T.spectral_pair(GraphStructure(g))
    assert gap == pytest.approx(np.sqrt(1200.0), rel=1e-7)
    assert radius == pytest.approx(dense_spectra(g)[1], rel=1e-7)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_upper_kernels_reuse_their_workspace(threads):
    """Products through one workspace, one after another, each equal to a fresh product:
    every thread zeroes the stretch it writes, and nothing outside it."""
    st = GraphStructure(random_layered(11, sizes=(30, 40, 40, 30), density=0.3))
    uptr, uidx, udata, loops = st.upper
    n, wdeg = st.n, st.weighted_degree
    spans = S.upper_spans(uptr, uidx, threads)
    assert spans[0, 0] == 0 and spans[-1, 1] == n
    assert np.all(spans[:, 2] >= spans[:, 1]) and np.all(spans[1:, 0] == spans[:-1, 1])
    for t in range(threads):  # the accumulator stop covers every column its rows reach
        cols = uidx[uptr[spans[t, 0]] : uptr[spans[t, 1]]]
        assert cols.size == 0 or cols.max() < spans[t, 2]
    acc1, acc2 = np.zeros((threads, n)), np.zeros((threads, n, 2))
    lap = np.array([False, True])
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal((n, 2))
        x1 = np.ascontiguousarray(x[:, 1])
        np.testing.assert_array_equal(
            S.sym_matvec2_ws(uptr, uidx, udata, loops, x, wdeg, lap, spans, acc2),
            S.sym_matvec2(uptr, uidx, udata, loops, x, wdeg, lap, threads),
        )
        np.testing.assert_array_equal(
            S.sym_matvec1_ws(uptr, uidx, udata, loops, x1, wdeg, True, spans, acc1),
            S.sym_matvec1(uptr, uidx, udata, loops, x1, wdeg, True, threads),
        )


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("loops", [False, True])
def test_one_column_upper_kernel_matches_scipy(threads, loops):
    st = GraphStructure(random_layered(10, sizes=(30, 40, 40, 30), density=0.3))
    uptr, uidx, udata, diag = st.upper
    n = st.n
    rng = np.random.default_rng(1)
    if loops:
        diag = rng.uniform(0.1, 1.0, n)
    upper = sp.csr_matrix((udata.astype(np.float64), uidx, uptr), shape=(n, n))
    a_s = upper + upper.T + (sp.diags(diag) if loops else 0)
    wdeg = np.asarray(a_s.sum(axis=1)).ravel()
    x = rng.standard_normal(n)
    got = S.sym_matvec1(uptr, uidx, udata, diag, x, wdeg, False, threads)
    np.testing.assert_allclose(got, a_s @ x, rtol=1e-12, atol=1e-12)
    got = S.sym_matvec1(uptr, uidx, udata, diag, x, wdeg, True, threads)
    np.testing.assert_allclose(got, wdeg * x - a_s @ x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_folded_half_is_one_side_of_the_product(threads):
    chain = random_layered(11, sizes=(30, 40, 40, 30), density=0.3, skip=False)
    st = GraphStructure(chain)
    rows, other = T._folded_sides(st)
    uptr, uidx, udata, _ = st.upper
    n = st.n
    upper = sp.csr_matrix((udata.astype(np.float64), uidx, uptr), shape=(n, n))
    a_s = (upper + upper.T).tocsr()
    rng = np.random.default_rng(2)
    y = rng.standard_normal(n)  # nonzero on both sides: the flagged side is never read
    for ranges in (rows, other):
        side = np.zeros(n, dtype=np.bool_)
        for start, stop in ranges:
            side[start:stop] = True
        want = np.where(side, a_s @ np.where(side, 0.0, y), 0.0)
        got = S.folded_half(uptr, uidx, udata, side, y, threads)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert not got[~side].any()
    # Two halves make B B^T: the folded product of the parallel path.
    folded, half = T._plain_folded(st, (rows, other), small=False)
    x = np.zeros(n)
    for start, stop in rows:
        x[start:stop] = rng.standard_normal(stop - start)
    np.testing.assert_allclose(folded(x), a_s @ (a_s @ x) * (x != 0), rtol=1e-12, atol=1e-12)
    serial, serial_half = T._plain_folded(st, (rows, other), small=True)
    np.testing.assert_allclose(serial(x), folded(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(serial_half(a_s @ x), half(a_s @ x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", ["gather", "upper"])
def test_parallel_folded_pair_matches_dense_spectra(plain, monkeypatch, kernel):
    # Above the parallel size the folded gap's halves are folded_half's, in lockstep
    # with the radius and alone.
    monkeypatch.setattr(T, "PARALLEL_MATVEC_MIN_ENTRIES", 0)
    calls = []
    original = S.folded_half

    def spy(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(S, "folded_half", spy)
    chain = random_layered(12, sizes=(60, 80, 80, 60), density=0.2, skip=False)
    dgap, dradius = dense_spectra(chain)
    st = GraphStructure(chain)
    st.__dict__["_matvec_kernel"] = kernel
    gap, radius = T.spectral_pair(st)
    assert calls
    assert gap == pytest.approx(dgap, rel=1e-7)
    assert radius == pytest.approx(dradius, rel=1e-7)
    alone = GraphStructure(chain)
    alone.__dict__["_matvec_kernel"] = kernel
    assert T.spectral_gap(alone) == pytest.approx(gap, rel=1e-9)


def test_matvec_kernel_keeps_the_upper_kernel_on_dense_enough_graphs(monkeypatch):
    if numba.get_num_threads() < 2:
        pytest.skip("the parallel products need two numba threads")
    monkeypatch.setattr(T, "PARALLEL_MATVEC_MIN_ENTRIES", 0)
    g = random_layered(4, sizes=(60, 80, 80, 60), density=0.3)
    st = GraphStructure(g)
    ratio = len(st.upper[1]) / (numba.get_num_threads() * st.n)
    assert ratio >= T.UPPER_KERNEL_MIN_RATIO
    timed = []
    original = T._product
    monkeypatch.setattr(T, "_product", lambda *a: timed.append(a[1]) or original(*a))
    assert T.matvec_kernel(st) == "upper" and not timed  # chosen without timing
    monkeypatch.setattr(T, "UPPER_KERNEL_MIN_RATIO", ratio * 2)
    st = GraphStructure(g)
    assert T.matvec_kernel(st) in ("gather", "upper")
    assert sorted(set(timed)) == ["gather", "upper"]  # both timed below the ratio


def _tridiagonal_cases():
    rng = np.random.default_rng(11)
    yield "random", rng.standard_normal(40), np.abs(rng.standard_normal(40))
    b = np.abs(rng.standard_normal(30))
    b[[5, 17]] = 0.0  # splits into three blocks
    yield "split", rng.standard_normal(30), b
    yield "cluster", np.full(25, 3.0), np.full(25, 1e-9)  # eigenvalues within 2e-9 of 3
    yield "scaled", 1e6 * rng.standard_normal(60), 1e-3 * np.abs(rng.standard_normal(60))
    yield "one", np.array([2.5]), np.zeros(1)


@pytest.mark.parametrize("case", list(_tridiagonal_cases()), ids=lambda c: c[0])
def test_ritz_last_row_matches_lapack(case):
    """Eigenvalues and |last eigenvector entries| of T_m equal LAPACK's (unsorted order aside)."""
    _, alpha, beta = case
    m = alpha.shape[0]
    theta, last = np.empty(m), np.empty(m)
    assert S.ritz_last_row(alpha, beta, m, theta, last)
    want, vectors = (
        sla.eigh_tridiagonal(alpha, beta[: m - 1]) if m > 1 else (alpha, np.ones((1, 1)))
    )
    order = np.argsort(theta)
    scale = np.abs(want).max()
    np.testing.assert_allclose(theta[order], want, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(np.sum(last**2), 1.0, rtol=1e-12)
    # An eigenvector is defined up to sign, and only up to rotation inside a cluster:
    # compare the last entries where the eigenvalue stands apart.
    apart = np.ones(m, dtype=bool)
    if m > 1:
        spacing = np.diff(want)
        apart = np.minimum(np.r_[np.inf, spacing], np.r_[spacing, np.inf]) > 1e-6 * scale
    np.testing.assert_allclose(np.abs(last[order])[apart], np.abs(vectors[-1])[apart], atol=1e-9)


def test_compiled_and_lapack_acceptance_agree(monkeypatch):
    """The same recurrence accepts the same values at the same step either way."""
    rng = np.random.default_rng(3)
    n = 300
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (q * np.concatenate([[10.0, 10.0, 9.5], rng.uniform(-5, 5, n - 3)])) @ q.T
    v0 = rng.uniform(0.5, 1.5, n)

    def solve() -> S.LanczosRun:
        run = S.LanczosRun(v0, 1e-8, True)
        S.lockstep([run], [lambda x: a @ x], None)
        return run

    compiled = solve()
    lapack_calls = []
    original = S.accepted
    monkeypatch.setattr(S, "accepted", lambda *args: lapack_calls.append(1) or original(*args))
    assert not lapack_calls
    monkeypatch.setattr(S, "RITZ_COMPILED_MAX", 0)
    lapack = solve()
    assert lapack_calls  # the long-T_m branch ran
    assert compiled.steps == lapack.steps
    np.testing.assert_allclose(compiled.result, lapack.result, rtol=1e-13)
    np.testing.assert_allclose(compiled.result, [10.0, 9.5], rtol=1e-9)


def test_ql_that_gives_up_hands_over_to_lapack(monkeypatch):
    rng = np.random.default_rng(4)
    n = 200
    a = np.diag(rng.uniform(-1, 1, n)) + np.diag(rng.uniform(0.1, 1, n - 1), 1)
    a = a + np.triu(a, 1).T
    monkeypatch.setattr(S, "ritz_accept", lambda *args: (-1, 0.0, 0.0))  # QL gave up
    run = S.LanczosRun(rng.uniform(0.5, 1.5, n), 1e-8, False)
    S.lockstep([run], [lambda x: a @ x], None)
    assert run.result is not None
    assert run.result[0] == pytest.approx(np.linalg.eigvalsh(a)[-1], rel=1e-9)


def test_metric_evaluation_holds_blas_to_one_thread(monkeypatch):
    """No metric runs a threaded BLAS: its idle workers would spin on the cores numba uses."""
    from threadpoolctl import threadpool_info

    from prunegraph.queries import metric_registry as R

    seen = []
    definition = R.DEFINITIONS["strength"]
    original = definition.compute

    def spy(ctx):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return original(ctx)

    monkeypatch.setitem(R.DEFINITIONS, "strength", dataclasses.replace(definition, compute=spy))
    compute_section_a(random_layered(2, sizes=(20, 30, 20), density=0.3), ["strength"])
    assert seen and set(seen) == {1}


def test_lockstep_with_long_steps_equals_each_run_alone(monkeypatch):
    """Two runs through the joint product, their vectors written into its input by the
    step (long-vector path), take the steps and values of each run alone."""
    monkeypatch.setattr(S, "LONG_STEP_MIN", 100)
    rng = np.random.default_rng(8)
    n = 300
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (q * np.concatenate([[10.0, 9.0], rng.uniform(-5, 5, n - 2)])) @ q.T
    b = (q * np.concatenate([[7.0, 6.5], rng.uniform(-5, 5, n - 2)])) @ q.T
    v0, v1 = rng.uniform(0.5, 1.5, (2, n))
    together = [S.LanczosRun(v0, 1e-8, True), S.LanczosRun(v1, 1e-8, False)]
    S.lockstep(
        together,
        [lambda x: a @ x, lambda x: b @ x],
        lambda x: np.stack([a @ x[:, 0], b @ x[:, 1]]),
    )
    alone = [S.LanczosRun(v0, 1e-8, True), S.LanczosRun(v1, 1e-8, False)]
    S.lockstep(alone[:1], [lambda x: a @ x], None)
    S.lockstep(alone[1:], [lambda x: b @ x], None)
    for joint_run, run in zip(together, alone, strict=True):
        assert joint_run.steps == run.steps
        np.testing.assert_allclose(joint_run.result, run.result, rtol=1e-12)
    np.testing.assert_allclose(together[0].result, [10.0, 9.0], rtol=1e-9)
