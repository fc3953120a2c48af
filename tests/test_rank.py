"""Non-linear rank aggregation (REFERENCE.md §5) against hand-computed values and scipy."""
import math

import numpy as np
import pytest
from scipy.stats import rankdata

from zsnas.proxies.rank import AZ_NAS_PROXIES, az_nas_scores, rank_aggregate
from zsnas.proxies.registry import ProxyResult


def reference(cols, flags):
    """sum_M ln(rank/m) with scipy average ranks, written independently of the module."""
    m = len(cols[0])
    out = np.zeros(m)
    for v, up in zip(cols, flags):
        v = np.asarray(v, dtype=float)
        out += np.log(rankdata(v if up else -v, method="average") / m)
    return out


def test_hand_computed_with_ties_and_neg_inf():
    a = [1.0, 2.0, 2.0, 5.0]        # ranks 1, 2.5, 2.5, 4
    b = [3.0, 1.0, 4.0, -math.inf]  # -inf ranks lowest: 3, 2, 4, 1
    got = rank_aggregate({"a": a, "b": b})
    want = [
        math.log(1 / 4) + math.log(3 / 4),
        math.log(2.5 / 4) + math.log(2 / 4),
        math.log(2.5 / 4) + math.log(4 / 4),
        math.log(4 / 4) + math.log(1 / 4),
    ]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_several_neg_inf_tie_at_the_bottom():
    got = rank_aggregate({"t": [-math.inf, 0.5, -math.inf]})
    np.testing.assert_allclose(got, np.log(np.array([1.5, 3.0, 1.5]) / 3), atol=1e-12)


def test_best_candidate_scores_zero_and_single_candidate():
    got = rank_aggregate({"x": [0.1, 0.9, 0.5], "y": [1.0, 7.0, 3.0]})
    assert got[1] == 0.0 and np.all(got[[0, 2]] < 0)
    assert rank_aggregate({"x": [3.0]}).tolist() == [0.0]


@pytest.mark.parametrize("m,k,seed", [(7, 2, 0), (50, 4, 1), (200, 3, 2)])
def test_matches_scipy_reference_with_ties(m, k, seed):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 5, size=(m, k)).astype(float)  # few distinct values: many ties
    table[rng.integers(0, m), 0] = -np.inf
    flags = [bool(f) for f in rng.integers(0, 2, size=k)]
    want = reference([table[:, j] for j in range(k)], flags)
    np.testing.assert_allclose(rank_aggregate(table, higher_is_better=flags), want, atol=1e-12)
    as_dict = {f"p{j}": table[:, j] for j in range(k)}
    np.testing.assert_allclose(
        rank_aggregate(as_dict, higher_is_better={f"p{j}": flags[j] for j in range(k)}), want, atol=1e-12)


def test_permuting_candidates_permutes_scores():
    rng = np.random.default_rng(3)
    table = rng.normal(size=(30, 3))
    perm = rng.permutation(30)
    np.testing.assert_allclose(rank_aggregate(table)[perm], rank_aggregate(table[perm]), atol=1e-12)


def test_nan_raises_naming_proxy_and_index():
    with pytest.raises(ValueError, match=r"'trainability'.*index 2"):
        rank_aggregate({"expressivity": [1, 2, 3], "trainability": [0.1, 0.2, float("nan")]})


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="different numbers of candidates"):
        rank_aggregate({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(ValueError, match="2-D"):
        rank_aggregate(np.zeros(3))
    with pytest.raises(ValueError, match="unknown proxies"):
        rank_aggregate({"a": [1, 2]}, higher_is_better={"b": False})


def test_az_nas_scores_from_results_and_dict():
    rng = np.random.default_rng(4)
    vals = {k: rng.normal(size=12) for k in AZ_NAS_PROXIES}
    vals["trainability"][5] = -np.inf
    results = [ProxyResult("az", float(vals["expressivity"][i]),
                           sub_scores={k: float(vals[k][i]) for k in AZ_NAS_PROXIES}) for i in range(12)]
    want = reference([vals[k] for k in AZ_NAS_PROXIES], [True] * 4)
    np.testing.assert_allclose(az_nas_scores(results), want, atol=1e-12)
    np.testing.assert_allclose(az_nas_scores(vals), want, atol=1e-12)
    dicts = [{k: float(vals[k][i]) for k in AZ_NAS_PROXIES} for i in range(12)]
    np.testing.assert_allclose(az_nas_scores(dicts), want, atol=1e-12)
    with pytest.raises(ValueError, match="complexity"):
        az_nas_scores([{"expressivity": 1.0, "progressivity": 0.0, "trainability": 0.0}])
