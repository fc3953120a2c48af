"""Zero-cost proxies: a registry of named functions ProxyContext -> ProxyResult."""
from .registry import ProxyContext, ProxyResult, ProxySpec, available_proxies, get_proxy, register_proxy, run_proxy

__all__ = ["ProxyContext", "ProxyResult", "ProxySpec", "available_proxies", "get_proxy", "register_proxy", "run_proxy"]
