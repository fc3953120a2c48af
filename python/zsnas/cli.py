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
@click.argument("target")
@click.option("--resolution", "-r", type=click.IntRange(min=1), default=None,
              help="Input resolution (default: the model's own, else 224).")
@click.option("--num-classes", "-c", type=click.IntRange(min=0), default=None,
              help="Classifier width (default: the model's own, else 1000; 0 = no classifier).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_cmd(target, resolution, num_classes, as_json):
    """Params, FLOPs (conv+linear MACs), layers and a per-block table of TARGET.

    TARGET is a structure string, a zoo name (zennet-cifar-1.0m, zennet-imagenet-400m,
    az-nas-initial), resnet18..resnet152, a NAS-Bench-201 cell string, or a run's best.json.
    """
    _, totals, rows = _describe(target, resolution, num_classes)
    if as_json:
        click.echo(json.dumps({**totals, "blocks": rows}, indent=2))
        return
    for k, v in totals.items():
        shown = _fmt_count(v) + f"  ({v:,})" if k in ("params", "flops") else v
        click.echo(f"{k:>15}: {shown}")
    if rows:
        click.echo("")
        w = max(len(row["structure"]) for row in rows)
        click.echo(f"{'#':>3}  {'block':<{w}} {'res in→out':>11} {'params':>12} {'FLOPs':>14} {'layers':>6}")
        for i, row in enumerate(rows):
            res = f"{row['in_resolution']}→{row['out_resolution']}"
            click.echo(f"{i:>3}  {row['structure']:<{w}} {res:>11} {row['params']:>12,} {row['flops']:>14,} {row['layers']:>6}")


def _attach_optional_commands():
    """Commands that live in their own modules (each owns its options)."""
    for module, name in (("cli_score", "score"), ("cli_search", "search"), ("cli_bench", "bench"),
                         ("cli_export", "export"), ("cli_lut", "lut")):
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
