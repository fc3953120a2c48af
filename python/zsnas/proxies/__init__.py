"""Zero-cost proxies: a registry of named functions ProxyContext -> ProxyResult."""
from .registry import ProxyContext, ProxyResult, ProxySpec, available_proxies, get_proxy, register_proxy, run_proxy

# The built-in proxies register themselves on import.
from . import az, classic, further, zen  # noqa: E402,F401
from .rank import az_nas_scores, rank_aggregate  # noqa: E402

__all__ = ["ProxyContext", "ProxyResult", "ProxySpec", "available_proxies", "get_proxy", "register_proxy", "run_proxy", "rank_aggregate", "az_nas_scores"]
