"""`zsnas bench`: score an architecture table with zero-cost proxies and print how well each
ranks the architectures (Kendall τ, Spearman ρ, τ in the top 5 % / 20 %, mBR).

The lead attaches ``bench`` to the ``zsnas`` click group; it also runs on its own:
``python -m zsnas.cli_bench DATA.csv --proxies synflow,jacob_cov,params``.
"""
from __future__ import annotations

import json

import click


@click.command("bench")
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@click.option("--proxies", default="synflow,jacob_cov,params", show_default=True,
              help="Comma-separated registered proxy names.")
@click.option("--aggregate", multiple=True,
              help="Rank-aggregate proxies joined by '+', reported as an extra proxy (repeatable), "
                   "e.g. az_expressivity+az_progressivity+az_trainability+flops.")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes (1 = in process).")
@click.option("--threads", default=1, show_default=True, type=int, help="Torch threads per worker.")
@click.option("--out", default="runs/bench", show_default=True, type=click.Path(file_okay=False),
              help="Run directory (scores.jsonl, table.csv, results.json, plots/).")
@click.option("--limit", default=None, type=int, help="Score only the first N rows.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Keep the scores already in OUT and score only what is missing.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--resolution", default=32, show_default=True, type=int)
@click.option("--num-classes", default=10, show_default=True, type=int)
@click.option("--arch-column", default=None, help="Architecture column (default: detected).")
@click.option("--acc-column", default=None, help="Accuracy column (default: first name containing 'acc').")
@click.option("--budgets", default=None,
              help="mBR FLOPs budgets: comma-separated values, or an integer M for M quantiles (default 10).")
@click.option("--no-plots", is_flag=True, help="Skip the scatter plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")
def bench(data, proxies, aggregate, workers, threads, out, limit, resume, device, seed, batch_size,
          resolution, num_classes, arch_column, acc_column, budgets, no_plots, as_json):
    """Benchmark proxies on DATA.csv (an architecture column plus an accuracy column)."""
    from . import evaluate as ev

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
            threads=threads, plots=not no_plots, progress=not as_json,
        )
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    results.pop("table", None)
    if as_json:
        click.echo(json.dumps(ev._sanitize(results), indent=1))
    else:
        click.echo(f"{results['n_rows']} architectures from {data}; results in {out}/results.json")
        click.echo(ev.format_table(results))


if __name__ == "__main__":  # pragma: no cover
    bench()
