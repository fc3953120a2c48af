"""`zsnas` console script: info, score, search, bench."""
from __future__ import annotations

import json
import sys

import click

from . import __version__
from .cli_common import ZsnasGroup


def _version_text() -> str:
    from . import info

    return " ".join(f"{k}={v}" for k, v in info().items())


@click.group(cls=ZsnasGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, message="%(version)s", prog_name="zsnas")
def main():
    """Zero-shot neural architecture search: rank networks without training, search spaces under budgets."""


@main.command("version")
def version_cmd():
    """What was compiled (CUDA archs) and what runs here (torch, device)."""
    click.echo(_version_text())


def _describe(target: str, resolution, num_classes):
    """(title, totals dict, per-block rows or None) for anything zsnas.targets resolves."""
    from .arch import Arch
    from .targets import resolve_target

    t = resolve_target(target)
    r = resolution or t.resolution
    c = num_classes if num_classes is not None else t.num_classes
    if t.kind == "arch":
        arch = Arch(t.structure)
        totals = {"structure": str(arch), "resolution": r, "num_classes": c, "params": arch.params(c),
                  "flops": arch.flops(r, c), "layers": arch.layers(), "out_resolution": arch.out_resolution(r)}
        return target, totals, arch.block_table(r)
    model = t.build(num_classes=c)
    totals = {"name": t.name, "resolution": r, "num_classes": c, "params": t.params(c), "flops": t.flops(r, c),
              "units": len(model.units)}
    return target, totals, None


def _fmt_count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f} {unit}"
    return str(int(n))


@main.command("info")
@click.argument("target", required=False)
@click.option("--zoo", "list_zoo", is_flag=True, help="List the zoo: every published network by name, with its counts.")
@click.option("--resolution", "-r", type=click.IntRange(min=1), default=None,
              help="Input resolution (default: the model's own, else 224).")
@click.option("--num-classes", "-c", type=click.IntRange(min=0), default=None,
              help="Classifier width (default: the model's own, else 1000; 0 = no classifier).")
@click.option("--latency-table", type=click.Path(exists=True), default=None,
              help="Print predicted latency per block and in total (a JSON block table or a TinyNAS-format folder).")
@click.option("--latency-batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--latency-precision", default="fp32", show_default=True, help="fp32 | fp16 | int8 (a folder's file).")
@click.option("--latency-device", default="cpu", show_default=True, help="A JSON block table's device entries.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_cmd(target, list_zoo, resolution, num_classes, latency_table, latency_batch, latency_precision,
             latency_device, as_json):
    """Params, FLOPs (conv+linear MACs), layers and a per-block table of TARGET.

    TARGET is a structure string, a zoo name (`zsnas info --zoo` lists them: the twelve ZenNets,
    az-nas-initial), resnet18..resnet152, a NAS-Bench-201 cell string, or a run's best.json.
    """
    if list_zoo:
        _list_zoo(as_json)
        return
    if target is None:
        raise click.UsageError("give a TARGET (or --zoo)")
    _, totals, rows = _describe(target, resolution, num_classes)
    if latency_table:
        _add_latency(target, totals, rows, latency_table, latency_batch, latency_precision, latency_device)
    if as_json:
        click.echo(json.dumps({**totals, "blocks": rows}, indent=2))
        return
    for k, v in totals.items():
        shown = _fmt_count(v) + f"  ({v:,})" if k in ("params", "flops") else (f"{v:.4g}" if isinstance(v, float) else v)
        click.echo(f"{k:>15}: {shown}")
    if rows:
        click.echo("")
        w = max(len(row["structure"]) for row in rows)
        lat = "latency_ms" in rows[0]
        click.echo(f"{'#':>3}  {'block':<{w}} {'res in→out':>11} {'params':>12} {'FLOPs':>14} {'layers':>6}"
                   + (f" {'ms':>10}" if lat else ""))
        for i, row in enumerate(rows):
            res = f"{row['in_resolution']}→{row['out_resolution']}"
            click.echo(f"{i:>3}  {row['structure']:<{w}} {res:>11} {row['params']:>12,} {row['flops']:>14,} {row['layers']:>6}"
                       + (f" {row['latency_ms']:>10.4g}" if lat else ""))


def _list_zoo(as_json: bool) -> None:
    from .arch import Arch
    from .zoo import ZOO

    rows = [{"name": n, "paper": e.paper, "resolution": e.resolution, "num_classes": e.num_classes, "se": e.se,
             "params": Arch(e.structure).params(e.num_classes),
             "flops": Arch(e.structure).flops(e.resolution, e.num_classes), "structure": e.structure}
            for n, e in ZOO.items()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    w = max(len(r["name"]) for r in rows)
    click.echo(f"{'name':<{w}}  {'res':>4} {'classes':>7} {'SE':>3} {'params':>12} {'FLOPs':>12}  paper")
    for r in rows:
        click.echo(f"{r['name']:<{w}}  {r['resolution']:>4} {r['num_classes']:>7} {'yes' if r['se'] else '':>3} "
                   f"{_fmt_count(r['params']):>12} {_fmt_count(r['flops']):>12}  {r['paper']}")


def _add_latency(target, totals, rows, table, batch, precision, device):
    """Predicted latency into the info output: per block (Σ of its convolutions, or its table
    entry) and in total (with a conv table's fitted per-network overhead)."""
    from .latency.tables import block_ms, open_latency_table, target_ms

    model = open_latency_table(table, precision, batch)
    r = totals["resolution"]
    totals["latency_ms"] = target_ms(model, target, r, batch, precision, device)
    totals["latency"] = f"batch {batch}, {precision}, {table}"
    if rows:
        for row, ms in zip(rows, block_ms(model, totals["structure"], r, batch, precision, device)):
            row["latency_ms"] = ms
        if hasattr(model, "overhead_ms"):
            totals["overhead_ms"] = model.overhead_ms  # in latency_ms, not in the blocks' column


def _attach_optional_commands():
    """Commands that live in their own modules (each owns its options)."""
    for module, name in (("cli_score", "score"), ("cli_search", "search"), ("cli_bench", "bench"),
                         ("cli_export", "export"), ("cli_lut", "lut"), ("cli_pareto", "pareto")):
        try:
            mod = __import__(f"zsnas.{module}", fromlist=[name])
        except ImportError as e:
            if f"zsnas.{module}" in str(e):
                continue  # not shipped in this build
            raise
        main.add_command(getattr(mod, name), name)


_attach_optional_commands()

if __name__ == "__main__":
    sys.exit(main())
