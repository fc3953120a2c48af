"""`zsnas lut`: latency tables — measure one on this machine, validate it, use TinyNAS's."""
from __future__ import annotations

import json

import click

from .cli_common import positive


@click.group("lut")
def lut():
    """Latency tables in TinyNAS's format: `build` measures this machine's, `validate` checks one;
    use one in a search with --latency-model tinynas:DIR:fp32 (TinyNAS's V100 tables: fp32|fp16|int8)."""


@lut.command("build")
@click.option("--space", "-s", default="res", show_default=True)
@click.option("--resolution", "-r", type=positive(), default=None, help="[default: the space's]")
@click.option("--batch", "-b", type=positive(), default=1, show_default=True)
@click.option("--samples", type=positive(), default=50, show_default=True,
              help="Random networks of the space whose convolution keys and sizes set the grid.")
@click.option("--runs", type=positive(), default=20, show_default=True, help="Timed runs per convolution.")
@click.option("--channels", default=None, metavar="C1,C2,...",
              help="Output-channel grid [default: 8,16,32,48,64,96,128,...,2048 within the range the space uses].")
@click.option("--backend", type=click.Choice(["torch"]), default="torch", show_default=True)
@click.option("--device", type=click.Choice(["cpu"]), default="cpu", show_default=True)
@click.option("--precision", type=click.Choice(["fp32"]), default="fp32", show_default=True)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Table folder (resumable).")
@click.option("--no-progress", is_flag=True)
def build_cmd(space, resolution, batch, samples, runs, channels, backend, device, precision, out, no_progress):
    """Measure the convolutions a space's networks use on this machine (conv + bias + ReLU, the
    residual add fused where TinyNAS's key says so); an interrupted build resumes."""
    from .latency.build import CHANNEL_GRID, build_table

    grid = CHANNEL_GRID
    if channels:
        try:
            grid = tuple(int(c) for c in channels.split(",") if c.strip())
        except ValueError:
            raise click.BadParameter(f"{channels!r} is not a comma-separated list of whole numbers",
                                     param_hint="--channels") from None
    path = build_table(out, space, resolution, batch, samples, runs, progress=not no_progress, channels=grid)
    with open(path) as fh:
        n = sum(1 for line in fh if line.strip())
    click.echo(f"{path}: {n} measured convolutions (meta.json beside it)")


@lut.command("validate")
@click.argument("table", type=click.Path(exists=True, file_okay=False))
@click.option("--space", "-s", default="res", show_default=True)
@click.option("--n", "n", type=positive(), default=100, show_default=True, help="Random networks scored.")
@click.option("--fit", type=positive(), default=10, show_default=True, help="Networks fitting the overhead.")
@click.option("--resolution", "-r", type=positive(), default=None)
@click.option("--batch", "-b", type=positive(), default=1, show_default=True)
@click.option("--runs", type=positive(), default=10, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Scatter plot (PNG).")
@click.option("--json", "as_json", is_flag=True)
def validate_cmd(table, space, n, fit, resolution, batch, runs, plot, as_json):
    """Random networks of SPACE measured whole against TABLE's prediction."""
    from .latency.build import validate

    r = validate(table, space, n, resolution, batch, fit, runs, plot=plot)
    if as_json:
        click.echo(json.dumps(r, indent=1))
        return
    click.echo(f"{r['n']} networks: within ±10 % {r['within_10']:.0%}, ±15 % {r['within_15']:.0%}, RMSE "
               f"{r['rmse_ms']:.3g} ms, Spearman ρ {r['spearman']:.3f}; noise floor (two measurements of one "
               f"network) {r['noise_floor']:.1%}; overhead fitted {r['overhead_ms']:.3g} ms + {r['scale']:.3g}×")


__all__ = ["lut"]
