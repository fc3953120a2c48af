"""The analyses of zsnas.analyses and `zsnas bench --report` (issue 12, item 3), against scipy and
a 6-architecture example worked by hand."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from zsnas import analyses as A
from zsnas.cli import main

# six architectures: accuracy, two proxies, a cost
ACC = [90.0, 85.0, 80.0, 75.0, 70.0, 65.0]  # true ranks 0..5
P1 = [3.0, 6.0, 5.0, 1.0, 2.0, 4.0]  # its top 1: arch 1 (rank 1); top 2: {1, 2}; top 3: {1, 2, 5}
P2 = [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # perfect
COST = [10.0, 3.0, 2.0, 1.0, 5.0, 4.0]


def test_pearson_and_the_sweep_agree_with_scipy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(200)
    s = a + rng.standard_normal(200)
    assert A.pearson(s, a) == pytest.approx(stats.pearsonr(s, a).statistic)
    sweep = {p["fraction"]: p for p in A.top_sweep(s, a)}
    top = np.argsort(-a)[:20]  # the top 10 % of 200
    assert sweep[0.10]["n"] == 20
    assert sweep[0.10]["kendall"] == pytest.approx(stats.kendalltau(s[top], a[top]).statistic)
    assert sweep[0.10]["spearman"] == pytest.approx(stats.spearmanr(s[top], a[top]).statistic)
    assert sweep[0.01]["n"] == 2 and sweep[0.01]["kendall"] is None  # fewer than 10 networks: not reported
    assert sweep[1.0]["kendall"] == pytest.approx(stats.kendalltau(s, a).statistic)


def test_undefined_correlations_are_none_without_a_warning(recwarn):
    a = np.arange(40.0)
    s = np.where(a >= 20, 1.0, a)  # the 20 most accurate share one score
    sweep = {p["fraction"]: p for p in A.top_sweep(s, a)}
    assert sweep[0.5]["kendall"] is None and sweep[0.5]["spearman"] is None
    assert sweep[1.0]["kendall"] == pytest.approx(stats.kendalltau(s, a).statistic)
    assert A.pearson(np.append(s[:-1], -np.inf), a) is None  # an infinite score: no Pearson r
    assert not [w for w in recwarn if issubclass(w.category, stats.ConstantInputWarning)]


def test_br_and_p_at_k_by_hand():
    assert A.br_at_k(P1, ACC, 1) == pytest.approx(1 / 6)  # its pick is the second best
    assert A.br_at_k(P1, ACC, 3) == pytest.approx(1 / 6)  # {1, 2, 5}: best rank 1
    assert A.p_at_k(P1, ACC, 2) == pytest.approx(1 / 2)  # {1, 2} vs true {0, 1}
    assert A.p_at_k(P1, ACC, 3) == pytest.approx(2 / 3)  # {1, 2, 5} vs {0, 1, 2}
    assert A.br_at_k(P2, ACC, 1) == 0.0 and A.p_at_k(P2, ACC, 3) == 1.0
    assert A.br_at_k(P1, ACC, 7) is None


def test_mbr_at_cost_budgets_by_hand():
    # budgets 3 and 10: under 3 the feasible are {1, 2, 3}; P1 picks 1 (rank 0 among them)
    # under 10 all; P1 picks 1 (rank 1): mBR = (0 + 1) / (2 · 6)
    assert A.mbr_at_budgets(P1, ACC, COST, [3.0, 10.0]) == pytest.approx(1 / 12)
    assert A.mbr_at_budgets(P2, ACC, COST, [3.0, 10.0]) == 0.0


def test_kendall_matrix():
    m = A.kendall_matrix({"p1": P1, "p2": P2, "acc": ACC})
    assert m["p2"]["acc"] == pytest.approx(1.0) and m["p1"]["p1"] == pytest.approx(1.0)
    assert m["p1"]["p2"] == m["p2"]["p1"] == pytest.approx(stats.kendalltau(P1, P2).statistic)


def test_sample_and_pick_by_hand():
    # all six (one draw): P1 picks arch 1 (85), P2 arch 0 (90), the oracle 90
    r = A.sample_and_pick({"p1": P1, "p2": P2}, ACC, None)
    assert (r["p1"]["mean"], r["p2"]["mean"], r["oracle"]["mean"]) == (85.0, 90.0, 90.0)
    assert r["p1"]["std"] == 0.0 and r["p1"]["repeats"] == 1
    # draws of 2: the same draws for every proxy; the oracle is never below a pick
    r = A.sample_and_pick({"p1": P1, "p2": P2}, ACC, 2, repeats=50, seed=1)
    assert r["p2"]["mean"] == pytest.approx(r["oracle"]["mean"])  # a perfect proxy is the oracle
    assert r["p1"]["mean"] <= r["oracle"]["mean"] and r["p1"]["n"] == 2
    # a tie at the top: the mean accuracy of the tied
    assert A.sample_and_pick({"t": [1, 1, 0, 0, 0, 0]}, ACC, None)["t"]["mean"] == pytest.approx(87.5)


def test_hybrid_search_ranks_every_subset():
    rows = A.hybrid_search({"p1": P1, "p2": P2}, ACC, cost=COST)
    assert [r["proxies"] for r in rows][0] == ["p2"]  # the perfect proxy alone is best by τ
    assert sorted(map(tuple, (r["proxies"] for r in rows))) == [("p1",), ("p1", "p2"), ("p2",)]
    single = next(r for r in rows if r["proxies"] == ["p1"])
    assert single["kendall"] == pytest.approx(stats.kendalltau(P1, ACC).statistic)
    by_mbr = A.hybrid_search({"p1": P1, "p2": P2}, ACC, cost=COST, by="mbr")
    assert by_mbr[0]["mbr"] == 0.0
    with pytest.raises(ValueError, match="needs a cost"):
        A.hybrid_search({"p1": P1}, ACC, by="mbr")


def test_bench_report_on_a_run_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lines = ["key,arch,accuracy,p1,p2,flops"] + [f"{i},a{i},{a},{p},{q},{c}" for i, (a, p, q, c) in
                                                 enumerate(zip(ACC, P1, P2, COST))]
    (run / "table.csv").write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(main, ["bench", "--report", str(run), "--sample", "3", "--repeats", "10",
                                  "--hybrid", "p1,p2", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["proxies"]["p1"]["br@1"] == pytest.approx(1 / 6)
    assert "mbr_flops" in d["proxies"]["p1"] and d["best_by_proxy"]["p1"]["mean"] == 85.0
    assert (run / "analyses.json").exists() and (run / "kendall_matrix.png").exists()
    text = CliRunner().invoke(main, ["bench", "--report", str(run)]).output
    assert "sample and pick" in text and "inter-proxy" in text
    r = CliRunner().invoke(main, ["bench", "--report", str(tmp_path)])
    assert r.exit_code != 0 and "holds no bench run" in r.output


def test_bench_report_writes_to_an_explicit_out(tmp_path):
    run, dest = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    lines = ["key,arch,accuracy,p1,flops"] + [f"{i},a{i},{a},{p},{c}" for i, (a, p, c) in enumerate(zip(ACC, P1, COST))]
    (run / "table.csv").write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(main, ["bench", "--report", str(run), "--out", str(dest), "--sample", "3", "--repeats", "4"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in dest.iterdir()) == ["analyses.json", "kendall_matrix.png", "sweep_kendall.png"]
    assert sorted(p.name for p in run.iterdir()) == ["table.csv"]  # the run itself is only read
    assert f"analyses: {dest / 'analyses.json'}" in r.output
    d = json.loads((dest / "analyses.json").read_text())
    assert d["proxies"]["p1"]["br@1"] == pytest.approx(A.br_at_k(P1, ACC, 1))


def test_te_nas_rank_sum_aggregation():
    from zsnas.evaluate import _parse_aggregates, rank_aggregate_columns

    assert rank_aggregate_columns([[1, 2, 3], [3, 1, 2]], "sum").tolist() == [4.0, 3.0, 5.0]
    assert rank_aggregate_columns([[1, 1, 3], [3, 1, 2]], "sum").tolist() == [4.5, 2.5, 5.0]  # ties averaged
    assert _parse_aggregates(["sum:linear_regions+ntk_cond", "a+b"]) == [
        ("sum:linear_regions+ntk_cond", ("linear_regions", "ntk_cond"), "sum"), ("a+b", ("a", "b"), "log")]
    with pytest.raises(ValueError, match="must be one of log, sum"):
        _parse_aggregates("max:a+b")


@pytest.mark.parametrize("args, says", [
    (["--report", "RUN", "--proxies", "synflow"], "--proxies only applies with DATA.csv, not with --report"),
    (["DATA", "--report", "RUN"], "DATA.csv and --report are different jobs"),
    (["DATA", "--hybrid", "p1", "--repeats", "3"], "--repeats, --hybrid only apply with --report, not with DATA.csv"),
    (["--pareto", "params,-flops", "--sample", "4"], "--sample only applies with --report, not with --pareto"),
    (["--report", "RUN", "--against", "RUN"], "--against only applies with --pareto, not with --report"),
])
def test_bench_refuses_options_of_another_mode(tmp_path, args, says):
    # each would otherwise be ignored without a word
    data = tmp_path / "t.csv"
    data.write_text("arch,accuracy\na0,1.0\n")
    args = [str(data) if a == "DATA" else str(tmp_path) if a == "RUN" else a for a in args]
    r = CliRunner().invoke(main, ["bench"] + args)
    assert r.exit_code == 2 and says in r.output, r.output
