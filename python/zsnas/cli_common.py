"""What every `zsnas` command shares: one-line errors and honest exit codes, number options,
--import, and the device option.

Exit codes: 0 done; 1 an error, or a run that produced nothing (no candidate fitted, every
candidate failed); 2 a usage error (click); 128 + signal when stopped by one (130 Ctrl-C,
143 SIGTERM) after writing what it had. No traceback reaches the user unless ZSNAS_DEBUG=1.
"""
from __future__ import annotations

import math
import os
import sys

import click

from . import defaults
from .errors import ProxyFailed


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text


class ZsnasGroup(click.Group):
    """A click group whose commands' errors become one message and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # `zsnas ... | head`: the reader left; nothing to report
            sys.stderr.close()
            sys.exit(1)
        except KeyboardInterrupt as e:
            from .interrupts import exit_code, signal_name

            click.echo(f"\nstopped by {signal_name(e)}", err=True)
            sys.exit(exit_code(e))
        except (ValueError, OSError, LookupError, ProxyFailed) as e:
            if os.environ.get("ZSNAS_DEBUG"):
                raise
            raise click.ClickException(_one_line(e)) from None
        except Exception as e:  # noqa: BLE001 -- a bug: still one line, with how to see more
            if os.environ.get("ZSNAS_DEBUG"):
                raise
            raise click.ClickException(f"internal error: {type(e).__name__}: {_one_line(e)} "
                                       f"(rerun with ZSNAS_DEBUG=1 for the traceback, and please report it)") from None


class Limit(click.ParamType):
    """A budget limit: a non-negative number such as 1e6 or 400e6 (whole numbers stay int); inf = none."""

    name = "number"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number (write e.g. 1e6 or 400e6)", param, ctx)
        if math.isnan(v) or v < 0:
            self.fail(f"{value!r} must be a number >= 0", param, ctx)
        if math.isinf(v):
            return None
        return int(v) if v == int(v) else v


LIMIT = Limit()


def positive(min_value: int = 1):
    return click.IntRange(min=min_value)


def import_option(f):
    """--import MODULE (repeatable): the user's proxy modules, a dotted name or a .py file."""
    return click.option("--import", "imports", multiple=True, metavar="MODULE",
                        help="Import MODULE (a dotted name or a .py file) first, to register your own proxies; "
                             "repeatable. Worker processes import it too.")(f)


def device_option(f):
    return click.option("--device", default=None, metavar="DEVICE",
                        help=f"auto (cuda when available, else cpu), cpu, cuda or cuda:N [default: {defaults.DEVICE}].")(f)


def dataset_option(f):
    return click.option("--dataset", default=None, metavar="PATH",
                        help="Real images and labels for the data-fed proxies (grad_norm, snip, gradsign, ntk_cond, "
                             "naswot, ...): a CIFAR-10/100 python folder (cifar-10-batches-py) or an .npz with x "
                             "and y [default: Gaussian noise and random labels; zen, az, phi and synflow always "
                             "take their own inputs].")(f)


def backend_options(f):
    """--backend / --workers / --threads / --ray-address: where the proxies run."""
    for opt in reversed([
        click.option("--backend", type=click.Choice(["local", "pool", "ray"]), default=None,
                     help="Where proxies run: local (this process), pool (worker processes) or ray (actors) "
                          "[default: local, or pool with --workers > 1]."),
        click.option("--workers", type=positive(), default=1, show_default=True,
                     help="Worker processes (pool) or actors (ray)."),
        click.option("--threads", type=positive(), default=None, help="Torch threads per worker [default: 1]."),
        click.option("--ray-address", default=None, metavar="HOST:PORT",
                     help="A running Ray cluster (ray start --head); default: a local one started here (token-authenticated)."),
    ]):
        f = opt(f)
    return f


def backend_choice(backend, workers) -> str:
    return backend or ("pool" if workers > 1 else "local")


def load_imports(imports) -> list:
    from .proxies.registry import import_modules

    return import_modules(list(imports)) if imports else []


__all__ = ["ZsnasGroup", "LIMIT", "positive", "import_option", "device_option", "backend_options", "backend_choice",
           "load_imports"]
