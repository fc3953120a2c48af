"""The C++ evolution engine (ask/tell), its exact incremental rank top-k, budgets, latency
table and checkpoints — checked against independent Python references (a re-implementation of
Zen-NAS Algorithm 2 / the AZ-NAS loop over the same RNG and mutation, scipy re-ranks, torch
parameter counts, sums of hand-made table entries). Pure C++ underneath: no device dimension
except where a torch model is built.
"""
import math
import re

import numpy as np
import pytest
from scipy.stats import rankdata

from zsnas import _core

RES_BUDGET = dict(max_params=1_000_000, max_layers=18, resolution=32, num_classes=10)


def res_engine(strategy="zen", iterations=2000, seed=0, scores=("params",), **kw):
    return _core.Engine(_core.res_space(), _core.Budget(**RES_BUDGET), strategy=strategy, iterations=iterations,
                        seed=seed, scores=list(scores), **kw)


# ---- rank aggregation: brute force ------------------------------------------------------------
def brute_top(ids, values, k):
    """Top-k ids by Σ ln(rank/m) (scipy average ranks), exactly: compare Π(2·rank) as Python ints."""
    values = np.asarray(values, dtype=float)
    m = len(ids)
    ranks = np.stack([rankdata(values[:, j], method="average") for j in range(values.shape[1])], axis=1)
    prod = [math.prod(int(round(2 * r)) for r in row) for row in ranks]
    order = sorted(range(m), key=lambda i: (-prod[i], ids[i]))
    agg = np.log(ranks / m).sum(axis=1)
    return sorted(ids[i] for i in order[:k]), ids[order[0]], {ids[i]: agg[i] for i in range(m)}


@pytest.mark.parametrize("M,k,levels", [(1, 7, 5), (2, 16, 4), (3, 5, 1000), (4, 32, 6), (4, 64, 10**9)])
def test_rank_topk_matches_scipy_rerank_with_ties(M, k, levels):
    rng = np.random.default_rng(M * 100 + k)
    n = 1500
    common = rng.integers(0, levels, size=n)
    vals = (common[:, None] + rng.integers(0, 3, size=(n, M))).astype(float)  # correlated, many ties
    vals[rng.random((n, M)) < 0.01] = -np.inf  # e.g. a degenerate AZ trainability
    ids = rng.permutation(n * 3)[:n].tolist()  # ids are not insertion order
    t = _core.RankTopK(M, k)
    for i in range(n):
        t.insert(ids[i], vals[i].tolist())
        if i % 97 == 0 or i == n - 1:
            top, best, agg = brute_top(ids[: i + 1], vals[: i + 1], k)
            assert t.top() == top, f"after {i + 1} inserts"
            assert t.best() == best
    some = ids[:: n // 10]
    for x in some:
        assert t.aggregate(x) == pytest.approx(agg[x], abs=1e-12)
    # The restore path (bulk) gives the same set; ranking() is the full exact order.
    b = _core.RankTopK(M, k)
    b.insert_many(np.array(ids), vals, bulk=True)
    assert b.top() == t.top() and b.best() == t.best()
    full = t.ranking(k)
    assert sorted(i for i, _ in full) == t.top()
    assert full[0][0] == best and full[0][1] == pytest.approx(agg[best], abs=1e-12)


def test_rank_topk_long_history_random_checks():
    # Past several epochs (rebuilds) and pool re-selections, on continuous data.
    rng = np.random.default_rng(7)
    n, M, k = 20000, 4, 50
    c = rng.normal(size=n)
    vals = c[:, None] + 0.7 * rng.normal(size=(n, M))
    t = _core.RankTopK(M, k)
    t.insert_many(np.arange(n), vals)
    top, best, _ = brute_top(list(range(n)), vals, k)
    assert t.top() == top and t.best() == best
    assert t.stats()["rebuilds"] > 5
    with pytest.raises(ValueError, match="NaN"):
        t.insert(n, [0.0, math.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match="twice"):
        t.insert(0, [0.0] * 4)


# ---- Zen-NAS Algorithm 2: a Python reference over the same RNG and mutation ----------------------
def rho(t, T, start=1.0, end=0.1, frac=0.5):
    return end + (start - end) * max(0.0, 1.0 - t / (frac * T))


def reference_zen(T, N, seed, score):
    space = _core.res_space()
    budget = _core.Budget(**RES_BUDGET)
    rng = _core.Rng(seed)
    init = _core.CoreArch(space.initial)
    pop = []  # [structure, score, CoreArch]
    first_seen = []
    cache = {}
    for t in range(T):
        r = rho(t, T)
        if len(pop) <= 10:
            child = _core.mutate(init, space, rng, r)
        else:
            parent = pop[rng.below(len(pop))][2]
            child = _core.mutate(_core.mutate(parent, space, rng, r), space, rng, r)
        if not _core.within_budget(child, budget):
            continue  # the iteration still counts
        s = str(child)
        if s not in cache:
            cache[s] = score(child)
            first_seen.append(s)
        pop.append([s, cache[s], child])
        if len(pop) > N:
            low = min(p[1] for p in pop)
            pop.pop([p[1] for p in pop].index(low))  # the earliest minimum, like the authors' list.index
    return [p[0] for p in pop], first_seen


def test_zen_reproduces_algorithm_2_population_dynamics():
    T, N, seed = 1500, 24, 3
    e = res_engine("zen", T, seed, population=N)
    assert e.run_native(T) == T
    pop, first_seen = reference_zen(T, N, seed, lambda a: a.params(10))
    assert [e.structure(i) for i in e.population] == pop
    assert [e.structure(i) for i in range(len(e))] == first_seen
    c = e.counters()
    assert c["iteration"] == c["proposals"] == T  # skipped candidates count as iterations
    assert c["rejected"] > 0 and c["duplicates"] > 0
    assert e.rho(0) == 1.0 and e.rho(T // 2) == pytest.approx(0.1) and e.rho(T) == pytest.approx(0.1)
    assert e.rho(T // 4) == pytest.approx(0.55)


def test_zen_population_never_exceeds_n_and_drops_the_earliest_lowest():
    N = 12
    e = res_engine("zen", 800, 5, population=N)
    checked = 0
    while True:
        before, dups = list(e.population), e.counters()["duplicates"]
        cands = e.ask(1)
        if not cands:
            break
        (cid, arch, parent, _), = cands
        assert (parent == -1) == (len(before) <= 10)  # warm-up: the initial structure mutated once
        if parent != -1:
            assert parent in before
        e.tell([cid], [[float(arch.params(10) % 97)]])  # coarse scores: plenty of ties
        after = list(e.population)
        assert len(after) <= N
        if e.counters()["duplicates"] == dups and len(before) == N:
            union = before + [cid]
            low = min(e.scores(i)[0] for i in union)
            first_low = next(p for p, i in enumerate(union) if e.scores(i)[0] == low)
            assert after == union[:first_low] + union[first_low + 1:]
            checked += 1
    assert checked > 100


# ---- AZ-NAS: a Python reference with a brute-force re-rank every step -------------------------------
def test_az_matches_brute_force_rerank_loop():
    T, k, seed = 400, 16, 9
    e = res_engine("az", T, seed, top_k=k, scores=("params", "flops"))
    e.run_native(T)
    space, budget = _core.res_space(), _core.Budget(**RES_BUDGET)
    rng, init = _core.Rng(seed), _core.CoreArch(space.initial)
    hist, vals, seen, t = [], [], set(), 0
    while t < T:
        r = rho(t, T)
        if len(hist) <= 10:
            child = _core.mutate(init, space, rng, r)
        else:
            top, _, _ = brute_top(list(range(len(hist))), vals, k)
            parent = hist[top[rng.below(len(top))]]
            child = _core.mutate(_core.mutate(parent, space, rng, r), space, rng, r)
        if not _core.within_budget(child, budget):
            continue  # rejections do not count
        t += 1
        s = str(child)
        if s in seen:
            continue
        seen.add(s)
        hist.append(child)
        vals.append([child.params(10), child.flops(32, 10)])
    assert [e.structure(i) for i in range(len(e))] == [str(a) for a in hist]
    top, best, _ = brute_top(list(range(len(hist))), vals, k)
    assert sorted(e.parents_pool()) == top and e.best() == best
    c = e.counters()
    assert c["iteration"] == T and c["proposals"] == T + c["rejected"]


# ---- failures ------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["zen", "az", "random"])
def test_failed_candidates_are_recorded_and_never_parents_nor_best(strategy):
    e = res_engine(strategy, 500, 2, population=16, top_k=8)
    failed = set()
    while True:
        cands = e.ask(4)
        if not cands:
            break
        ids, rows, errs = [], [], []
        for cid, arch, parent, _ in cands:
            assert parent not in failed
            ids.append(cid)
            p = arch.params(10)
            if p % 3 == 0:  # a scorer error
                rows.append([0.0]); errs.append("RuntimeError: out of memory"); failed.add(cid)
            elif p % 3 == 1 and p % 2 == 0:  # NaN is a failure too
                rows.append([math.nan]); errs.append(""); failed.add(cid)
            else:
                rows.append([float(p)]); errs.append("")
        e.tell(ids, rows, errs)
        assert not failed & set(e.parents_pool())
    assert e.finished and failed
    for i in failed:
        assert e.status(i) == "failed"
        assert e.error(i) in ("RuntimeError: out of memory", "score 'params' is NaN")
    assert e.counters()["failed"] == len(failed)
    best = e.best()
    assert best not in failed
    ok = [i for i in range(len(e)) if e.status(i) == "ok"]
    assert e.scores(best)[0] == max(e.scores(i)[0] for i in ok)
    with pytest.raises(ValueError, match="not pending"):
        e.tell([best], [[1.0]])


# ---- budgets -------------------------------------------------------------------------------------
def tiny_space():
    # Widths never change (factor 1) and depth stays in 1..3: every block the search can make is
    # enumerable, so a hand-made latency table covers the space.
    return _core.SearchSpace({
        "name": "tiny", "block_types": ["SuperResK3K3", "SuperResK5K5", "SuperResK1K3K1"],
        "width_factors": [1.0], "depth_delta": 1, "max_sub_layers": 3, "fixed_blocks": [0, -1],
        "initial": "SuperConvK3BNRELU(3,16,1,1)SuperResK3K3(16,32,2,16,1)SuperResK3K3(32,64,2,32,1)"
                   "SuperResK3K3(64,64,1,32,1)SuperConvK1BNRELU(64,128,1,1)",
        "resolution": 32, "num_classes": 10})


def block_ms(name, sub_layers, position):
    k = int(re.search(r"K(\d)", name.replace("K1K", "K")).group(1))
    return round(0.05 * k * sub_layers + 0.01 * position, 6)


def tiny_table():
    t = _core.LatencyTable()
    init = _core.CoreArch(tiny_space().initial)
    res = 32
    for pos, b in enumerate(init.blocks):
        for name in ([b.type] if not b.is_residual else ["SuperResK3K3", "SuperResK5K5", "SuperResK1K3K1"]):
            for d in ([b.sub_layers] if not b.is_residual else [1, 2, 3]):
                params = [b.in_channels, b.out_channels, b.stride] + ([b.bottleneck] if b.is_residual else []) + [d]
                t.set(f"{name}({','.join(map(str, params))})", res, 8, "fp16", "t4", block_ms(name, d, pos))
        res = (res - 1) // b.stride + 1
    return t


def test_budgets_hold_for_every_candidate_with_lut_latency():
    from zsnas.nn.arch_net import build_model

    table = tiny_table()
    budget = _core.Budget(max_params=260_000, max_flops=12_000_000, max_layers=6, resolution=32, num_classes=10)
    budget.max_latency_ms = 1.2
    for strategy in ("zen", "az", "random"):
        e = _core.Engine(tiny_space(), budget, strategy=strategy, iterations=300, seed=1, population=16, top_k=8,
                         scores=["params", "latency"], latency_table=table, latency_batch=8,
                         latency_precision="fp16", latency_device="t4")
        e.run_native(300)
        assert len(e) > 5
        for i in range(len(e)):
            r = e.record(i)
            s = r["structure"]
            layers = sum(int(x) for x in re.findall(r",(\d+)\)", s))  # the last parameter of each block
            # latency: the sum of the hand-made entries, recomputed here from the string
            blocks = re.findall(r"(Super\w+?)\(([\d,]+)\)", s)
            lat = sum(block_ms(n, int(p.split(",")[-1]), pos) for pos, (n, p) in enumerate(blocks))
            assert r["latency_ms"] == pytest.approx(lat, abs=1e-9)
            assert r["scores"][1] == pytest.approx(-lat, abs=1e-9)
            assert layers == r["layers"] <= 6
            assert r["params"] <= 260_000 and r["flops"] <= 12_000_000 and lat <= 1.2 + 1e-12
        c = e.counters()
        assert c["rejected_latency"] + c["rejected_params"] + c["rejected_flops"] + c["rejected_layers"] > 0
    # params are exactly the torch model's (independent count) for a sample
    for i in range(0, len(e), max(1, len(e) // 5)):
        m = build_model(e.structure(i), num_classes=10)
        assert sum(p.numel() for p in m.parameters()) == e.record(i)["params"]


def test_latency_table_json_round_trip_and_missing_entry_error(tmp_path):
    t = tiny_table()
    p = tmp_path / "lut.json"
    t.meta = {"device_name": "NVIDIA T4", "note": 'quotes " and \\ survive'}
    t.save(str(p))
    u = _core.LatencyTable.load(str(p))
    assert len(u) == len(t) and u.entries() == t.entries() and u.meta == t.meta
    assert u.fingerprint == t.fingerprint
    a = _core.CoreArch(tiny_space().initial)
    expected = sum(block_ms(b.type, b.sub_layers, i) for i, b in enumerate(a.blocks))
    assert u.query(a, 32, 8, "fp16", "t4") == pytest.approx(expected)
    with pytest.raises(_core.LatencyTableError, match=r"no entry for block SuperConvK3BNRELU\(3,16,1,1\) \(block 0.*"
                                                      r"resolution 32, batch 1, precision fp32, device cpu"):
        u.query(a, 32)
    bigger = _core.CoreArch(tiny_space().initial.replace("SuperResK3K3(64,64,1,32,1)", "SuperResK7K7(64,64,1,32,1)"))
    with pytest.raises(ValueError, match=r"SuperResK7K7\(64,64,1,32,1\)@8/b8/fp16/t4"):
        u.query(bigger, 32, 8, "fp16", "t4")
    assert u.missing(bigger, 32, 8, "fp16", "t4") == [("SuperResK7K7(64,64,1,32,1)", 8)]
    for bad, msg in [('{"format": "x", "version": 1, "entries": []}', "format"),
                     ('{"format": "zsnas-latency-table", "version": 1, "entries": [{"block": "Nope(1)"}]}', "Nope"),
                     ('{"format": "zsnas-latency-table", "version": 1, "entries": [', "line 1"),
                     ('{"format": "zsnas-latency-table", "version": 1, "entries": [{"block": "SuperConvK1BNRELU(3,8,1,1)", '
                      '"resolution": 8, "batch": 1, "precision": "fp32", "device": "cpu", "ms": -1}]}', "ms=-1")]:
        with pytest.raises(_core.LatencyTableError, match=msg):
            _core.LatencyTable.from_json(bad)


def test_engine_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown strategy 'evo'"):
        res_engine("evo")
    with pytest.raises(ValueError, match="latency table"):
        res_engine(scores=("latency",))
    impossible = _core.Engine(_core.res_space(), _core.Budget(max_params=1000, resolution=32, num_classes=10),
                              strategy="az", iterations=10, max_rejections=200)
    with pytest.raises(_core.BudgetError, match="200 consecutive candidates .* params 200"):
        impossible.ask(1)


# ---- determinism and checkpoints -----------------------------------------------------------------
def test_same_seed_same_run_and_duplicates_not_rescored():
    a = res_engine("az", 1500, 4, top_k=32)
    asked = []
    while True:
        cands = a.ask(8)
        if not cands:
            break
        asked += [str(x[1]) for x in cands]
        a.tell([x[0] for x in cands], [[float(x[1].params(10))] for x in cands])
    assert len(asked) == len(set(asked)) == len(a)  # no structure is handed out twice
    assert a.counters()["duplicates"] > 0
    runs = [res_engine(s, 1500, seed, population=32, top_k=32) for s in ("zen", "az") for seed in (4, 4, 5)]
    for r in runs:
        r.run_native(1500)
    rows = [r.csv_rows_range(0, len(r)) for r in runs]
    assert rows[0] == rows[1] != rows[2] and rows[3] == rows[4] != rows[5]


@pytest.mark.parametrize("strategy", ["zen", "az", "random"])
def test_checkpoint_restores_bit_for_bit(tmp_path, strategy):
    kw = dict(population=32, top_k=16, scores=("params", "flops"))
    straight = res_engine(strategy, 1200, 8, **kw)
    straight.run_native(1200)
    e = res_engine(strategy, 1200, 8, **kw)
    e.run_native(500)
    pending = e.ask(3)  # a checkpoint may hold asked-but-untold candidates
    p = str(tmp_path / "ck.bin")
    e.meta = b'{"x": 1}'
    e.save(p)
    r = _core.Engine.load(p, _core.res_space(), _core.Budget(**RES_BUDGET), strategy=strategy, iterations=1200,
                          seed=8, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()})
    assert r.meta == b'{"x": 1}'
    again = r.ask(3)
    assert [x[0] for x in again] == [x[0] for x in pending]  # re-issued first
    r.tell([x[0] for x in again], [[float(x[1].params(10)), float(x[1].flops(32, 10))] for x in again])
    r.run_native(1200)
    assert r.finished
    assert r.csv_rows_range(0, len(r)) == straight.csv_rows_range(0, len(straight))
    assert r.best() == straight.best() and r.population == straight.population
    # Damaged or foreign checkpoints fail loudly.
    raw = open(p, "rb").read()
    open(p, "wb").write(raw[:-100])
    with pytest.raises(_core.CheckpointError, match="corrupted or truncated"):
        _core.Engine.load(p, _core.res_space(), _core.Budget(**RES_BUDGET), strategy=strategy, iterations=1200,
                          seed=8, population=32, top_k=16, scores=["params", "flops"])
    open(p, "wb").write(raw)
    with pytest.raises(_core.CheckpointError, match="seed: checkpoint 8, now 9"):
        _core.Engine.load(p, _core.res_space(), _core.Budget(**RES_BUDGET), strategy=strategy, iterations=1200,
                          seed=9, population=32, top_k=16, scores=["params", "flops"])


def test_a_checkpoint_loads_under_a_longer_or_shorter_T_but_not_below_what_is_done(tmp_path):
    e = res_engine("az", 600, 3, top_k=16)
    e.run_native(600)
    assert e.finished
    p = str(tmp_path / "ck.bin")
    e.save(p)
    longer = _core.Engine.load(p, _core.res_space(), _core.Budget(**RES_BUDGET), strategy="az", iterations=900,
                               seed=3, top_k=16, scores=["params"])
    assert not longer.finished and longer.iterations == 900
    longer.run_native(10_000)
    assert longer.iteration == 900 and longer.csv_rows_range(0, len(e)) == e.csv_rows_range(0, len(e))
    assert "iterations=900" in longer.fingerprint  # its next checkpoint records the T it ran under
    with pytest.raises(_core.CheckpointError, match="has done 600 iterations; a run cannot be shortened to 599"):
        _core.Engine.load(p, _core.res_space(), _core.Budget(**RES_BUDGET), strategy="az", iterations=599,
                          seed=3, top_k=16, scores=["params"])
    with pytest.raises(_core.CheckpointError, match="seed: checkpoint 3, now 4"):  # other settings still guarded
        _core.Engine.load(p, _core.res_space(), _core.Budget(**RES_BUDGET), strategy="az", iterations=900,
                          seed=4, top_k=16, scores=["params"])
