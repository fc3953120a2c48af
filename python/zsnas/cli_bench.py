"""`zsnas bench`: score an architecture table with zero-cost proxies and print how well each
ranks the architectures (Kendall τ, Spearman ρ, τ in the top 5 % / 20 %, mBR).

The lead attaches ``bench`` to the ``zsnas`` click group; it also runs on its own:
``python -m zsnas.cli_bench DATA.csv --proxies synflow,jacob_cov,params``.
"""
from __future__ import annotations

import json
import os
import sys

import click
from click.core import ParameterSource

from . import defaults
from .cli_common import backend_choice, backend_options, dataset_option, device_option, import_option, positive


@click.command("bench")
@click.argument("data", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--report", "report_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Analyse an existing bench run directory (no scoring): Pearson r, τ/ρ over a top-x % sweep, "
                   "BR@k / P@k, mBR at FLOPs / params / depth budgets, the inter-proxy τ matrix, sample and pick, "
                   "and --hybrid.")
@click.option("--sample", type=positive(), default=100, show_default=True,
              help="--report: architectures per sample-and-pick draw.")
@click.option("--repeats", "draws", type=positive(), default=100, show_default=True,
              help="--report: sample-and-pick draws.")
@click.option("--hybrid", default=None, metavar="P1,P2,...",
              help="--report: rank every subset of these proxies, aggregated (NAS-Bench-Zero's hybrid search).")
@click.option("--hybrid-by", type=click.Choice(["kendall", "mbr"]), default="kendall", show_default=True)
@click.option("--pareto", "pareto_objectives", default=None, metavar="A,-B",
              help="Score every member of the enumerable --space by these objectives and write its exact Pareto "
                   "front (OUT/pareto.csv, pareto.png; resumable); no DATA needed.")
@click.option("--space", default="nb201", show_default=True, help="--pareto: nb201, nats-sss, ss-r1, ss-r2 or ss-mb.")
@click.option("--against", type=click.Path(exists=True, file_okay=False), default=None,
              help="--pareto: a Pareto search run directory whose front is scored against the exact one "
                   "(hypervolume ratio).")
@click.option("--proxies", default=",".join(defaults.BENCH_PROXIES), show_default=True,
              help="Comma-separated registered proxy names.")
@click.option("--aggregate", multiple=True,
              help="Rank-aggregate proxies joined by '+', reported as an extra proxy (repeatable), "
                   "e.g. az_expressivity+az_progressivity+az_trainability+flops (AZ-NAS's log-rank "
                   "aggregation); a 'sum:' prefix sums the ranks as TE-NAS does "
                   "(sum:linear_regions_tenas+ntk_cond_tenas).")
@click.option("--out", default=defaults.BENCH_OUT, show_default=True, type=click.Path(file_okay=False),
              help="Run directory (scores.jsonl, table.csv, results.json, plots/); with --report, where the "
                   "analyses go [default there: RUN itself].")
@click.option("--limit", default=None, type=positive(), help="Score only the first N rows.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Keep the scores already in OUT and score only what is missing.")
@device_option
@click.option("--seed", default=defaults.SEED, show_default=True, type=positive(0))
@click.option("--batch-size", default=defaults.BENCH_BATCH_SIZE, show_default=True, type=positive())
@click.option("--resolution", default=defaults.BENCH_RESOLUTION, show_default=True, type=positive())
@click.option("--num-classes", default=defaults.BENCH_NUM_CLASSES, show_default=True, type=positive())
@click.option("--arch-column", default=None, help="Architecture column (default: detected).")
@click.option("--acc-column", default=None, help="Accuracy column (default: first name containing 'acc').")
@click.option("--budgets", default=None,
              help="mBR FLOPs budgets: comma-separated values, or an integer M for M quantiles (default 10).")
@backend_options
@click.option("--cache", "cache", type=click.Path(dir_okay=False), default=None,
              help="Score cache file (SQLite, shareable with searches and other benches) [default: OUT/scores.sqlite].")
@click.option("--no-cache", is_flag=True, help="Keep no score cache.")
@dataset_option
@import_option
@click.option("--no-plots", is_flag=True, help="Skip the scatter plots.")
@click.option("--no-progress", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")
def bench(data, report_dir, sample, draws, hybrid, hybrid_by, pareto_objectives, space, against, proxies, aggregate, out, limit, resume, device, seed,
          batch_size, resolution, num_classes, arch_column, acc_column, budgets, backend, workers, threads, ray_address,
          cache, no_cache, dataset, imports, no_plots, no_progress, as_json):
    """Benchmark proxies on DATA.csv (an architecture column plus an accuracy column), or with
    --report RUN analyse a finished run's scores without re-scoring.

    Ctrl-C / SIGTERM stop it (exit 130 / 143) with every finished row saved; the same command
    continues where it stopped.
    """
    from . import evaluate as ev
    from .interrupts import exit_code, signal_name

    explicit = _explicit_options(click.get_current_context())
    _check_mode(data, report_dir, pareto_objectives, explicit)
    if report_dir is not None:
        from .analyses import format_report, report

        # an --out given with --report receives the analyses; else they go beside the run's scores
        explicit_out = "out" in explicit
        dest = out if explicit_out else report_dir
        r = report(report_dir, sample=sample, repeats=draws, seed=seed, plots=not no_plots,
                   hybrid=[h.strip() for h in hybrid.split(",") if h.strip()] if hybrid else None, hybrid_by=hybrid_by,
                   out_dir=dest)
        click.echo(json.dumps(r, indent=1) if as_json else format_report(r))
        if not as_json:
            click.echo(f"\nanalyses: {os.path.join(dest, 'analyses.json')}"
                       + ("" if no_plots else ", sweep_kendall.png, kendall_matrix.png"))
        return
    if pareto_objectives is not None:
        _exact_front(space, pareto_objectives, out, against, device, seed, batch_size, backend_choice(backend, workers),
                     workers, threads, not (as_json or no_progress), not no_plots, as_json, dataset)
        return
    if data is None:
        raise click.UsageError("give DATA.csv to score, --report RUN to analyse a finished run, or --pareto "
                               "OBJECTIVES --space S for an exact front")
    budget_list = None
    if budgets:
        parts = [b for b in budgets.split(",") if b.strip()]
        try:
            if len(parts) == 1 and parts[0].strip().isdigit():
                flops = [r["flops"] for r in ev.read_table(data, arch_column, acc_column, limit)]
                if any(f is None for f in flops):
                    raise click.BadParameter("a number of quantile budgets needs a FLOPs column in the CSV",
                                             param_hint="--budgets")
                budget_list = ev.default_budgets(flops, int(parts[0]))
            else:
                budget_list = [float(b) for b in parts]
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--budgets") from e
    try:
        results = ev.evaluate(
            data, proxies, aggregate=list(aggregate) or None, out=out, workers=workers, resume=resume,
            limit=limit, device=device, seed=seed, batch_size=batch_size, resolution=resolution,
            num_classes=num_classes, arch_column=arch_column, acc_column=acc_column, budgets=budget_list,
            threads=threads or defaults.BENCH_THREADS, plots=not no_plots, progress=not (as_json or no_progress),
            extra_imports=imports, backend=backend_choice(backend, workers), ray_address=ray_address,
            cache=None if no_cache else (cache or "auto"), data=dataset,
        )
    except KeyboardInterrupt as e:
        click.echo(f"\nstopped by {signal_name(e)}: every finished row is in {out}/scores.jsonl; "
                   f"the same command continues", err=True)
        sys.exit(exit_code(e))
    results.pop("table", None)
    if as_json:
        click.echo(json.dumps(ev._sanitize(results), indent=1))
    else:
        click.echo(f"{results['n_rows']} architectures from {data}; results in {out}/results.json")
        click.echo(ev.format_table(results))
        if results.get("cache"):
            c = results["cache"]
            click.echo(f"score cache: {c['hits']} hits, {c['misses']} misses ({c['path']})")
    if results["missing_accuracy"]:
        click.echo(f"warning: {len(results['missing_accuracy'])} rows of {data} have no accuracy (blank or NaN) "
                   f"and are left out of every correlation", err=True)


# the options that mean something in one mode only (the rest serve several); given in another,
# they would be ignored without a word
_MODE_ONLY = {"report": ("sample", "draws", "hybrid", "hybrid_by"), "pareto": ("space", "against"),
              "score": ("proxies", "aggregate", "limit", "arch_column", "acc_column", "budgets")}


def _explicit_options(ctx: click.Context) -> set:
    return {name for name in ctx.params
            if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)}


def _check_mode(data, report_dir, pareto_objectives, explicit: set) -> None:
    """One of DATA.csv, --report RUN, --pareto OBJECTIVES; options of another mode are an error."""
    modes = [m for m, given in (("score", data is not None), ("report", report_dir is not None),
                                ("pareto", pareto_objectives is not None)) if given]
    names = {"score": "DATA.csv", "report": "--report", "pareto": "--pareto"}
    if len(modes) > 1:
        raise click.UsageError(f"{' and '.join(names[m] for m in modes)} are different jobs: give one")
    mode = modes[0] if modes else "score"
    flag = {"draws": "--repeats"}
    for other, options in _MODE_ONLY.items():
        stray = [flag.get(o, "--" + o.replace("_", "-")) for o in options if o in explicit and other != mode]
        if stray:
            raise click.UsageError(f"{', '.join(stray)} only {'apply' if len(stray) > 1 else 'applies'} with "
                                   f"{names[other]}, not with {names[mode]}")


def _exact_front(space, objectives, out, against, device, seed, batch_size, backend, workers, threads, progress, plots,
                 as_json, data):
    from .space_search import exact_front, load_space_run, hypervolume_ratio

    exact = exact_front(space, objectives, out=out, seed=seed, batch_size=batch_size, device=device, backend=backend,
                        workers=workers, threads=threads, progress=progress, plot=plots, data=data)
    result = {"space": space, "objectives": objectives, "members": len(exact.history), "front": len(exact.front_ids),
              "out": str(out)}
    if against is not None:
        run = load_space_run(against, objectives)
        if run.config.scoring() != exact.config.scoring():
            diff = next(k for k, v in exact.config.scoring().items() if run.config.scoring()[k] != v)
            raise click.ClickException(f"{against} was scored with {diff} {run.config.scoring()[diff]}, the exact "
                                       f"front with {exact.config.scoring()[diff]}: their values cannot be compared")
        result.update(against=str(against), against_front=len(run.front_ids),
                      against_scored=len(run.history), hypervolume_ratio=hypervolume_ratio(run.points, exact.points))
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(f"exact front of {space} by {objectives}: {result['front']} non-dominated of {result['members']} "
               f"({out}/pareto.csv)")
    if against is not None:
        click.echo(f"{against}: {result['against_front']} non-dominated of {result['against_scored']} scored; "
                   f"hypervolume {result['hypervolume_ratio']:.4f} of the exact front's")


if __name__ == "__main__":  # pragma: no cover
    bench()
