"""`zsnas search`: evolution search with a progress display, a run directory and --resume.

Every default is the API's (zsnas.defaults; README "Defaults"): space res with its paper budget
(params <= 1 M, <= 18 layers), Zen-score at the space's 32x32 with batch 64 and one repeat,
strategy zen, 1000 iterations, device auto.
"""
from __future__ import annotations

import json
import sys
import time

import click

from . import defaults
from .cli_common import LIMIT, backend_choice, backend_options, dataset_option, device_option, import_option, positive


@click.command("search")
@click.option("--space", "-s", default=None,
              help=f"Search space: res, mbv2, a space JSON file (the C++ engine), or one of nb201, nats-sss, ss-r1, "
                   f"ss-r2, ss-mb, autoformer-t/-s/-b (az or Pareto search) [default: {defaults.SEARCH_SPACE}].")
@click.option("--initial", default=None,
              help="Start from this network (a structure string or zoo name) instead of the space's initial one.")
@click.option("--proxy", "-p", default=None,
              help=f"Proxy or comma-separated proxies; several are rank-aggregated [default: {defaults.SEARCH_PROXY}].")
@click.option("--objectives", "-O", default=None, metavar="A,-B",
              help="Pareto-front search: keep the non-dominated set of these proxies / native counts (a leading '-' "
                   "minimises; e.g. zen,-flops, synflow,-params, zen,-latency_ms with --latency-table). Spaces: res, mbv2 (within their paper budget), nats-sss, "
                   "nb201, ss-r1, ss-r2, ss-mb. Writes pareto.csv and pareto.png.")
@click.option("--strategy", type=click.Choice(["zen", "az", "random"]), default=None,
              help=f"[default: {defaults.SEARCH_STRATEGY}]")
@click.option("--iterations", "-n", type=positive(0), default=None,
              help=f"Iterations T [default: {defaults.SEARCH_ITERATIONS}]; with --resume, a new T extends the run.")
@click.option("--population", type=positive(), default=None, help=f"zen: population N [default: {defaults.SEARCH_POPULATION}].")
@click.option("--top-k", type=positive(), default=None, help=f"az: parents from the top k [default: {defaults.SEARCH_TOP_K}].")
@click.option("--max-params", type=LIMIT, default=None, help="Parameter limit, e.g. 1e6 (res default 1e6).")
@click.option("--max-flops", type=LIMIT, default=None, help="FLOPs (MACs) limit at the search resolution, e.g. 400e6 (mbv2 default).")
@click.option("--max-layers", type=positive(), default=None, help="Σ sub_layers limit (res default 18, mbv2 14).")
@click.option("--max-latency-ms", type=click.FloatRange(min=0), default=None, help="Latency limit; needs --latency-table.")
@click.option("--no-default-budget", is_flag=True, help="Do not fill in the space's paper budget.")
@click.option("--latency-table", type=click.Path(exists=True), default=None,
              help="For --max-latency-ms and the native latency score: a JSON block table, or a TinyNAS-format "
                   "folder (`zsnas lut build`, `zsnas lut import-tinynas`).")
@click.option("--latency-batch", type=positive(), default=None, help="Batch the table is read at [default: 1].")
@click.option("--latency-precision", default=None, help="fp32 | fp16 | int8 (a folder's file) [default: fp32].")
@click.option("--latency-device", default=None, help="A JSON block table's device entries [default: cpu].")
@click.option("--resolution", "-r", type=positive(), default=None, help="Input resolution [default: the space's].")
@click.option("--num-classes", "-c", type=positive(), default=None, help="[default: the space's]")
@click.option("--batch-size", "-b", type=positive(), default=None, help=f"Proxy batch size [default: {defaults.SEARCH_BATCH_SIZE}].")
@click.option("--repeats", type=positive(), default=None, help=f"Proxy repeats [default: {defaults.SEARCH_REPEATS}].")
@click.option("--seed", type=positive(0), default=None, help=f"[default: {defaults.SEED}]")
@device_option
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/search-<time>); --resume continues it.")
@click.option("--resume", is_flag=True, help="Continue the run in --out (from its checkpoint, reusing every scored row).")
@click.option("--checkpoint-every", type=positive(), default=None,
              help=f"Checkpoint every N iterations [default: {defaults.SEARCH_CHECKPOINT_EVERY}].")
@click.option("--top", "show_top", type=positive(), default=5, show_default=True, help="How many best architectures to print.")
@click.option("--batch", type=positive(), default=None,
              help="Candidates asked per engine round trip and scored together [default: 1, Zen-NAS Algorithm 2]; "
                   "part of the run (same seed + batch = same history on any backend).")
@click.option("--prefilter", default=None, metavar="PROXY:FRACTION",
              help="Two-stage search: rank each batch by a cheap proxy (e.g. synflow:0.25, flops:0.5) and give only "
                   "the best fraction the expensive proxy; the rest are recorded as filtered. Needs --batch >= 2.")
@backend_options
@click.option("--cache", "cache", type=click.Path(dir_okay=False), default=None,
              help="Score cache file (SQLite, shareable between runs and processes) [default: OUT/scores.sqlite].")
@click.option("--no-cache", is_flag=True, help="Score every candidate, keep no cache.")
@dataset_option
@import_option
@click.option("--no-progress", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def search_cmd(space, initial, proxy, objectives, strategy, iterations, population, top_k, max_params, max_flops, max_layers,
               max_latency_ms, no_default_budget, latency_table, latency_batch, latency_precision, latency_device,
               resolution, num_classes, batch_size, repeats, seed, device, out, resume, checkpoint_every, show_top,
               batch, prefilter, backend, workers, threads, ray_address, cache, no_cache, dataset, imports,
               no_progress, as_json):
    """Search a space for the best architecture by zero-cost proxies under a budget.

    Writes a run directory (config, log, checkpoint, history.csv, best.json, best_score.png);
    Ctrl-C and SIGTERM checkpoint and stop (exit 130 / 143); `zsnas search --out DIR --resume`
    continues bit-for-bit. Exits 1 when the run found nothing (no candidate fitted the budget,
    every candidate failed).
    """
    from .interrupts import exit_code, signal_name
    from .search import RunExists, search

    if resume and out is None:
        raise click.UsageError("--resume needs --out DIR (the run directory to continue)")
    if out is None:
        out = time.strftime("runs/search-%Y%m%d-%H%M%S")
    python_space = space is not None and not space.endswith(".json") and space not in ("res", "mbv2")
    if objectives is not None or python_space:
        strat = "pareto" if objectives is not None else (strategy or "az")
        if objectives is None and strat != "az":
            raise click.UsageError(f"space {space} is searched by --strategy az or for a front (--objectives); "
                                   f"{strat} runs on res / mbv2")
        if objectives is not None and strategy is not None:
            raise click.UsageError("--strategy does not apply to a Pareto search (--objectives)")
        engine_only = {"--initial": initial, "--population": population, "--max-layers": max_layers,
                       "--max-latency-ms": max_latency_ms, "--latency-device": latency_device,
                       "--prefilter": prefilter, "--checkpoint-every": checkpoint_every}
        if strat == "pareto":
            engine_only.update({"--proxy": proxy, "--top-k": top_k})
        given = [k for k, v in engine_only.items() if v is not None]
        if given or no_default_budget:
            what = "a Pareto search (--objectives)" if strat == "pareto" else f"an az search of {space}"
            raise click.UsageError(f"{(given or ['--no-default-budget'])[0]} does not apply to {what}")
        limits = {"params": max_params, "flops": max_flops}
        _space_search(space or defaults.SEARCH_SPACE, objectives or proxy or AZ_VIT_PROXIES, strat, iterations, seed,
                      out, resume, batch, top_k, {k: v for k, v in limits.items() if v is not None}, resolution,
                      num_classes, batch_size, repeats, device, backend_choice(backend, workers), workers, threads,
                      None if no_cache else (cache or "auto"), not no_progress, as_json, show_top,
                      dict(latency_table=latency_table, latency_batch=latency_batch or 1,
                           latency_precision=latency_precision or "fp32", data=dataset))
        return
    space_arg = space
    if space is not None and space.endswith(".json"):
        from .spaces import SearchSpace

        space_arg = SearchSpace.from_json(space)
    stage_one = None
    if prefilter is not None:
        name, _, frac = prefilter.rpartition(":")
        try:
            stage_one = (name, float(frac))
        except ValueError:
            raise click.BadParameter(f"{prefilter!r} is not PROXY:FRACTION (e.g. synflow:0.25)",
                                     param_hint="--prefilter") from None
    limits = {"params": max_params, "flops": max_flops, "layers": max_layers, "latency_ms": max_latency_ms}
    budget = {k: v for k, v in limits.items() if v is not None} or None
    try:
        run = search(space=space_arg, initial=initial, budget=budget, proxy=proxy, iterations=iterations, strategy=strategy,
                     population=population, seed=seed, device=device, out=out, resume=resume, top_k=top_k,
                     default_budget=not no_default_budget, resolution=resolution, num_classes=num_classes,
                     batch_size=batch_size, repeats=repeats, latency_table=latency_table,
                     latency_batch=latency_batch,
                     latency_precision=latency_precision, latency_device=latency_device,
                     checkpoint_every=checkpoint_every, batch=batch, prefilter=stage_one,
                     backend=backend_choice(backend, workers),
                     workers=workers, threads=threads, ray_address=ray_address,
                     cache=None if no_cache else (cache or "auto"), imports=imports,
                     progress=not no_progress, data=dataset)
    except KeyboardInterrupt as e:
        click.echo(f"\nstopped by {signal_name(e)}: checkpoint written; continue with: "
                   f"zsnas search --out {out} --resume", err=True)
        sys.exit(exit_code(e))
    except RunExists:
        raise click.ClickException(f"{out} already holds a search: continue it with `zsnas search --out {out} "
                                   f"--resume`, or choose another --out") from None
    if as_json:
        click.echo(json.dumps({"out": str(run.out), "elapsed_s": run.elapsed, "counters": run.counters,
                               "best": run.top(show_top), "failure": run.failure(), "cache": run.cache}, indent=2))
    else:
        c = run.counters
        click.echo(f"{run.config.strategy} search of {run.config.space['name']}: {c['iteration']} iterations, "
                   f"{c['candidates']} candidates ({c['failed']} failed, {c['filtered']} filtered, "
                   f"{c['rejected']} rejected, {c['duplicates']} duplicates) in {run.elapsed:.1f} s")
        if run.failure() is None:
            click.echo(run.summary())
            top = run.top(show_top)
            if len(top) > 1:
                click.echo(f"top {len(top)}:")
                for r in top:
                    click.echo(f"  {r['rank'] + 1:>2}. {r['value']:.6g}  params {r['params'] / 1e6:.3f} M  "
                               f"FLOPs {r['flops'] / 1e6:.1f} M  {r['structure']}")
        if run.cache:
            click.echo(f"score cache: {run.cache['hits']} hits, {run.cache['misses']} misses ({run.cache['path']})")
        click.echo(f"run directory: {run.out}")
    if run.failure() is not None:
        raise click.ClickException(run.failure())


AZ_VIT_PROXIES = "az_expressivity,az_trainability,az_complexity"  # AZ-NAS on ViTs: no progressivity


def _space_search(space, objectives, strategy, iterations, seed, out, resume, batch, top_k, budget, resolution,
                  num_classes, batch_size, repeats, device, backend, workers, threads, cache, progress, as_json, show,
                  latency):
    from .space_search import space_search

    run = space_search(space, objectives, strategy=strategy,
                       iterations=defaults.SEARCH_ITERATIONS if iterations is None else iterations,
                       seed=defaults.SEED if seed is None else seed, out=out, resume=resume, batch=batch or 1,
                       top_k=top_k or defaults.SEARCH_TOP_K, budget=budget, resolution=resolution,
                       num_classes=num_classes, batch_size=batch_size or defaults.SEARCH_BATCH_SIZE,
                       repeats=repeats or defaults.SEARCH_REPEATS, device=device, backend=backend, workers=workers,
                       threads=threads, cache=cache, progress=progress, **latency)
    shown = run.top(show) if strategy == "az" else run.front
    if as_json:
        click.echo(json.dumps({"out": str(run.out), "elapsed_s": run.elapsed, "strategy": strategy,
                               "rejected": run.rejected, ("top" if strategy == "az" else "front"): shown}, indent=2))
        return
    click.echo(f"{run.summary()} in {run.elapsed:.1f} s ({run.rejected} children over the budget redrawn)")
    names = list(dict.fromkeys(n.split(":", 1)[-1] for n, _ in run.objectives))
    for r in shown:
        click.echo("  " + "  ".join(f"{n}={r[n]:.6g}" for n in names) + f"  {r['arch']}")
    click.echo(f"run directory: {run.out} ({'pareto.csv, pareto.png' if strategy == 'pareto' else 'best.json'})")


search = search_cmd  # the lead attaches `search` to the zsnas group

__all__ = ["search_cmd", "search"]
