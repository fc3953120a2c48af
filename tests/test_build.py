"""Packaging promises: the core imports without torch; the compiled modules do not link libtorch."""
import subprocess
import sys

import zsnas


def test_core_and_arch_import_without_torch():
    code = ("import sys, zsnas; a = zsnas.Arch('SuperConvK3BNRELU(3,8,2,1)'); "
            "assert a.params(10) == 322; assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_compiled_modules_do_not_link_libtorch_or_dynamic_cudart():
    from zsnas import _core, _kernels

    for mod in (_core, _kernels):
        out = subprocess.run(["ldd", mod.__file__], capture_output=True, text=True).stdout
        assert "libtorch" not in out and "libc10" not in out, out
        assert "libcudart.so" not in out, out  # cudart is linked statically


def test_info_reports_build():
    info = zsnas.info()
    assert set(info) >= {"zsnas", "cuda_compiled", "cuda_archs", "torch", "cuda_available"}
    if info["cuda_compiled"]:
        assert set(info["cuda_archs"].split(",")) == {"75", "80", "90"}
