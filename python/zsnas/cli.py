"""`zsnas` console script: info, score, search, bench."""
from __future__ import annotations

import json
import sys

import click

from . import __version__


def _version_text() -> str:
    from . import info

    return " ".join(f"{k}={v}" for k, v in info().items())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, message="%(version)s", prog_name="zsnas")
def main():
    """Zero-shot neural architecture search: rank networks without training, search spaces under budgets."""


@main.command("version")
def version_cmd():
    """What was compiled (CUDA archs) and what runs here (torch, device)."""
    click.echo(_version_text())


def _describe(target: str, resolution, num_classes):
    """(title, totals dict, per-block rows or None) for a structure string, zoo name or named model."""
    from .arch import Arch
    from .zoo import lookup

    entry = lookup(target)
    if entry is not None or not (target.strip().startswith("|") or target.strip().lower().startswith("resnet")):
        structure = entry.structure if entry else target
        arch = Arch(structure)
        r = resolution or (entry.resolution if entry else 224)
        c = num_classes if num_classes is not None else (entry.num_classes if entry else 1000)
        totals = {"structure": str(arch), "resolution": r, "num_classes": c, "params": arch.params(c),
                  "flops": arch.flops(r, c), "layers": arch.layers(), "out_resolution": arch.out_resolution(r)}
        return target, totals, arch.block_table(r)
    from .nn.counting import count_macs, count_params
    from .nn.named import named_model

    model = named_model(target, num_classes=num_classes)
    r = resolution or (32 if target.strip().startswith("|") else 224)
    c = model.classifier.out_features
    totals = {"name": target, "resolution": r, "num_classes": c, "params": count_params(model),
              "flops": count_macs(model.to("meta"), (3, r, r)), "units": len(model.units)}
    return target, totals, None


def _fmt_count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f} {unit}"
    return str(int(n))


@main.command("info")
@click.argument("target")
@click.option("--resolution", "-r", type=int, default=None, help="Input resolution (default: the model's own, else 224).")
@click.option("--num-classes", "-c", type=int, default=None, help="Classifier width (default 1000; 10 for CIFAR models).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_cmd(target, resolution, num_classes, as_json):
    """Params, FLOPs (conv+linear MACs), layers and a per-block table of TARGET.

    TARGET is a structure string, a zoo name (zennet-cifar-1.0m, zennet-imagenet-400m,
    az-nas-initial), resnet18..resnet152, or a NAS-Bench-201 cell string.
    """
    try:
        _, totals, rows = _describe(target, resolution, num_classes)
    except ValueError as e:
        raise click.ClickException(str(e))
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
    for module, name in (("cli_score", "score"), ("cli_search", "search"), ("cli_bench", "bench")):
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
