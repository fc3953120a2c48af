"""`zsnas pareto RUN [--objectives zen,-flops]`: the non-dominated set of a bench run's scores, or
of a Pareto search's (`zsnas search --objectives`) history, written again with its plot."""
from __future__ import annotations

import csv
import json
import os

import click
import numpy as np


@click.command("pareto")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--objectives", "-O", default=None, metavar="A,-B",
              help="Columns of the run (proxies, params, flops, accuracy); a leading '-' minimises, 'log:' takes "
                   "log10. Needed for a bench run; a Pareto search defaults to its own.")
@click.option("--no-plot", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def pareto(run, objectives, no_plot, as_json):
    """Write RUN/pareto.csv (the non-dominated architectures) and RUN/pareto.png, and print the
    front. RUN is a `zsnas bench` run directory (its table.csv) or a Pareto search's."""
    from . import pareto as P
    from .analyses import read_run_table
    from .rundir import write_atomic

    if not os.path.exists(os.path.join(run, "table.csv")) and os.path.exists(os.path.join(run, "history.csv")):
        _search_front(run, objectives, no_plot, as_json)
        return
    if objectives is None:
        raise click.UsageError("a bench run needs --objectives (e.g. synflow,-flops)")
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


def _search_front(run_dir, objectives, no_plot, as_json):
    from .space_search import load_space_run, write_front

    run = load_space_run(run_dir, objectives)
    write_front(run.out, run, plot=not no_plot)
    if as_json:
        click.echo(json.dumps(run.front, indent=1))
        return
    click.echo(f"{run.summary()}; {run_dir}/pareto.csv")
    names = list(dict.fromkeys(n.split(":", 1)[-1] for n, _ in run.objectives))
    for r in run.front:
        click.echo("  " + "  ".join(f"{n}={r[n]:.6g}" for n in names) + f"  {r['arch']}")


__all__ = ["pareto"]
