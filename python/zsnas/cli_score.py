"""`zsnas score`: evaluate proxies on one network, as a table or JSON."""
from __future__ import annotations

import click


@click.command("score")
@click.argument("target")
@click.option("--proxies", "-p", default="zen", show_default=True,
              help="Comma-separated registered proxies (zen, az, synflow, ...); `--list` shows them.")
@click.option("--resolution", "-r", type=int, default=None, help="Input resolution (default: the model's own).")
@click.option("--batch-size", "-b", type=int, default=None, help="Batch size (default: each proxy's own).")
@click.option("--repeats", type=int, default=None, help="Independent draws to average (Zen-score).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--num-classes", "-c", type=int, default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def score(target, proxies, resolution, batch_size, repeats, device, seed, num_classes, as_json):
    """Score TARGET (structure string, zoo name, resnet18..152, NB201 cell string) with zero-cost proxies."""
    import zsnas
    from zsnas.zoo import lookup

    entry = lookup(target)
    if entry is not None:
        target = entry.structure
        resolution = resolution or entry.resolution
        num_classes = num_classes if num_classes is not None else entry.num_classes
    names = [p.strip() for p in proxies.split(",") if p.strip()]
    try:
        report = zsnas.score(target, proxies=names, resolution=resolution, batch_size=batch_size,
                             repeats=repeats, device=device, seed=seed, num_classes=num_classes)
    except ValueError as e:
        raise click.ClickException(str(e))
    click.echo(report.to_json() if as_json else str(report))
