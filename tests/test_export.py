"""zsnas.export (issue 11, first part): ONNX with BN folded and a dynamic batch, checked in
onnxruntime; INT8 Q/DQ (symmetric, per-channel weights) with BN statistics calibrated first."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'zsnas[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'zsnas[onnx]')")
from onnx import numpy_helper  # noqa: E402

import zsnas  # noqa: E402
from zsnas.export.int8 import calibrate_bn, calibration_data, weight_noise_cosine  # noqa: E402
from zsnas.targets import resolve_target  # noqa: E402

SMALL = "SuperConvK3BNRELU(3,8,2,1)SuperResK1K3K1(8,16,2,8,1)SuperResIDWE2K3(16,24,2,16,1)SuperConvK1BNRELU(24,32,1,1)"
CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_onnx(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


@pytest.mark.parametrize("name", [SMALL, "zennet-cifar-1.0m", CELL], ids=["structure", "zoo", "nb201"])
def test_onnx_export_matches_torch_at_any_batch_with_bn_folded(tmp_path, name):
    path = tmp_path / "net.onnx"
    t = resolve_target(name)
    model = t.build(residual=True).eval()
    report = zsnas.export.onnx(model, path, resolution=t.resolution, num_classes=t.num_classes)
    x = torch.randn(5, 3, t.resolution, t.resolution, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(x).numpy()
    got = run_onnx(path, x.numpy())  # batch 5: neither of the sizes export() checked
    assert got.shape == (5, t.num_classes)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    ran = []  # the convolutions a forward pass runs (an NB201 cell skips nodes the output ignores)
    hooks = [m.register_forward_hook(lambda mod, i, o: ran.append(mod)) for m in model.modules()
             if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x[:1])
    for h in hooks:
        h.remove()
    bns = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    if name == CELL:  # NB201's last BN follows no convolution
        # (a cell runs same-shape edges leaving one node as one stacked convolution: fewer Conv nodes)
        assert 0 < report.ops["Conv"] <= len(ran)
        assert report.ops.get("BatchNormalization") == 1 and report.notes
    else:
        assert report.ops["Conv"] == len(ran)
        assert "BatchNormalization" not in report.ops and bns > 0  # every BN folded into its conv


def test_onnx_export_guards(tmp_path):
    with pytest.raises(ValueError, match="batch must be 'dynamic' or a whole number"):
        zsnas.export.onnx(SMALL, tmp_path / "x.onnx", batch=0)
    with pytest.raises(ValueError, match="shrinks the feature map below 1 pixel"):
        zsnas.export.onnx(SMALL, tmp_path / "x.onnx", resolution=4)
    assert not (tmp_path / "x.onnx").exists()
    fixed = zsnas.export.onnx(SMALL, tmp_path / "f.onnx", batch=4, resolution=32, num_classes=10)
    dims = onnx.load(tmp_path / "f.onnx").graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 3, 32, 32] and fixed.batch == 4


def test_bn_calibration_sets_the_running_statistics_to_the_data():
    model = resolve_target(SMALL).build(residual=True, num_classes=10)
    data = np.random.default_rng(0).standard_normal((12, 3, 32, 32)).astype(np.float32) * 3 + 1
    first_bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    calibrate_bn(model, data, batch=4)
    assert not model.training
    with torch.no_grad():
        pre = first_conv(torch.from_numpy(data))  # the first BN's input
    # cumulative average over three batches of 4 = the mean over all 12 samples
    torch.testing.assert_close(first_bn.running_mean, pre.mean((0, 2, 3)), rtol=1e-5, atol=1e-5)
    batch_vars = torch.stack([pre[i:i + 4].var((0, 2, 3), unbiased=True) for i in range(0, 12, 4)])
    torch.testing.assert_close(first_bn.running_var, batch_vars.mean(0), rtol=1e-4, atol=1e-5)
    assert first_bn.momentum == 0.1  # restored


def test_int8_is_symmetric_per_channel_qdq_and_agrees_with_fp32(tmp_path):
    path = tmp_path / "net.int8.onnx"
    data = np.random.default_rng(3).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)  # NHWC images
    np.save(tmp_path / "calib.npy", data)
    report = zsnas.export.int8(SMALL, path, calibration=str(tmp_path / "calib.npy"), samples=32, resolution=32,
                               num_classes=10)
    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes = model.graph.node
    q = [n for n in nodes if n.op_type == "QuantizeLinear"]
    dq = [n for n in nodes if n.op_type == "DequantizeLinear"]
    assert q and dq
    producers = {o: n for n in nodes for o in n.output}
    biases = {producers[n.input[2]].name for n in nodes if n.op_type in ("Conv", "Gemm") and len(n.input) > 2}
    for n in q + dq:  # symmetric: every zero point is 0; int8, but int32 for biases
        zp = inits[n.input[2]]
        assert not zp.any(), n.name
        assert zp.dtype == (np.int32 if n.name in biases else np.int8), n.name
    # per-channel weights: each conv's weight DequantizeLinear has one scale per output channel
    convs = [n for n in nodes if n.op_type == "Conv"]
    for conv in convs:
        w = producers[conv.input[1]]
        assert w.op_type == "DequantizeLinear"
        weight, scale = inits[w.input[0]], inits[w.input[1]]
        assert weight.dtype == np.int8 and scale.shape == (weight.shape[0],), conv.name
    # fp32 and int8 agree on calibrated data (the BN statistics are the data's)
    x = calibration_data(str(tmp_path / "calib.npy"), 40, 32)[32:]
    got = run_onnx(path, x)
    assert got.shape == (8, 10)
    assert any("logit cosine" in n for n in report.notes)
    cos = float(report.notes[1].split("cosine ")[1].split(",")[0])
    assert cos > 0.99


def test_calibration_data_sources(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    x = calibration_data(str(folder), 5, 32)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.float32
    img = np.asarray(Image.open(folder / "0.png").convert("RGB").resize((32, 32), Image.BILINEAR))
    want = (img.astype(np.float32) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(x[0], want.transpose(2, 0, 1), rtol=1e-5, atol=1e-5)
    noise = calibration_data(None, 4, 16, seed=1)
    assert noise.shape == (4, 3, 16, 16) and np.array_equal(noise, calibration_data(None, 4, 16, seed=1))
    with pytest.raises(ValueError, match="3 channels"):
        calibration_data(np.zeros((2, 4, 8, 8), np.float32), 2, 8)
    with pytest.raises(ValueError, match="holds no images"):
        calibration_data(str(tmp_path), 2, 8)


def test_cli_export(tmp_path):
    out = tmp_path / "n.onnx"
    r = subprocess.run([sys.executable, "-m", "zsnas.cli", "export", SMALL, "-r", "32", "-c", "10", "--out", str(out)],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    convs = sum(isinstance(m, nn.Conv2d) for m in resolve_target(SMALL).build().modules())
    assert f"Conv {convs}," in r.stdout and "BatchNormalization" not in r.stdout and out.exists()
    # the same seed, the same weights: an export is reproducible
    again = tmp_path / "again.onnx"
    zsnas.export.onnx(SMALL, again, resolution=32, num_classes=10)
    w = [numpy_helper.to_array(i) for i in onnx.load(out).graph.initializer]
    w2 = [numpy_helper.to_array(i) for i in onnx.load(again).graph.initializer]
    assert all(np.array_equal(a, b) for a, b in zip(w, w2)) and len(w) == len(w2)
    if importlib.util.find_spec("tensorrt") is None:  # what every machine of ours has
        r = subprocess.run([sys.executable, "-m", "zsnas.cli", "export", SMALL, "--format", "tensorrt", "--out",
                            str(tmp_path / "n.plan")], capture_output=True, text=True, env=ENV, timeout=120)
        assert r.returncode == 1 and "pip install tensorrt" in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "n.plan.onnx").exists()  # refused before any work
    r = subprocess.run([sys.executable, "-m", "zsnas.cli", "export", SMALL, "-r", "32", "-c", "10", "--out",
                        str(tmp_path / "t.onnx"), "--time", "--time-batch", "4", "--runs", "5"],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0 and "onnxruntime-cpu, batch 4: median" in r.stdout, r.stderr


def test_the_timing_harness_is_trtexec_style():
    from zsnas.export.profile import time_runs

    calls, fake = [], iter([5.0, 1.0, 3.0, 2.0, 4.0, 9.0, 7.0, 6.0, 8.0, 10.0])
    t = time_runs(lambda: calls.append(1), backend="x", batch=8, runs=10, warmup=3,
                  timed=lambda fn: (fn(), next(fake))[1])
    assert len(calls) == 13  # warm-up runs are run, not timed
    assert t.median_ms == 5.5 and t.p90_ms == pytest.approx(np.percentile(np.arange(1, 11), 90))
    assert (t.runs, t.warmup, t.batch) == (10, 3, 8)
    with pytest.raises(ValueError, match="runs >= 1"):
        time_runs(lambda: None, backend="x", batch=1, runs=0)


def test_timing_onnxruntime_and_torch_on_the_same_network(tmp_path):
    from zsnas.export.profile import time_onnxruntime, time_torch

    zsnas.export.onnx(SMALL, tmp_path / "n.onnx", resolution=32, num_classes=10)
    a = time_onnxruntime(str(tmp_path / "n.onnx"), batch=8, resolution=32, runs=7, warmup=2)
    b = time_torch(resolve_target(SMALL).build(num_classes=10), batch=8, resolution=32, runs=7, warmup=2)
    for t in (a, b):
        assert t.runs == 7 and 0 < t.median_ms <= t.p90_ms and t.batch == 8
    assert a.backend == "onnxruntime-cpu" and b.backend == "torch-cpu"


def test_tensorrt_without_tensorrt_names_what_to_install(monkeypatch):
    from zsnas.export import tensorrt

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(ValueError, match="pip install tensorrt"):
        tensorrt.build_engine("x.onnx", "x.plan")
    with pytest.raises(ValueError, match="pip install tensorrt"):
        tensorrt.time_engine("x.plan")


# ---- acceptance over many networks (the long parts run with -m slow) ------------------------------
def _export_cases(n_res, n_mbv2, n_cells):
    from zsnas.spaces import Rng, get_space

    cases = []
    for space, n in (("res", n_res), ("mbv2", n_mbv2)):
        sp, rng = get_space(space), Rng(7)
        cases += [(str(sp.sample(rng)), sp.resolution, sp.num_classes) for _ in range(n)]
    import csv
    from pathlib import Path

    rows = list(csv.DictReader(open(Path(__file__).parent.parent.parent / "shared/data/nb201_dev.csv")))
    cases += [(r[next(k for k in r if "arch" in k.lower())], 32, 10) for r in rows[:n_cells]]
    return cases


def _check_exports(tmp_path, cases):
    from zsnas.export.onnx import build_for_export

    worst = 0.0
    for i, (name, res, nc) in enumerate(cases):
        path = tmp_path / f"n{i}.onnx"
        zsnas.export.onnx(name, path, resolution=res, num_classes=nc, seed=i)
        model, _, _, _ = build_for_export(name, res, nc, seed=i)  # the same seeded weights
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for b in (1, 7):
            x = torch.randn(b, 3, res, res, generator=torch.Generator().manual_seed(i))
            with torch.no_grad():
                want = model(x).numpy()
            got = session.run(None, {"input": x.numpy()})[0]
            err = float(np.abs(got - want).max() / np.abs(want).max())
            assert err <= 1e-4, (name, b, err)
            worst = max(worst, err)
        path.unlink()
    print(f"{len(cases)} networks, batch 1 and 7: worst relative logit error {worst:.2e}")


def test_random_networks_of_each_space_and_nb201_cells_export_exactly(tmp_path):
    _check_exports(tmp_path, _export_cases(8, 2, 4))


@pytest.mark.slow
def test_fifty_networks_of_each_space_resnet50_and_twenty_cells_export_exactly(tmp_path):
    _check_exports(tmp_path, _export_cases(50, 50, 20) + [("resnet50", 224, 1000)])


def _int8_cosines(tmp_path, n):
    from zsnas.spaces import Rng, get_space

    sp, rng = get_space("res"), Rng(11)
    cos = []
    for i in range(n):
        rep = zsnas.export.int8(str(sp.sample(rng)), tmp_path / f"q{i}.onnx", samples=32, seed=i)
        cos.append(rep.checks["logit_cosine"])
    print("int8 vs fp32 logit cosine over", n, "random res networks: min", f"{min(cos):.4f}", "median",
          f"{float(np.median(cos)):.4f}", "max", f"{max(cos):.4f}")
    return cos


def test_int8_agrees_with_fp32_on_random_networks_after_bn_calibration(tmp_path):
    assert min(_int8_cosines(tmp_path, 3)) >= 0.99


@pytest.mark.slow
def test_int8_agrees_with_fp32_on_ten_random_networks(tmp_path):
    assert min(_int8_cosines(tmp_path, 10)) >= 0.99


def test_weight_noise_cosine_matches_the_hand_derived_value_and_restores_the_weights():
    # One linear layer, each row [127, 1, ..., 1]: the int8 step is 1, so every weight moves by
    # U(-1/2, 1/2); the input [0, 1, ..., 1] hides the first column, so each logit is
    # (d - 1) + δ with Var δ = (d - 1) / 12 and, for constant logits, 1 - cos ≈ Var δ / (2 (d - 1)²)
    # = 1 / (24 (d - 1)).
    d, k = 101, 4000
    w = torch.ones(k, d)
    w[:, 0] = 127
    model = nn.Sequential(nn.Linear(d, k, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(w)
    x = np.ones((1, d), dtype=np.float32)
    x[0, 0] = 0
    got = 1 - weight_noise_cosine(model, x, seed=3)
    assert got == pytest.approx(1 / (24 * (d - 1)), rel=0.1)
    assert torch.equal(model[0].weight, w)


def test_int8_reaches_the_bound_the_random_networks_own_sensitivity_sets(tmp_path):
    # Randomly initialised BN networks are chaotic: int8's cosine is of the size of fp32's own under
    # int8-sized weight noise, and should not fall far below it.
    from zsnas.spaces import Rng, get_space

    sp, rng = get_space("res"), Rng(11)
    for i in range(3):
        rep = zsnas.export.int8(str(sp.sample(rng)), tmp_path / f"b{i}.onnx", samples=32, resolution=32,
                                num_classes=10, seed=i)
        assert rep.checks["logit_cosine"] >= rep.checks["weight_noise_cosine"] - 0.03
        assert any("own sensitivity" in n for n in rep.notes)


def test_int8_calibration_methods_are_named_and_checked(tmp_path):
    rep = zsnas.export.int8(SMALL, tmp_path / "p.onnx", samples=16, resolution=32, num_classes=10,
                            method="percentile")
    assert rep.checks["logit_cosine"] > 0.9
    with pytest.raises(ValueError, match="calibration method must be one of minmax, percentile, entropy"):
        zsnas.export.int8(SMALL, tmp_path / "q.onnx", method="kl")
