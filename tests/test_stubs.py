"""The checked-in type stubs of the compiled modules name exactly what the modules export.

They are generated (pybind11-stubgen, see their first line) and go stale silently when a
binding is added or renamed; this catches it. CUDA-only functions (``*_cuda``) are in the
stubs of a CUDA build and absent from a module compiled without nvcc.
"""
import ast
import importlib
from pathlib import Path

import pytest

import zsnas

STUB_DIR = Path(zsnas.__file__).parent


def _stub_all(name: str) -> set:
    tree = ast.parse((STUB_DIR / f"{name}.pyi").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "__all__":
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{name}.pyi has no __all__")


@pytest.mark.parametrize("name", ["_core", "_kernels"])
def test_stub_names_match_the_compiled_module(name):
    module = importlib.import_module(f"zsnas.{name}")
    exported = {n for n in dir(module) if not n.startswith("_")}
    stubbed = _stub_all(name)
    cuda_only = {n for n in stubbed if n.endswith("_cuda")}
    assert exported - stubbed == set(), f"regenerate {name}.pyi: missing {sorted(exported - stubbed)}"
    assert stubbed - exported - cuda_only == set(), f"regenerate {name}.pyi: stale {sorted(stubbed - exported)}"
