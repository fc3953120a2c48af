"""The README's every-proxy table from one `zsnas bench` run directory, beside the published τ.

    python bench/bench_proxy_table.py RUN

Reads RUN/results.json (a stopped run is summarised first over the architectures it finished)
and prints one markdown row per proxy and aggregate: Kendall τ, Spearman ρ, τ over the top 20 %
by accuracy, mBR, seconds per architecture, and AZ-NAS Table 1's τ on all 15,625 NB201 cells
(CIFAR-10 test accuracy, real images) where it gives one.
"""
from __future__ import annotations

import argparse
import json
import os

# AZ-NAS (Lee & Ham, CVPR 2024) Table 1, NAS-Bench-201 CIFAR-10, Kendall τ; its GradSign 0.618 is the
# authors' summed score (gradsign_sum, README)
PUBLISHED_TAU = {"gradsign_sum": 0.618, "te_nas": 0.536, "sum:linear_regions_tenas+ntk_cond_tenas": 0.536, "naswot": 0.557,
                 "zico": 0.589, "grad_norm": 0.357, "grasp": 0.318, "snip": 0.454, "params": 0.578,
                 "az_expressivity+az_progressivity+az_trainability+flops": 0.741}
# the README's names for the aggregates that `zsnas bench` names by their spec
LABELS = {"az_expressivity+az_progressivity+az_trainability+flops": "AZ-NAS (E+P+T+FLOPs, log-rank)",
          "sum:linear_regions+ntk_cond": "rank sum of linear_regions and ntk_cond",
          "sum:linear_regions_tenas+ntk_cond": "rank sum of linear_regions_tenas and ntk_cond",
          "sum:linear_regions_tenas+ntk_cond_tenas":
              "TE-NAS (rank sum of linear_regions_tenas and ntk_cond_tenas, its own protocols)"}


def main() -> None:
    from zsnas.evaluate import summarise_if_stale
    from zsnas.rundir import RunDirError

    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    a = ap.parse_args()
    try:
        summarise_if_stale(a.run)
    except RunDirError as e:  # e.g. the run is still going and holds its directory
        raise SystemExit(f"bench_proxy_table: {e}") from None
    with open(os.path.join(a.run, "results.json")) as fh:
        res = json.load(fh)
    print(f"# {res['n_rows']} architectures")
    print("| proxy | Kendall τ | Spearman ρ | τ top 20 % | mBR | s / arch | published τ (all cells) |")
    print("|---|---|---|---|---|---|---|")

    def f(v, p=3):
        return "—" if v is None else f"{v:.{p}f}"

    for name, e in res["proxies"].items():
        pub = PUBLISHED_TAU.get(name)
        print(f"| {LABELS.get(name, name)} | {f(e.get('kendall'))} | {f(e.get('spearman'))} | {f(e.get('kendall_top20'))} | "
              f"{f(e.get('mbr'))} | {f(e.get('seconds_per_arch'), 2)} | {'' if pub is None else pub} |")


if __name__ == "__main__":
    main()
