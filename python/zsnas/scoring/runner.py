"""The one scorer runner: a ScoreRequest -> a ScoreRow, in this process.

Every backend (local, pool workers, Ray actors) calls :func:`run_request`. A proxy that raises
is recorded in the row's errors, never raised (Ctrl-C / SIGTERM are). Family proxies are run
once per request: "az_trainability" & co are read from one run of "az" when "az" is a
registered proxy reporting them in its sub-scores.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Dict, Optional, Tuple

from .request import ScoreRequest, ScoreRow


def family(name: str) -> Tuple[Optional[str], Optional[str]]:
    """("az", "trainability") for "az_trainability" when a proxy "az" is registered, else (None, None)."""
    from ..proxies.registry import available_proxies

    fam, sep, key = name.partition("_")
    if sep and key and fam in available_proxies():
        return fam, key
    return None, None


def check_request_proxies(names, batch_size: int) -> None:
    """ValueError for an unknown proxy or one that means nothing at this batch size."""
    from .. import proxies as _builtin  # noqa: F401  (registers the built-in proxies)
    from ..proxies.registry import get_proxy

    for n in names:
        get_proxy(family(n)[0] or n).check(batch_size)


def proxy_version(name: str) -> int:
    """The registered version of a proxy, or of the family a member name ("az_trainability")
    belongs to: what caches and resumed runs compare."""
    from .. import proxies as _builtin  # noqa: F401  (registers the built-in proxies)
    from ..proxies.registry import get_proxy

    return get_proxy(family(name)[0] or name).version


def prepare_worker(threads: int, imports) -> None:
    """What a worker process (pool) or Ray actor does once: its torch threads, the built-in
    proxies and the user's proxy modules."""
    import torch

    from .. import proxies as _builtin  # noqa: F401  (registers the built-in proxies)
    from ..proxies.registry import import_modules

    torch.set_num_threads(threads)
    import_modules(imports)


def run_request(req: ScoreRequest, progress: Optional[Callable[[int], None]] = None) -> ScoreRow:
    import torch

    from .. import proxies as _builtin  # noqa: F401  (registers the built-in proxies)
    from ..proxies.registry import ProxyContext, run_proxy

    device = torch.device(req.device)
    ctx = ProxyContext(build=functools.partial(req.target.build, num_classes=req.num_classes,
                                             resolution=req.resolution),
                       resolution=req.resolution, batch_size=req.batch_size, repeats=req.repeats, device=device,
                       seed=req.seed, num_classes=req.num_classes, flops=req.flops, params=req.params,
                       progress=progress, target=req.target, data=req.data)
    row = ScoreRow()
    shared: Dict[str, object] = {}  # family name -> its ProxyResult or the exception it raised
    for name in req.proxies:
        try:
            fam, key = family(name)
            result = None
            if fam is not None:
                if fam not in shared:
                    try:
                        shared[fam] = run_proxy(fam, ctx)
                    except KeyboardInterrupt:
                        raise
                    except Exception as e:  # noqa: BLE001 -- recorded for every member below
                        shared[fam] = e
                r = shared[fam]
                if isinstance(r, Exception):
                    raise r
                if key in r.sub_scores:
                    result = r
                    value = float(r.sub_scores[key])
            if result is None:
                if name not in shared:  # a family run by a member before stands for itself too
                    shared[name] = run_proxy(name, ctx)
                result = shared[name]
                if isinstance(result, Exception):
                    raise result
                value = float(result.value)
            if math.isnan(value):
                raise FloatingPointError(f"proxy {name!r} produced NaN")
            row.values[name] = value
            row.sub_scores[name] = {k: float(v) for k, v in result.sub_scores.items()}
            row.degenerate[name] = int(result.degenerate)
            row.seconds[name] = float(result.seconds)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 -- a failed proxy is recorded, the caller decides
            if device.type == "cuda":
                torch.cuda.empty_cache()
            row.errors[name] = f"{type(e).__name__}: {e}"[:500]
    return row


__all__ = ["run_request", "family", "check_request_proxies", "prepare_worker"]
