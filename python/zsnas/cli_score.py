"""`zsnas score`: evaluate proxies on one network, as a table or JSON."""
from __future__ import annotations

import click

from . import defaults
from .cli_common import dataset_option, device_option, import_option, load_imports, positive


def _list_proxies() -> None:
    from . import proxies as _builtin  # noqa: F401  (registers the built-in proxies)
    from .proxies.registry import _REGISTRY

    w = max(len(n) for n in _REGISTRY)
    for name in sorted(_REGISTRY):
        spec = _REGISTRY[name]
        click.echo(f"{name:<{w}}  {spec.description.splitlines()[0] if spec.description else ''}")


@click.command("score")
@click.argument("target", required=False)
@click.option("--proxies", "-p", default=",".join(defaults.SCORE_PROXIES), show_default=True,
              help="Comma-separated registered proxies (zen, az, synflow, ...); --list shows them.")
@click.option("--list", "list_", is_flag=True, help="List the registered proxies (with --import: yours too) and exit.")
@click.option("--resolution", "-r", type=positive(), default=None,
              help="Input resolution [default: the target's own: zoo entries and best.json carry it; NB201 32; else 224].")
@click.option("--num-classes", "-c", type=positive(), default=None, help="[default: the target's own, else 1000]")
@click.option("--batch-size", "-b", type=positive(), default=None, help="Batch size [default: zen 16, others 64].")
@click.option("--repeats", type=positive(), default=None, help="Independent draws to average [default: zen 32, others 1].")
@device_option
@click.option("--seed", type=positive(0), default=defaults.SEED, show_default=True)
@click.option("--backend", type=click.Choice(["local", "pool", "ray"]), default="local", show_default=True,
              help="Where the proxies run (ray: an actor on the cluster at --ray-address).")
@click.option("--ray-address", default=None, metavar="HOST:PORT")
@dataset_option
@import_option
@click.option("--no-progress", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def score(target, proxies, list_, resolution, batch_size, repeats, device, seed, num_classes, backend, ray_address,
          dataset, imports, no_progress, as_json):
    """Score TARGET with zero-cost proxies.

    TARGET: a structure string, a zoo name, resnet18..152, an NB201 cell string, or a search's
    best.json (its best architecture, at the run's resolution and classes).
    """
    import zsnas

    load_imports(imports)
    if list_:
        _list_proxies()
        return
    if target is None:
        raise click.UsageError("missing TARGET (a structure string, a name or a best.json); --list shows the proxies")
    names = [p.strip() for p in proxies.split(",") if p.strip()]
    report = zsnas.score(target, proxies=names, resolution=resolution, batch_size=batch_size, repeats=repeats,
                         device=device, seed=seed, num_classes=num_classes, progress=not (no_progress or as_json),
                         backend=backend, ray_address=ray_address, data=dataset)
    click.echo(report.to_json() if as_json else str(report))
