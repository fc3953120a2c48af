"""Scoring at scale (issue 10): one scorer contract over local / pool / Ray backends, the same
history whatever the backend, dead workers' requests re-run, the persistent score cache."""
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import register_interrupting_proxy

import zsnas
from zsnas.scoring.backends import get_scorer
from zsnas.scoring.cache import CacheError, ScoreCache
from zsnas.scoring.request import ScoreRequest
from zsnas.search import search
from zsnas.targets import resolve_target
from zsnas.zoo import ZOO

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
DATA = Path(__file__).parent.parent.parent / "shared/data/nb201_dev.csv"
SMALL = "SuperConvK3BNRELU(3,8,2,1)SuperResK1K3K1(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)"

# A proxy whose worker dies (SIGKILL, as the kernel's OOM killer does) when it meets the network
# with a given parameter count -- once: a marker file remembers that it happened.
KILLER = textwrap.dedent("""
    import os, signal
    from zsnas.proxies import register_proxy

    HERE = os.path.dirname(os.path.abspath(__file__))  # workers of any backend read their orders here

    @register_proxy("killer_params")
    def killer_params(ctx):
        with open(os.path.join(HERE, "kill_params")) as f:
            if ctx.params == int(f.read()):
                try:
                    os.close(os.open(os.path.join(HERE, "killed"), os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return float(ctx.params)
                os.kill(os.getpid(), signal.SIGKILL)
        return float(ctx.params)
""")


def kill_at(killer, params):
    (killer.parent / "kill_params").write_text(str(params))


def params_of(out, candidate):
    import csv

    return int(list(csv.DictReader(open(Path(out) / "history.csv")))[candidate]["params"])


def history(out):
    return (Path(out) / "history.csv").read_bytes()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'zsnas[ray]')")
    from zsnas.scoring.backends.ray import start_local_cluster

    start_local_cluster(2, str(tmp_path_factory.mktemp("ray")))
    yield ray
    ray.shutdown()


@pytest.fixture
def killer(tmp_path):
    d = tmp_path / "killer"
    d.mkdir()
    p = d / "killer.py"
    p.write_text(KILLER)
    return p


ZEN_SEARCH = dict(proxy="zen", iterations=16, batch=4, batch_size=8, seed=3, population=16, progress=False,
                  cache=None)


def _listening_sockets_of_this_process_tree():
    """(pid, local address) of every listening TCP socket owned by this process or a descendant,
    read from /proc (no psutil): the inode of each LISTEN row, then which process holds it."""
    import socket
    import struct

    listening = {}
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A":  # TCP_LISTEN
                continue
            ip_hex = f[1].split(":")[0]
            raw = b"".join(struct.pack("<I", int(ip_hex[i:i + 8], 16)) for i in range(0, len(ip_hex), 8))
            listening[f[9]] = socket.inet_ntop(family, raw)
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += children.get(pid, [])
    found = []
    for pid in tree:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in listening:
                found.append((pid, listening[link[8:-1]]))
    return found


def test_the_local_ray_cluster_listens_on_loopback_only(ray_cluster):
    sockets = _listening_sockets_of_this_process_tree()
    assert len(sockets) >= 3, sockets  # the GCS, the raylet and this driver's core worker at least
    assert all(addr in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for _, addr in sockets), sockets


def test_rows_do_not_depend_on_the_backend(ray_cluster):
    target = resolve_target(SMALL)
    reqs = [ScoreRequest(target=target, proxies=("zen", "az_trainability", "params"), resolution=32, num_classes=10,
                         batch_size=8, seed=s) for s in range(5)]
    want = get_scorer("local").score(reqs)
    assert want[0].values["params"] == zsnas.Arch(SMALL).params(num_classes=10)
    assert len({r.values["zen"] for r in want}) == 5  # the seed reaches the proxy
    for backend, workers in (("pool", 2), ("ray", 2)):
        with get_scorer(backend, workers=workers) as scorer:
            got = scorer.score(reqs)
        assert [r.values for r in got] == [r.values for r in want], backend
        assert [r.sub_scores for r in got] == [r.sub_scores for r in want], backend


def test_score_on_a_backend_gives_the_local_values(ray_cluster):
    local = zsnas.score(SMALL, proxies=["zen", "synflow"], repeats=2, device="cpu")
    for backend in ("pool", "ray"):
        other = zsnas.score(SMALL, proxies=["zen", "synflow"], repeats=2, device="cpu", backend=backend)
        assert {n: r.value for n, r in other.results.items()} == {n: r.value for n, r in local.results.items()}


def test_same_seed_and_batch_give_the_same_zen_search_on_every_backend(tmp_path, ray_cluster):
    search(out=tmp_path / "local", **ZEN_SEARCH)
    want = history(tmp_path / "local")
    for name, kw in (("pool1", dict(backend="pool", workers=1)), ("pool2", dict(backend="pool", workers=2)),
                     ("ray2", dict(backend="ray", workers=2))):
        search(out=tmp_path / name, **kw, **ZEN_SEARCH)
        assert history(tmp_path / name) == want, name
    # batch is part of the run: another batch is another (valid) history.
    other = search(out=tmp_path / "b1", **{**ZEN_SEARCH, "batch": 1})
    assert other.counters["iteration"] == 16 and history(tmp_path / "b1") != want


def test_a_pool_worker_killed_mid_batch_changes_nothing(tmp_path, killer):
    kw = dict(proxy="killer_params", iterations=40, batch=8, strategy="az", top_k=8, seed=1, imports=[str(killer)],
              progress=False, cache=None)
    kill_at(killer, -1)  # never: the reference run
    search(out=tmp_path / "local", **kw)
    kill_at(killer, params_of(tmp_path / "local", 10))  # a worker dies on candidate 10, in the second batch
    run = search(out=tmp_path / "pool", backend="pool", workers=2, **kw)
    assert (killer.parent / "killed").exists()  # it did die
    assert history(tmp_path / "pool") == history(tmp_path / "local")
    assert run.counters["failed"] == 0


def test_a_ray_actor_killed_mid_search_changes_nothing(tmp_path, killer, ray_cluster):
    kw = dict(proxy="killer_params", iterations=40, batch=8, strategy="az", top_k=8, seed=1, imports=[str(killer)],
              progress=False, cache=None)
    kill_at(killer, -1)
    search(out=tmp_path / "local", **kw)
    kill_at(killer, params_of(tmp_path / "local", 10))
    search(out=tmp_path / "ray", backend="ray", workers=2, **kw)
    assert (killer.parent / "killed").exists()
    assert history(tmp_path / "ray") == history(tmp_path / "local")


def test_bench_on_ray_matches_local(tmp_path, ray_cluster):
    kw = dict(proxies=["synflow", "params"], limit=6, plots=False, progress=False, cache=None)
    local = zsnas.evaluate.evaluate(str(DATA), out=str(tmp_path / "l"), **kw)
    on_ray = zsnas.evaluate.evaluate(str(DATA), out=str(tmp_path / "r"), backend="ray", workers=2, **kw)
    assert local["table"] == on_ray["table"]
    assert local["proxies"]["params"]["kendall"] == on_ray["proxies"]["params"]["kendall"]


def test_a_second_identical_search_rescores_nothing(tmp_path):
    cache = tmp_path / "shared.sqlite"
    kw = dict(proxy="zen", iterations=20, batch_size=8, seed=2, progress=False, cache=cache)
    first = search(out=tmp_path / "a", **kw)
    ok = sum(1 for e in first.history if e.status == "ok")
    assert first.cache == {"path": str(cache), "hits": 0, "misses": ok}
    second = search(out=tmp_path / "b", **kw)
    assert second.cache == {"path": str(cache), "hits": ok, "misses": 0}
    assert history(tmp_path / "a") == history(tmp_path / "b")
    assert "0 misses" in (tmp_path / "b" / "log.txt").read_text()
    # Another setting is another key: nothing is reused across it.
    third = search(out=tmp_path / "c", **{**kw, "batch_size": 16})
    assert third.cache["hits"] == 0


WRITER = textwrap.dedent("""
    import sys
    from zsnas.scoring.cache import ScoreCache
    c = ScoreCache(sys.argv[1])
    for i in range(300):
        c.put([(f"{sys.argv[2]}-{i}", {"value": float(i), "sub_scores": {}, "degenerate": 0, "seconds": 0.0})])
""")


def test_two_processes_writing_one_cache_lose_nothing(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ScoreCache(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, tag], env=ENV) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    c = ScoreCache(path)
    assert len(c) == 600
    got = c.get([f"a-{i}" for i in range(300)] + [f"b-{i}" for i in range(300)])
    assert sorted(v["value"] for v in got.values()) == sorted([float(i) for i in range(300)] * 2)


def test_damaged_or_foreign_cache_files_are_refused_by_name(tmp_path):
    path = tmp_path / "c.sqlite"
    c = ScoreCache(str(path))
    c.put([(f"k{i}", {"value": 1.0, "sub_scores": {}, "degenerate": 0, "seconds": 0.0}) for i in range(2000)])
    c.close()
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(CacheError, match=str(path)):
        c = ScoreCache(str(path))
        c.get([f"k{i}" for i in range(2000)])
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(CacheError, match=f"score cache {path} is damaged or not a zsnas score cache"):
        ScoreCache(str(path))
    foreign = tmp_path / "other.sqlite"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(CacheError, match="not a zsnas score cache"):
        ScoreCache(str(foreign))
    r = subprocess.run([sys.executable, "-m", "zsnas.cli", "search", "-n", "3", "--cache", str(foreign), "--out",
                        str(tmp_path / "o"), "--no-progress"], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 1 and "not a zsnas score cache" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "config.json").exists()  # refused before the run directory was written


def test_cached_values_are_plain_json():
    """No pickle: what the cache holds is readable text."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "c.sqlite")
        c = ScoreCache(path)
        c.put([("k", {"value": float("-inf"), "sub_scores": {"x": 1.5}, "degenerate": 1, "seconds": 0.1})])
        c.close()
        (text,) = sqlite3.connect(path).execute("SELECT result FROM scores").fetchone()
        assert json.loads(text) == {"value": "-inf", "sub_scores": {"x": 1.5}, "degenerate": 1, "seconds": 0.1}
        assert ScoreCache(path).get(["k"])["k"]["value"] == "-inf"


def test_backend_errors_are_clear():
    with pytest.raises(ValueError, match="unknown scoring backend 'gpu'"):
        get_scorer("gpu")
    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        get_scorer("pool", workers=0)


# ---- the public ask/tell API -------------------------------------------------------------------
def _score_remotely(req):
    """What a service's worker does: score the request it was handed."""
    row = get_scorer("local").score([req])[0]
    return row.values.get("zen"), row.error


def _drive(session, pool, batch, stop_after=None):
    told = 0
    while not session.finished and (stop_after is None or told < stop_after):
        cands = session.ask(batch)
        if not cands:
            break
        futures = {pool.submit(_score_remotely, session.request(c)): c for c in cands}
        from concurrent.futures import as_completed

        results = []
        for fut in as_completed(futures):  # finishes in any order
            value, error = fut.result()
            results.append((futures[fut].id, {"zen": value} if not error else None, error))
        session.tell(results)
        told += len(cands)


SESSION_SETTINGS = dict(proxy="zen", iterations=24, seed=5, batch_size=8, population=16, batch=4)


def test_ask_tell_from_a_thread_pool_gives_the_search_history(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    search(out=tmp_path / "s", progress=False, cache=None, **SESSION_SETTINGS)
    session = zsnas.SearchSession.create(**SESSION_SETTINGS)
    with ThreadPoolExecutor(4) as pool:
        _drive(session, pool, batch=4)
    e = session.engine
    assert e.csv_header() + e.csv_rows_range(0, len(e)) == history(tmp_path / "s").decode()
    assert session.run.best == zsnas.search.load_run(tmp_path / "s").best
    assert session.ask(4) == []  # the run is over


RESTORE = textwrap.dedent("""
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import zsnas
    sys.path.insert(0, sys.argv[3])
    from test_scale import _drive

    session = zsnas.SearchSession.restore(sys.argv[1])
    with ThreadPoolExecutor(4) as pool:
        _drive(session, pool, batch=4)
    e = session.engine
    open(sys.argv[2], "w").write(e.csv_header() + e.csv_rows_range(0, len(e)))
""")


def test_a_session_checkpoint_continues_identically_in_a_new_process(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    straight = zsnas.SearchSession.create(**SESSION_SETTINGS)
    with ThreadPoolExecutor(4) as pool:
        _drive(straight, pool, batch=4)
    half = zsnas.SearchSession.create(**SESSION_SETTINGS)
    with ThreadPoolExecutor(4) as pool:
        _drive(half, pool, batch=4, stop_after=12)
    half.save(tmp_path / "session.bin")
    out = tmp_path / "history.csv"
    subprocess.run([sys.executable, "-c", RESTORE, str(tmp_path / "session.bin"), str(out), str(Path(__file__).parent)],
                   check=True, env=ENV, timeout=300)
    e = straight.engine
    assert out.read_text() == e.csv_header() + e.csv_rows_range(0, len(e))


def test_session_guards():
    s = zsnas.SearchSession.create(proxy="zen", iterations=4, batch_size=8)
    with pytest.raises(ValueError, match="unknown setting"):
        zsnas.SearchSession.create(proxy="zen", iterationz=4)
    (c,) = s.ask(1)
    assert c.params == zsnas.Arch(c.structure).params(num_classes=10) and c.resolution == 32
    with pytest.raises(ValueError, match=f"candidate {c.id} has no value for zen"):
        s.tell([(c.id, {}, "")])
    s.tell([(c.id, None, "RuntimeError: out of memory on the service's GPU")])
    assert s.run.history[0].status == "failed" and "service's GPU" in s.run.history[0].error
    with pytest.raises(ValueError, match="not a zsnas search session"):
        zsnas.SearchSession.restore(b"hello")


# ---- two-stage search --------------------------------------------------------------------------
def test_two_stage_search_scores_only_the_best_fraction_of_each_batch(tmp_path):
    import csv

    run = search(proxy="zen", batch_size=8, iterations=48, batch=8, prefilter=("params", 0.25), seed=4,
                 out=tmp_path / "t", cache=None, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "t" / "history.csv")))
    assert run.counters["filtered"] == sum(r["status"] == "filtered" for r in rows) > 0
    batches = {}
    for r in rows:
        batches.setdefault(int(r["id"]) // 8, []).append(r)
    for group in batches.values():
        ok = [int(r["params"]) for r in group if r["status"] == "ok"]
        out = [r for r in group if r["status"] == "filtered"]
        assert len(ok) == -(-len(group) // 4)  # ceil(0.25 n)
        assert all(min(ok) >= int(r["params"]) for r in out)
        assert all(f"params {int(r['params'])} not in the best" in r["error"] and r["score_zen"] == "" for r in out)
    with pytest.raises(ValueError, match="give batch >= 2"):
        search(proxy="zen", iterations=4, prefilter=("params", 0.5), progress=False)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        search(proxy="zen", iterations=4, batch=4, prefilter=("params", 1.5), progress=False)


def test_two_stage_resume_after_an_interrupt_matches(tmp_path):
    from zsnas.proxies import register_proxy
    from zsnas.proxies.registry import _REGISTRY

    kw = dict(iterations=120, batch=6, prefilter=("synflow", 0.5), strategy="az", top_k=8, seed=2, batch_size=4,
              cache=None, progress=False)
    _REGISTRY.pop("test_ref2", None)
    register_proxy("test_ref2")(lambda ctx: float(ctx.params))
    search(proxy="test_ref2", out=tmp_path / "a", **kw)
    calls = register_interrupting_proxy("test_interrupt2", at=25)
    try:
        with pytest.raises(KeyboardInterrupt):
            search(proxy="test_interrupt2", out=tmp_path / "b", **kw)
        search(out=tmp_path / "b", resume=True, progress=False)
    finally:
        _REGISTRY.pop("test_interrupt2", None)
        _REGISTRY.pop("test_ref2", None)
    assert calls["n"] > 25
    a = history(tmp_path / "a").decode().replace("score_test_ref2", "score_test_interrupt2")
    assert history(tmp_path / "b").decode() == a


# ---- one resolver: every name the README lists works everywhere --------------------------------
NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"
README_NAMES = list(ZOO) + ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", NB201_CELL, SMALL]


def test_readme_names_are_the_ones_tested():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("Names accepted wherever a network is", 1)[1].split("\n\n", 1)[0]
    for name in list(ZOO) + ["resnet18", "resnet152"]:
        assert f"`{name}`" in section


@pytest.mark.parametrize("name", README_NAMES, ids=lambda n: n[:24])
def test_every_name_works_in_info_score_and_bench(tmp_path, name):
    from click.testing import CliRunner

    from zsnas.cli import main

    target = resolve_target(name)
    r = CliRunner().invoke(main, ["info", name, "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["params"] == target.params() and info["resolution"] == target.resolution
    rep = zsnas.score(name, proxies=["params"], device="cpu")
    assert rep["params"].value == info["params"] and rep.resolution == target.resolution
    table = tmp_path / "t.csv"
    table.write_text(f"arch,acc\n\"{name}\",1.0\n\"{SMALL}\",2.0\n")
    res = zsnas.evaluate.evaluate(str(table), ["params"], out=str(tmp_path / "b"), resolution=target.resolution,
                                  num_classes=target.num_classes, plots=False, progress=False, cache=None)
    assert res["table"][0]["params"] == info["params"]


@pytest.mark.parametrize("name", ["zennet-cifar-1.0m", SMALL, "resnet18"], ids=lambda n: n[:24])
def test_a_search_starts_from_any_structure_name(tmp_path, name):
    if resolve_target(name).kind != "arch":
        with pytest.raises(ValueError, match="a search starts from a structure string or a zoo name"):
            search(proxy="params", initial=name, iterations=5, progress=False)
        return
    run = search(proxy="params", initial=name, iterations=20, default_budget=False, progress=False)
    assert run.config.space["initial"] == resolve_target(name).structure
    # zen's first candidate is one mutation of it: the same blocks, one of them changed
    first, start = zsnas.Arch(run.history[0].structure).blocks, zsnas.Arch(resolve_target(name).structure).blocks
    assert len(first) == len(start) and sum(str(a) != str(b) for a, b in zip(first, start)) <= 2


@pytest.mark.parametrize("budget,message", [
    ({"params": "abc"}, "must be a number"), ({"params": 1.5}, "must be a whole number"),
    ({"params": float("nan")}, "must be a whole number"), ({"nope": 1}, "unknown budget key 'nope'"),
    ({"params": -5}, "max_params"), ({"resolution": 64}, "is not a limit here"), (["params"], "budget"),
])
def test_bad_budgets_are_clear_value_errors(budget, message):
    with pytest.raises((ValueError, TypeError), match=message):
        search(proxy="params", budget=budget, iterations=3, progress=False)
    assert search(proxy="params", budget={"params": float("inf")}, iterations=3,
                  progress=False).config.budget["max_params"] == -1


def test_the_ray_backend_without_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ValueError, match=r"pip install 'zsnas\[ray\]'"):
        get_scorer("ray", workers=2)


def test_a_proxy_version_bump_misses_the_cache(monkeypatch):
    import dataclasses

    from zsnas.proxies import registry
    from zsnas.scoring.cache import proxy_key

    req = ScoreRequest(target=resolve_target(SMALL), proxies=("synflow",), resolution=32, num_classes=10,
                       batch_size=8, seed=0)
    before = proxy_key(req, "synflow")
    assert json.loads(before)[3] == 1 and json.loads(proxy_key(req, "gradsign"))[3] == 3
    spec = registry.get_proxy("synflow")
    monkeypatch.setitem(registry._REGISTRY, "synflow", dataclasses.replace(spec, version=2))
    assert proxy_key(req, "synflow") != before
    assert json.loads(proxy_key(req, "az_trainability"))[3] == registry.get_proxy("az").version  # the family's
