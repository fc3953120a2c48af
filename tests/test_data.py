"""zsnas.data (--dataset): real images and labels for the data-fed proxies. Batches against the
images normalised by hand, proxy values against the proxy functions on those images, and the
cache and bench settings that keep data-fed scores apart from noise-fed ones."""
import json
import os
import pickle

import numpy as np
import pytest
import torch

import zsnas
from zsnas import data as D
from zsnas import evaluate as ev
from zsnas.errors import ProxyFailed
from zsnas.nn.nb201 import nb201_network
from zsnas.proxies import ProxyContext
from zsnas.proxies import classic as C

CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|"


def _cifar10(folder, n_per_batch=20, seed=0):
    """A CIFAR-10 folder in the python format (5 training batches), and its raw images and labels."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    images, labels = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        with open(os.path.join(folder, f"data_batch_{i}"), "wb") as fh:
            pickle.dump({b"data": x, b"labels": y}, fh)
        images.append(x)
        labels += y
    return np.concatenate(images).reshape(-1, 3, 32, 32), np.array(labels)


@pytest.fixture
def cifar(tmp_path):
    folder = str(tmp_path / "cifar-10-batches-py")
    return folder, _cifar10(folder)


def _ctx(data, **kw):
    kw = dict(dict(batch_size=8, resolution=32, seed=3), **kw)
    return ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), data=data, **kw)


def test_a_cifar10_batch_is_the_drawn_images_normalised_as_nas_bench_201(cifar):
    folder, (raw, labels) = cifar
    ctx = _ctx(folder)
    x, y = C.batch(ctx)
    idx = torch.randperm(100, generator=C._cpu_generator(ctx, C.SALT_INPUT))[:8].numpy()
    mean = np.array([125.3, 123.0, 113.9]).reshape(1, 3, 1, 1) / 255
    std = np.array([63.0, 62.1, 66.7]).reshape(1, 3, 1, 1) / 255
    np.testing.assert_allclose(x.numpy(), (raw[idx] / 255 - mean) / std, rtol=1e-5, atol=1e-5)
    assert y.tolist() == labels[idx].tolist() and len(set(idx.tolist())) == 8  # without replacement
    x2, _ = C.batch(ctx, C.SALT_INPUT2, C.SALT_LABELS2)  # zico's second batch: other images
    assert not torch.equal(x, x2)
    assert torch.equal(C.batch(ctx)[0], x)  # reproducible from the seed


@pytest.mark.parametrize("protocol", [2, 5])  # the official archive's (Python 2) and today's highest
def test_cifar100_reads_the_fine_labels(tmp_path, protocol):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    x = np.full((4, 3072), 200, dtype=np.uint8)
    with open(folder / "train", "wb") as fh:
        pickle.dump({b"data": x, b"fine_labels": [7, 70, 99, 0], b"coarse_labels": [1, 2, 3, 4]}, fh, protocol=protocol)
    images, y = D.load(str(folder))
    assert y.tolist() == [7, 70, 99, 0]
    want = (200 / 255 - np.array([129.3, 124.1, 112.4]) / 255) / (np.array([68.2, 65.4, 70.4]) / 255)
    np.testing.assert_allclose(images[0, :, 0, 0].numpy(), want, rtol=1e-5)


def test_an_npz_of_nhwc_uint8_images_is_transposed_and_standardised_per_channel(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (30, 8, 8, 3), dtype=np.uint8)
    p = str(tmp_path / "d.npz")
    np.savez(p, x=x, y=np.arange(30) % 4)
    images, y = D.load(p)
    assert images.shape == (30, 3, 8, 8) and y.tolist() == (np.arange(30) % 4).tolist()
    f = x.astype(np.float64) / 255
    want = (f - f.mean(axis=(0, 1, 2))) / f.std(axis=(0, 1, 2))
    np.testing.assert_allclose(images.numpy(), want.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-5)


def test_data_fed_proxies_score_the_drawn_images_and_the_others_ignore_them(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 3, 8, 8)).astype(np.float32)  # float images are taken as they are
    y = rng.integers(0, 10, 40)
    p = str(tmp_path / "d.npz")
    np.savez(p, x=x, y=y)
    kw = dict(resolution=8, batch_size=6, seed=4, num_classes=10)
    fed = zsnas.score(CELL, proxies=["snip", "zen", "synflow"], data=p, **kw)
    noise = zsnas.score(CELL, proxies=["snip", "zen", "synflow"], **kw)
    ctx = _ctx(p, resolution=8, batch_size=6, seed=4)
    idx = torch.randperm(40, generator=C._cpu_generator(ctx, C.SALT_INPUT))[:6]
    want = C.snip_score(C.prepare(ctx), torch.from_numpy(x)[idx], torch.from_numpy(y)[idx]).value
    assert fed["snip"].value == pytest.approx(want, rel=1e-6) and fed["snip"].value != noise["snip"].value
    # Zen-score and synflow take their own inputs (Gaussian, all-ones) by definition
    assert fed["zen"].value == noise["zen"].value and fed["synflow"].value == noise["synflow"].value
    assert any(p in n for n in fed.notes)


def test_data_that_does_not_fit_the_network_is_an_error_naming_the_problem(cifar, tmp_path):
    folder, _ = cifar
    cases = [(dict(resolution=16), "3×32×32 images but the network takes 3×16×16: score at --resolution 32"),
             (dict(num_classes=5), "labels up to 9 but the network has 5 classes: give --num-classes 10"),
             (dict(batch_size=101), "holds 100 images, fewer than the batch size 101")]
    for kw, msg in cases:
        with pytest.raises(D.DataError, match=msg):
            C.batch(_ctx(folder, **kw))
    with pytest.raises(ProxyFailed, match="snip.*DataError.*--resolution 32"):
        zsnas.score(CELL, proxies=["snip"], resolution=16, data=folder)
    bad = str(tmp_path / "bad.npz")
    np.savez(bad, images=np.zeros((2, 3, 4, 4)))
    for path, msg in [(bad, r"needs arrays 'x' \(images\) and 'y'"), (str(tmp_path / "none"), "does not exist"),
                      (str(tmp_path), "neither CIFAR-10"), (__file__, "give a CIFAR-10/100 python folder or an .npz")]:
        with pytest.raises(D.DataError, match=msg):
            D.load(D.resolve(path))


def test_data_keys_the_score_cache_and_leaves_noise_keys_as_they_were(cifar):
    from zsnas.scoring.cache import proxy_key
    from zsnas.scoring.request import ScoreRequest
    from zsnas.targets import resolve_target

    folder, _ = cifar
    req = ScoreRequest(target=resolve_target(CELL), proxies=("snip",), resolution=32, num_classes=10, batch_size=8)
    plain = json.loads(proxy_key(req, "snip"))
    fed = json.loads(proxy_key(ScoreRequest(**{**req.__dict__, "data": D.resolve(folder)}), "snip"))
    assert len(plain) == 10 and fed[:10] == plain and fed[10] == "data:" + D.fingerprint(D.resolve(folder))
    other = folder + "-2"
    _cifar10(other, seed=1)
    assert D.fingerprint(D.resolve(other)) != D.fingerprint(D.resolve(folder))


def test_a_bench_run_keeps_its_data_in_its_settings_and_refuses_to_resume_on_other_data(cifar, tmp_path):
    folder, _ = cifar
    csv_path = tmp_path / "cells.csv"
    csv_path.write_text(f"index,arch_str,acc\n1,{CELL},90.0\n2,|skip_connect~0|+|none~0|none~1|+|none~0|none~1|"
                        f"skip_connect~2|,50.0\n")
    out = str(tmp_path / "run")
    kw = dict(proxies=["snip"], out=out, batch_size=4, resolution=32, plots=False, progress=False)
    ev.evaluate(str(csv_path), data=folder, **kw)
    with open(os.path.join(out, "config.json")) as fh:
        settings = json.load(fh)["settings"]
    assert settings["data"] == {"path": D.resolve(folder), "sha256": D.fingerprint(D.resolve(folder))}
    with pytest.raises(ValueError, match="holds scores made with settings"):
        ev.evaluate(str(csv_path), **kw)  # noise on a data run
    other = str(tmp_path / "other")
    _cifar10(other, seed=5)
    with pytest.raises(ValueError, match="holds scores made with settings"):
        ev.evaluate(str(csv_path), data=other, **kw)


def test_tenas_crops_are_3x3_windows_of_one_channel_of_the_images(cifar):
    folder, _ = cifar
    x, _ = D.load(D.resolve(folder))
    g = torch.Generator().manual_seed(0)
    crops = D.draw_crops(D.resolve(folder), 200, 3, g)
    assert crops.shape == (200, 1, 3, 3)
    # every crop is some window of some channel of some image (found by search), and they vary
    windows = x.unfold(2, 3, 1).unfold(3, 3, 1).reshape(-1, 3, 3)  # every (image, channel, row, col) window
    for c in crops[:20, 0]:
        assert bool((windows == c).flatten(1).all(1).any())
    assert len({tuple(c.flatten().tolist()) for c in crops}) == 200
    ctx = _ctx(D.resolve(folder), target=zsnas.targets.resolve_target(CELL))
    fed = zsnas.proxies.run_proxy("linear_regions_tenas", ctx)
    noise = zsnas.proxies.run_proxy("linear_regions_tenas", _ctx(None, target=ctx.target))
    assert fed.value != noise.value and fed.sub_scores["inputs"] == 3000


def test_a_search_scores_its_candidates_on_the_data_and_refuses_changed_data_on_resume(cifar, tmp_path):
    from zsnas.search import search

    folder, _ = cifar
    out = tmp_path / "s"
    kw = dict(space="res", budget={"params": 1e6, "layers": 18}, proxy="snip", strategy="zen", population=4,
              batch_size=8, seed=1, device="cpu", progress=False)
    run = search(iterations=3, out=str(out), data=folder, **kw)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"] == D.settings(folder)
    ok = [h for h in run.history if h.status == "ok"]
    assert ok
    for h in ok[:2]:  # the value a candidate got is snip on the data, as zsnas.score gives it
        want = zsnas.score(h.structure, proxies=["snip"], resolution=32, num_classes=10, batch_size=8, seed=1,
                           data=folder)["snip"].value
        assert h.scores["snip"] == pytest.approx(want, rel=1e-6)
    other = str(tmp_path / "other")
    _cifar10(other, seed=9)
    with pytest.raises(ValueError, match="data: the run has"):
        search(iterations=4, out=str(out), resume=True, data=other, **kw)
    _cifar10(folder, seed=9)  # the run's own data rewritten under it
    with pytest.raises(D.DataError, match="changed since the run began"):
        search(iterations=4, out=str(out), resume=True, **kw)


def test_a_space_search_and_an_exact_front_take_the_data(cifar, tmp_path):
    from zsnas.space_search import exact_front, pareto_search

    folder, _ = cifar
    run = pareto_search("nb201", "snip,-flops", iterations=3, seed=2, out=tmp_path / "p", batch_size=8,
                        progress=False, device="cpu", data=folder)
    assert run.config.data == D.settings(folder) and run.config.scoring()["data"] == D.settings(folder)
    r = next(h for h in run.history if h["status"] == "ok")
    want = zsnas.score(r["arch"], proxies=["snip"], batch_size=8, seed=2, data=folder)["snip"].value
    assert r["snip"] == pytest.approx(want, rel=1e-6)
    with pytest.raises(D.DataError, match="labels up to 9 but the network has 5 classes"):
        exact_front("nb201", "snip,-flops", num_classes=5, batch_size=8, progress=False, data=folder)


def test_a_cifar_pickle_that_asks_for_anything_but_arrays_is_refused(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    with open(folder / "train", "wb") as fh:
        pickle.dump({b"data": Boom(), b"fine_labels": [0]}, fh)
    with pytest.raises(D.DataError, match="refused: unpickling it could run code"):
        D.load(str(folder))
    assert not (tmp_path / "pwned").exists()
