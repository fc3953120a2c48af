"""`zsnas pareto RUN --objectives zen,-flops`: the non-dominated set of a bench run's scores."""
from __future__ import annotations

import csv
import json
import os

import click
import numpy as np


@click.command("pareto")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--objectives", "-O", required=True, metavar="A,-B",
              help="Columns of the run (proxies, params, flops, accuracy); a leading '-' minimises.")
@click.option("--no-plot", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def pareto(run, objectives, no_plot, as_json):
    """Write RUN/pareto.csv (the non-dominated architectures) and RUN/pareto.png, and print the
    front. RUN is a `zsnas bench` run directory (its table.csv)."""
    from . import pareto as P
    from .analyses import read_run_table
    from .rundir import write_atomic

    obj = P.parse_objectives(objectives)
    acc, cols = read_run_table(run)
    cols["accuracy"] = acc
    with open(os.path.join(run, "table.csv"), newline="") as fh:
        archs = [r["arch"] for r in csv.DictReader(fh)]
    pts = P.oriented(cols, obj)
    front = P.non_dominated(pts)
    rows = [{"arch": archs[i], **{n: cols[n][i] for n, _ in obj}} for i in front]
    lines = [",".join(["arch"] + [n for n, _ in obj])]
    lines += [",".join([f'"{r["arch"]}"'] + [str(r[n]) for n, _ in obj]) for r in rows]
    write_atomic(os.path.join(run, "pareto.csv"), "\n".join(lines) + "\n")
    if not no_plot:
        P.front_plot(os.path.join(run, "pareto.png"), pts, front, obj,
                     title=f"{len(front)} non-dominated of {int(np.isfinite(pts).all(1).sum())}")
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo(f"{len(front)} non-dominated architectures ({objectives}); {run}/pareto.csv")
    for r in rows:
        click.echo("  " + "  ".join(f"{n}={r[n]:.6g}" for n, _ in obj) + f"  {r['arch']}")


__all__ = ["pareto"]
