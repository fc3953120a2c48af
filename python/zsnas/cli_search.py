"""`zsnas search`: evolution search with a progress bar, a run directory and --resume.

Defaults are a short CPU search in the paper's CIFAR setting (REFERENCE §2): space res,
params <= 1 M, <= 18 layers, Zen-score at 32x32 with batch 64 and one repeat (the search setting
of REFERENCE §3), strategy zen.
"""
from __future__ import annotations

import json
import sys
import time

import click

# The paper settings per built-in space, used when no limit is given (REFERENCE §2).
_DEFAULT_BUDGETS = {"res": {"params": 1_000_000, "layers": 18}, "mbv2": {"flops": 400_000_000, "layers": 14}}


def _number(text):
    if text is None:
        return None
    v = float(text)
    return int(v) if v == int(v) else v


@click.command("search")
@click.option("--space", "-s", default=None, help="Search space: res (default), mbv2, or a space JSON file.")
@click.option("--proxy", "-p", default=None, help="Proxy or comma-separated proxies (default zen); several are rank-aggregated.")
@click.option("--strategy", type=click.Choice(["zen", "az", "random"]), default=None, help="Default zen.")
@click.option("--iterations", "-n", type=int, default=None, help="Iterations T (default 300).")
@click.option("--population", type=int, default=None, help="zen: population N (default 512).")
@click.option("--top-k", type=int, default=None, help="az: parents from the top k (default 1024).")
@click.option("--max-params", default=None, help="Parameter limit, e.g. 1e6 (res default 1e6).")
@click.option("--max-flops", default=None, help="FLOPs (MACs) limit at the search resolution, e.g. 400e6 (mbv2 default).")
@click.option("--max-layers", type=int, default=None, help="Σ sub_layers limit (res default 18, mbv2 14).")
@click.option("--max-latency-ms", type=float, default=None, help="Latency limit; needs --latency-table.")
@click.option("--no-default-budget", is_flag=True, help="Do not apply the space's paper budget.")
@click.option("--latency-table", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--latency-batch", type=int, default=None)
@click.option("--latency-precision", default=None)
@click.option("--latency-device", default=None)
@click.option("--resolution", "-r", type=int, default=None, help="Input resolution (default: the space's).")
@click.option("--num-classes", "-c", type=int, default=None)
@click.option("--batch-size", "-b", type=int, default=None, help="Proxy batch size (default 64).")
@click.option("--repeats", type=int, default=None, help="Proxy repeats (default 1).")
@click.option("--seed", type=int, default=None, help="Default 0.")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/search-<time>); --resume continues it.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--checkpoint-every", type=int, default=None, help="Checkpoint every N iterations (default 1000).")
@click.option("--top", "show_top", type=int, default=5, show_default=True, help="How many best architectures to print.")
@click.option("--no-progress", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def search_cmd(space, proxy, strategy, iterations, population, top_k, max_params, max_flops, max_layers,
               max_latency_ms, no_default_budget, latency_table, latency_batch, latency_precision, latency_device,
               resolution, num_classes, batch_size, repeats, seed, device, out, resume, checkpoint_every, show_top,
               no_progress, as_json):
    """Search a space for the best architecture by zero-cost proxies under a budget.

    Writes a run directory (config, log, checkpoint, history.csv, best.json, best_score.png);
    Ctrl-C checkpoints and stops; `zsnas search --out DIR --resume` continues bit-for-bit.
    """
    import torch

    from .search import search

    torch.set_num_threads(max(1, torch.get_num_threads()))
    if resume and out is None:
        raise click.UsageError("--resume needs --out DIR (the run directory to continue)")
    if out is None:
        out = time.strftime("runs/search-%Y%m%d-%H%M%S")
    space_arg = space
    if space is not None and space.endswith(".json"):
        from .spaces import SearchSpace

        space_arg = SearchSpace.from_json(space)
    budget = None
    limits = {"params": _number(max_params), "flops": _number(max_flops), "layers": max_layers,
              "latency_ms": max_latency_ms}
    if any(v is not None for v in limits.values()):
        budget = {k: v for k, v in limits.items() if v is not None}
    if not resume:
        name = space if isinstance(space_arg, str) or space_arg is None else space_arg.name
        if not no_default_budget:
            # The space's paper limits fill in whatever was not given.
            budget = {**_DEFAULT_BUDGETS.get(name or "res", {}), **(budget or {})}
        if iterations is None:
            iterations = 300
    try:
        run = search(space=space_arg, budget=budget, proxy=proxy, iterations=iterations, strategy=strategy,
                     population=population, seed=seed, device=device, out=out, resume=resume, top_k=top_k,
                     resolution=resolution, num_classes=num_classes, batch_size=batch_size, repeats=repeats,
                     latency_table=latency_table, latency_batch=latency_batch, latency_precision=latency_precision,
                     latency_device=latency_device, checkpoint_every=checkpoint_every, progress=not no_progress)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: checkpoint written; continue with: zsnas search --out {out} --resume", err=True)
        sys.exit(130)
    except ValueError as e:
        raise click.ClickException(str(e))
    if as_json:
        click.echo(json.dumps({"out": str(run.out), "elapsed_s": run.elapsed, "counters": run.counters,
                               "best": run.top(show_top)}, indent=2))
        return
    c = run.counters
    click.echo(f"{run.config.strategy} search of {run.config.space['name']}: {c['iteration']} iterations, "
               f"{c['candidates']} candidates ({c['failed']} failed, {c['rejected']} over budget, "
               f"{c['duplicates']} duplicates) in {run.elapsed:.1f} s")
    click.echo(run.summary())
    top = run.top(show_top)
    if len(top) > 1:
        click.echo(f"top {len(top)}:")
        for r in top:
            click.echo(f"  {r['rank'] + 1:>2}. {r['value']:.6g}  params {r['params'] / 1e6:.3f} M  "
                       f"FLOPs {r['flops'] / 1e6:.1f} M  {r['structure']}")
    click.echo(f"run directory: {run.out}")


search = search_cmd  # the lead attaches `search` to the zsnas group

__all__ = ["search_cmd", "search"]
