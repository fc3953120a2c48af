"""`zsnas export`: a network to ONNX (BN folded, dynamic batch, checked in onnxruntime) or INT8 Q/DQ."""
from __future__ import annotations

import click

from .cli_common import positive


@click.command("export")
@click.argument("target")
@click.option("--format", "fmt", type=click.Choice(["onnx", "int8", "tensorrt"]), default="onnx", show_default=True)
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), required=True, help="The .onnx file to write.")
@click.option("--resolution", "-r", type=positive(), default=None, help="[default: the target's own]")
@click.option("--num-classes", "-c", type=positive(), default=None, help="[default: the target's own]")
@click.option("--batch", default="dynamic", show_default=True, help="'dynamic' or a fixed batch size.")
@click.option("--opset", type=positive(13), default=17, show_default=True)
@click.option("--calibration", type=click.Path(exists=True), default=None,
              help="int8: a .npy array or a folder of images [default: Gaussian noise].")
@click.option("--samples", type=positive(), default=64, show_default=True, help="int8: calibration samples.")
@click.option("--calibrate", type=click.Choice(["minmax", "percentile", "entropy"]), default="minmax",
              show_default=True, help="int8: activation calibration.")
@click.option("--time", "time_it", is_flag=True,
              help="Time the result as trtexec does (median / p90): onnxruntime on the CPU, or the TensorRT engine.")
@click.option("--time-batch", type=positive(), default=64, show_default=True)
@click.option("--runs", type=positive(), default=50, show_default=True)
def export(target, fmt, out, resolution, num_classes, batch, opset, calibration, samples, calibrate, time_it,
           time_batch, runs):
    """Export TARGET (anything `zsnas score` accepts) for deployment."""
    from . import export as ex

    if batch != "dynamic":
        try:
            batch = int(batch)
        except ValueError:
            raise click.BadParameter(f"{batch!r} is not 'dynamic' or a whole number", param_hint="--batch") from None
    onnx_out = out + ".onnx" if fmt == "tensorrt" else out
    if fmt == "tensorrt":
        from .export.tensorrt import _tensorrt

        _tensorrt()  # says what to install before any work
    if fmt in ("onnx", "tensorrt") and calibration is None:
        report = ex.onnx(target, onnx_out, resolution=resolution, num_classes=num_classes, batch=batch, opset=opset)
    else:  # int8, or a TensorRT engine from calibration data: the Q/DQ model
        report = ex.int8(target, onnx_out, calibration=calibration, samples=samples, resolution=resolution,
                         num_classes=num_classes, batch=batch, opset=opset, method=calibrate)
    ops = ", ".join(f"{k} {v}" for k, v in sorted(report.ops.items()))
    click.echo(f"{report.path}: {report.target} at {report.resolution} px, {report.num_classes} classes, batch "
               f"{report.batch}, opset {report.opset}; onnxruntime vs torch max |error| {report.max_abs_error:.3g}")
    click.echo(f"  ops: {ops}")
    for n in report.notes:
        click.echo(f"  {n}")
    if fmt == "tensorrt":
        from .export.tensorrt import build_engine, time_engine

        build_engine(onnx_out, out, batch=time_batch, resolution=report.resolution)
        click.echo(f"{out}: TensorRT engine (strongly typed, from {onnx_out})")
        if time_it:
            click.echo(f"  {time_engine(out, batch=time_batch, resolution=report.resolution, runs=runs)}")
    elif time_it:
        from .export.profile import time_onnxruntime

        click.echo(f"  {time_onnxruntime(out, batch=time_batch, resolution=report.resolution, runs=runs)}")


__all__ = ["export"]
