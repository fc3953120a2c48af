"""`zsnas lut`: latency tables — measure one on this machine, validate it, use TinyNAS's."""
from __future__ import annotations

import json

import click

from .cli_common import positive


@click.group("lut")
def lut():
    """Latency tables in TinyNAS's format: `build` measures this machine's, `validate` checks one,
    `import-tinynas` takes TinyNAS's V100 TensorRT tables; a search reads one with
    --latency-table DIR [--latency-precision fp32|fp16|int8 --latency-batch B]."""


@lut.command("build")
@click.option("--space", "-s", default="res", show_default=True)
@click.option("--resolution", "-r", type=positive(), default=None, help="[default: the space's]")
@click.option("--batch", "-b", type=positive(), default=1, show_default=True)
@click.option("--samples", type=positive(), default=50, show_default=True,
              help="Random networks of the space whose convolution keys and sizes set the grid.")
@click.option("--runs", type=positive(), default=20, show_default=True, help="Timed runs per convolution.")
@click.option("--channels", default=None, metavar="C1,C2,...",
              help="Output-channel grid [default: 8,16,32,48,64,96,128,...,2048 within the range the space uses].")
@click.option("--backend", type=click.Choice(["torch", "onnxruntime", "tensorrt"]), default="onnxruntime",
              show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True)
@click.option("--threads", type=positive(), default=1, show_default=True, help="Intra-op threads measured with.")
@click.option("--fit", type=positive(0), default=20, show_default=True,
              help="Whole networks measured to fit the per-network overhead (0: none).")
@click.option("--cover", type=positive(0), default=0, show_default=True,
              help="Also measure the exact convolutions of this many random networks (channels rounded to the "
                   "SIMD block), so that a new network's are mostly looked up, not interpolated.")
@click.option("--channel-block", type=positive(), default=None,
              help="Round channel counts up to this multiple [default: this CPU's SIMD block: 16 with AVX-512, 8 "
                   "with AVX2].")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Table folder (resumable).")
@click.option("--no-progress", is_flag=True)
def build_cmd(space, resolution, batch, samples, runs, channels, backend, device, precision, threads, fit, cover,
              channel_block, out, no_progress):
    """Measure the convolutions a space's networks use on this machine (conv + bias + ReLU, the
    residual add fused where TinyNAS's key says so), then fit the per-network overhead on a few
    whole networks; an interrupted build resumes."""
    if backend == "tensorrt" or device == "cuda" or precision != "fp32":
        raise click.UsageError("this build measures fp32 on the CPU (torch or onnxruntime); TensorRT / CUDA / "
                               "fp16 / int8 tables are not measured here (no TensorRT builder is installed): "
                               "use TinyNAS's V100 tables with `zsnas lut import-tinynas`")
    from .latency.build import CHANNEL_GRID, build_table

    grid = CHANNEL_GRID
    if channels:
        try:
            grid = tuple(int(c) for c in channels.split(",") if c.strip())
        except ValueError:
            raise click.BadParameter(f"{channels!r} is not a comma-separated list of whole numbers",
                                     param_hint="--channels") from None
    path = build_table(out, space, resolution, batch, samples, runs, progress=not no_progress, channels=grid,
                       backend=backend, threads=threads, fit=fit, cover=cover, channel_block=channel_block)
    with open(path) as fh:
        n = sum(1 for line in fh if line.strip())
    from .latency.tables import overhead

    ms, scale, per_conv, per_mweight, per_mact = overhead(out, "fp32", batch)
    click.echo(f"{path}: {n} measured convolutions; whole network ≈ {ms:.4g} ms + {scale:.4g} × Σ conv + "
               f"{per_conv:.4g} ms × #convs + {per_mweight:.4g} ms × M weights + {per_mact:.4g} ms × M activations "
               f"(meta.json beside it)")


@lut.command("validate")
@click.argument("table", type=click.Path(exists=True, file_okay=False))
@click.option("--space", "-s", default="res", show_default=True)
@click.option("--n", "n", type=positive(), default=100, show_default=True, help="Random networks scored.")
@click.option("--resolution", "-r", type=positive(), default=None)
@click.option("--batch", "-b", type=positive(), default=1, show_default=True)
@click.option("--runs", type=positive(), default=10, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Scatter plot (PNG).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--seed", type=positive(0), default=1, show_default=True)
def validate_cmd(table, space, n, resolution, batch, runs, plot, as_json, seed):
    """Random networks of SPACE (none that fitted TABLE's overhead) measured whole, on TABLE's
    backend and threads, against what the engine predicts from TABLE."""
    from .latency.build import validate

    r = validate(table, space, n, resolution, batch, runs, seed=seed, plot=plot)
    if as_json:
        click.echo(json.dumps(r, indent=1))
        return
    click.echo(f"{r['n']} networks: within ±10 % {r['within_10']:.0%}, ±15 % {r['within_15']:.0%}, RMSE "
               f"{r['rmse_ms']:.3g} ms, Spearman ρ {r['spearman']:.3f}; noise floor (two measurements of one "
               f"network) {r['noise_floor']:.1%}, {r['noise_within_15']:.0%} of repeats within ±15 %; fit "
               f"{r['overhead_ms']:.3g} ms + {r['scale']:.3g}× Σ + {r['per_conv_ms']:.3g} ms/conv + "
               f"{r['per_mweight_ms']:.3g} ms/M weights + {r['per_mact_ms']:.3g} ms/M activations ({r['backend']}, {r['threads']} thread(s), batch "
               f"{r['batch']}, median network {r['median_ms']:.3g} ms)")


@lut.command("import-tinynas")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False))
def import_tinynas_cmd(source, out):
    """Check TinyNAS's V100 TensorRT tables in SOURCE (../shared/data/latency/tinynas-v100) and
    write them as a zsnas table folder: `zsnas search --latency-table OUT --latency-precision
    int8 --latency-batch 64 --max-latency-ms X` then predicts V100 latency on any machine."""
    from .latency.tables import import_tinynas

    counts = import_tinynas(source, out)
    click.echo(f"{out}: " + ", ".join(f"{p} {n:,} measured convolutions" for p, n in counts.items()))


__all__ = ["lut"]
