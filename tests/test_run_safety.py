"""Nothing lost, nothing silent (issue 9): run-directory locks, resume without a checkpoint,
SIGTERM, honest exit codes, one-line CLI errors, checked counts, one set of defaults.

The CLI cases run `zsnas` in a subprocess, as a user does, and check the exit code and that no
traceback reaches the user.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zsnas
from zsnas import _core, defaults
from zsnas.evaluate import correlations, evaluate
from zsnas.rundir import RunLock, RunLocked
from zsnas.search import load_run, search

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "ZSNAS_PROGRESS_SECONDS": "0"}
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

# A proxy module for --import: slow enough to be stopped mid-run; each call appends a line to
# $CALLS so a test can count what was scored.
SLOW_PROXY = textwrap.dedent("""
    import os, time
    from zsnas.proxies import register_proxy

    @register_proxy("slow_params")
    def slow_params(ctx):
        time.sleep(float(os.environ.get("SLOW_SECONDS", "0.01")))
        if os.environ.get("CALLS"):
            with open(os.environ["CALLS"], "a") as f:
                f.write(f"{ctx.params}\\n")
        return float(ctx.params)
""")


def zsnas_cli(*args, env=None, timeout=300, cwd=None):
    return subprocess.run([sys.executable, "-m", "zsnas.cli", *map(str, args)], capture_output=True, text=True,
                          env=env or ENV, timeout=timeout, cwd=cwd)


@pytest.fixture
def slow_proxy(tmp_path):
    p = tmp_path / "slow_proxy.py"
    p.write_text(SLOW_PROXY)
    return p


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def wait_for_rows(path, n, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") > n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {n} rows (process returned {proc.poll()})")


# ---- 1. resume without a checkpoint ----------------------------------------------------------
def test_kill_9_before_the_first_checkpoint_keeps_every_scored_row(tmp_path, slow_proxy):
    args = ["search", "--proxy", "slow_params", "-n", "300", "--seed", "1", "--import", slow_proxy,
            "--checkpoint-every", "100000", "--no-progress", "--no-cache"]  # history.csv alone keeps the rows
    straight = tmp_path / "straight"
    assert zsnas_cli(*args, "--out", straight).returncode == 0
    killed = tmp_path / "killed"
    calls = tmp_path / "calls.txt"
    proc = subprocess.Popen([sys.executable, "-m", "zsnas.cli", *map(str, args), "--out", str(killed)],
                            env={**ENV, "CALLS": str(calls)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_rows(killed / "history.csv", 60, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "checkpoint.bin").exists()  # killed before its first checkpoint
    scored_before = len(rows_of(killed / "history.csv"))
    calls.write_text("")  # count the calls of the resumed run only (one may have died unwritten)
    r = zsnas_cli("search", "--out", killed, "--resume", "--no-progress", env={**ENV, "CALLS": str(calls)})
    assert r.returncode == 0, r.stderr
    assert (killed / "history.csv").read_bytes() == (straight / "history.csv").read_bytes()
    cfg = json.loads((killed / "config.json").read_text())
    assert cfg["iterations"] == 300 and cfg["proxies"] == ["slow_params"]  # the run's config, not defaults
    ok_rows = sum(1 for row in rows_of(straight / "history.csv") if row["status"] == "ok")
    # Only the candidates not yet in history.csv were scored again.
    assert len(calls.read_text().splitlines()) == ok_rows - scored_before
    assert "telling the" in (killed / "log.txt").read_text()
    assert load_run(killed).best == load_run(straight).best


def test_resume_of_a_directory_without_a_run_changes_nothing(tmp_path):
    missing = tmp_path / "typo"
    r = zsnas_cli("search", "--out", missing, "--resume")
    assert r.returncode == 1 and "cannot resume" in r.stderr and "does not exist" in r.stderr
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("mine")
    r = zsnas_cli("search", "--out", empty, "--resume")
    assert r.returncode == 1 and "no config.json" in r.stderr
    assert sorted(os.listdir(empty)) == ["notes.txt"]


# ---- 2. one writer per run directory ---------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    from zsnas.rundir import RunLock
    RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


def test_a_second_run_on_a_locked_directory_refuses_naming_the_pid_and_stale_locks_are_taken(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = zsnas_cli("search", "--proxy", "params", "-n", "10", "--out", out)
        assert r.returncode == 1 and f"in use by pid {holder.pid}" in r.stderr and "Traceback" not in r.stderr
        assert not (out / "config.json").exists()
        with pytest.raises(RunLocked, match=f"pid {holder.pid}"):
            evaluate(str(Path(__file__).parent.parent.parent / "shared/data/nb201_dev.csv"), ["params"],
                     out=str(out), limit=3, plots=False, progress=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The holder died without releasing: its lock is stale, and the next run says so.
    run = search(proxy="params", iterations=10, out=out, progress=False)
    assert run.best is not None
    assert f"took over a stale lock of pid {holder.pid}" in (out / "log.txt").read_text()
    lock = RunLock(out).acquire()  # released at the end of the search, left clean
    assert lock.stale is None
    lock.release()


# ---- 3. SIGTERM ------------------------------------------------------------------------------
def test_sigterm_writes_a_checkpoint_and_exits_143_and_resume_matches(tmp_path, slow_proxy):
    args = ["search", "--proxy", "slow_params", "--strategy", "az", "--top-k", "16", "-n", "400", "--seed", "2",
            "--import", slow_proxy, "--no-progress"]
    straight = tmp_path / "straight"
    assert zsnas_cli(*args, "--out", straight).returncode == 0
    out = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, "-m", "zsnas.cli", *map(str, args), "--out", str(out)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_rows(out / "history.csv", 50, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM: checkpoint written" in err and "--resume" in err and "Traceback" not in err
    assert (out / "checkpoint.bin").exists()
    assert "interrupted (SIGTERM)" in (out / "log.txt").read_text()
    assert json.loads((out / "checkpoint.json").read_text())["iteration"] < 400
    r = zsnas_cli("search", "--out", out, "--resume", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (out / "history.csv").read_bytes() == (straight / "history.csv").read_bytes()


def test_sigterm_stops_a_bench_with_its_rows_saved(tmp_path, slow_proxy):
    data = Path(__file__).parent.parent.parent / "shared/data/nb201_dev.csv"
    out = tmp_path / "bench"
    proc = subprocess.Popen([sys.executable, "-m", "zsnas.cli", "bench", str(data), "--proxies", "slow_params",
                             "--import", str(slow_proxy), "--limit", "400", "--out", str(out), "--no-plots"],
                            env={**ENV, "SLOW_SECONDS": "0.05"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for_rows(out / "scores.jsonl", 5, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "stopped by SIGTERM" in err and "Traceback" not in err
    lines = (out / "scores.jsonl").read_text().splitlines()
    assert len(lines) >= 5 and all(json.loads(x)["values"]["slow_params"] > 0 for x in lines)
    # the stopped run is analysed over the rows it finished, and again after one more is killed in
    table = (out / "table.csv").read_text().splitlines()
    assert len(table) == len(lines) + 1
    keys = [json.loads(x)["key"] for x in lines]
    assert [r.split(",")[0] for r in table[1:]] == keys
    r = zsnas_cli("bench", "--report", out, "--json", "--sample", "2", "--repeats", "3")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n"] == len(lines)
    (out / "table.csv").unlink()  # as a SIGKILL leaves it: summarised from scores.jsonl
    r = zsnas_cli("bench", "--report", out, "--json", "--sample", "2", "--repeats", "3")
    assert r.returncode == 0 and json.loads(r.stdout)["n"] == len(lines), r.stderr


# ---- 4 and 5. exit codes and one-line errors -------------------------------------------------
def _bad_space(tmp_path):
    p = tmp_path / "bad_space.json"
    p.write_text('{"name": "x", "block_types": [')
    return p


CLI_ERRORS = [
    # (arguments, exit code, text the one error line must hold)
    (["search", "--max-params", "10", "-n", "3", "--proxy", "params"], 1, "no candidate fits the budget"),
    (["search", "-r", "4", "-n", "3"], 1, "resolution 4 does not fit space 'res'"),
    (["search", "--device", "cuda", "-n", "3"], 1, "sees no CUDA device"),
    (["search", "-b", "0", "-n", "3"], 2, "'--batch-size'"),
    (["bench", "DATA", "--workers", "-3"], 2, "'--workers'"),
    (["search", "--device", "gpu", "-n", "3"], 1, "device 'gpu' is not a device"),
    (["search", "--max-params", "abc"], 2, "'abc' is not a number"),
    (["search", "--space", "BADSPACE", "-n", "3"], 1, "is not valid JSON: Expecting value at line 1"),
    (["info", CELL, "-r", "1"], 1, "stride 2 at input resolution 1 shrinks the feature map below 1 pixel"),
    (["score", "resnet18", "--device", "gpu"], 1, "device 'gpu' is not a device"),
    (["info", "SuperResIDWE6K7SE(65536,65536,1,65536,256)", "-r", "32768"], 1, "FLOPs count overflows int64"),
    (["info", "resnet18", "-r", "0"], 2, "0 is not in the range x>=1"),
    (["info", "resnet18", "-r", "1"], 1, "stride 2 at input resolution 1 shrinks the feature map below 1 pixel"),
    (["score", CELL, "-p", "jacob_cov", "-b", "1"], 1, "'jacob_cov' needs batch_size >= 2"),
    (["bench", "DATA", "--proxies", "naswot", "--batch-size", "1"], 1, "'naswot' needs batch_size >= 2"),
    (["search", "--proxy", "ntk_cond", "-b", "1", "-n", "3"], 1, "'ntk_cond' needs batch_size >= 2"),
    (["score", CELL, "--import", "no_such_module_zsnas"], 1, "cannot import proxy module 'no_such_module_zsnas'"),
]


@pytest.mark.parametrize("args,code,text", CLI_ERRORS, ids=[" ".join(a[:3]) for a, _, _ in CLI_ERRORS])
def test_cli_errors_are_one_line_and_exit_non_zero(tmp_path, args, code, text):
    data = Path(__file__).parent.parent.parent / "shared/data/nb201_dev.csv"
    args = [str(data) if a == "DATA" else str(_bad_space(tmp_path)) if a == "BADSPACE" else a for a in args]
    out = tmp_path / "out"
    if args[0] in ("search", "bench"):
        args += ["--out", str(out), "--no-progress"]
    r = zsnas_cli(*args)
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and text in errors[0], r.stderr
    if code == 1 and "fits the budget" not in text:
        assert not (out / "config.json").exists()  # refused before anything was written


def test_a_run_whose_every_candidate_fails_exits_1(tmp_path):
    flaky = tmp_path / "always_fails.py"
    flaky.write_text("from zsnas.proxies import register_proxy\n\n@register_proxy('always_fails')\n"
                     "def always_fails(ctx):\n    raise RuntimeError('simulated out of memory')\n")
    r = zsnas_cli("search", "--proxy", "always_fails", "--import", flaky, "-n", "5", "--out", tmp_path / "o",
                  "--no-progress")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "all 5 candidates failed; the first (id 0) with: RuntimeError: simulated out of memory" in r.stderr


def test_an_existing_run_names_the_cli_flag_not_the_api_argument(tmp_path):
    out = tmp_path / "o"
    assert zsnas_cli("search", "--proxy", "params", "-n", "5", "--out", out, "--no-progress").returncode == 0
    r = zsnas_cli("search", "--proxy", "params", "-n", "5", "--out", out, "--no-progress")
    assert r.returncode == 1 and f"zsnas search --out {out} --resume" in r.stderr and "resume=True" not in r.stderr


# ---- 6. silently wrong numbers ---------------------------------------------------------------
def test_flops_overflow_is_an_error_not_a_negative_count_that_passes_a_budget():
    arch = zsnas.Arch("SuperResIDWE6K7SE(65536,65536,1,65536,256)")
    with pytest.raises(zsnas.ArchError, match=r"FLOPs count overflows int64 .* in block 0 \(SuperResIDWE6K7SE\)"):
        arch.flops(resolution=32768)
    budget = zsnas.spaces.make_budget({"flops": 400e6}, resolution=32768)
    with pytest.raises(zsnas.ArchError, match="overflows"):  # never "within budget" by wrapping negative
        _core.within_budget(arch._core, budget)


def _conv_chain(widths, kernel, strides, layers):
    blocks, c = [], 3
    for w, s, n in zip(widths, strides, layers):
        blocks.append(f"SuperConvK{kernel}BNRELU({c},{w},{s},{n})")
        c = w
    return "".join(blocks)


def _conv_chain_reference(widths, kernel, strides, layers, resolution, classes):
    """Exact big-integer counts of a chain of SuperConvKkBNRELU blocks (REFERENCE §1)."""
    params, flops, c, h = 0, 0, 3, resolution
    for w, s, n in zip(widths, strides, layers):
        for i in range(n):
            cin, stride = (c, s) if i == 0 else (w, 1)
            if h < stride:
                return None, None
            h = (h + 2 * ((kernel - 1) // 2) - kernel) // stride + 1
            params += kernel * kernel * cin * w + 2 * w
            flops += kernel * kernel * cin * w * h * h
        c = w
    return params + c * classes + classes, flops + c * classes


EXTREME = st.sampled_from([1, 2, 7, 8, 255, 4096, 40000, 65535, 65536])


@settings(max_examples=300, deadline=None)
@given(widths=st.lists(EXTREME, min_size=1, max_size=4), kernel=st.sampled_from([1, 3, 5, 7]),
       data=st.data(), resolution=st.sampled_from([1, 2, 3, 31, 224, 4096, 20000, 32768]),
       classes=st.sampled_from([0, 10, 1000, 1 << 24]))
def test_fuzz_counts_are_exact_or_a_clear_overflow(widths, kernel, data, resolution, classes):
    strides = data.draw(st.lists(st.sampled_from([1, 2, 8]), min_size=len(widths), max_size=len(widths)))
    layers = data.draw(st.lists(st.sampled_from([1, 3, 256]), min_size=len(widths), max_size=len(widths)))
    arch = zsnas.Arch(_conv_chain(widths, kernel, strides, layers))
    want_params, want_flops = _conv_chain_reference(widths, kernel, strides, layers, resolution, classes)
    if want_params is not None and want_params < 2**63:
        assert arch.params(num_classes=classes) == want_params
    else:
        assert want_params is None or pytest.raises(zsnas.ArchError, arch.params, num_classes=classes)
    if want_flops is None:
        with pytest.raises(zsnas.ArchError, match="shrinks the feature map"):
            arch.flops(resolution=resolution, num_classes=classes)
    elif want_flops < 2**63:
        assert arch.flops(resolution=resolution, num_classes=classes) == want_flops
    else:
        with pytest.raises(zsnas.ArchError, match="overflows int64"):
            arch.flops(resolution=resolution, num_classes=classes)


BLOCK = st.sampled_from(["SuperResK1K7K1", "SuperResK7K7", "SuperResIDWE6K7", "SuperResIDWE6K7SE", "SuperResK3K3SE"])


@settings(max_examples=300, deadline=None)
@given(kind=BLOCK, cin=EXTREME, cout=EXTREME, btl=EXTREME, n=st.sampled_from([1, 2, 256]),
       resolution=st.sampled_from([1, 8, 224, 32768]), residual=st.booleans())
def test_fuzz_residual_blocks_never_wrap(kind, cin, cout, btl, n, resolution, residual):
    arch = zsnas.Arch(f"{kind}({cin},{cout},1,{btl},{n})")
    for count in (lambda: arch.params(num_classes=1000), lambda: arch.flops(resolution=resolution)):
        try:
            assert count() >= 0
        except zsnas.ArchError as e:
            assert "overflows int64" in str(e)


def test_top_fraction_tau_needs_ten_networks():
    acc = list(range(100))
    # 100 networks: the top 5 % are 5 networks -> no τ; the top 20 % are 20 -> τ
    c = correlations([a if a < 98 else -a for a in acc], acc)
    assert c["n_top5"] == 5 and c["kendall_top5"] is None
    assert c["n_top20"] == 20 and c["kendall_top20"] == pytest.approx(
        __import__("scipy.stats").stats.kendalltau([-99, -98] + list(range(97, 79, -1)), list(range(99, 79, -1))).statistic)
    c = correlations(acc[:9], acc[:9])
    assert c["kendall_top5"] is None and c["kendall"] == 1.0


def test_blank_or_nan_accuracies_are_reported(tmp_path):
    data = tmp_path / "t.csv"
    src = (Path(__file__).parent.parent.parent / "shared/data/nb201_dev.csv").read_text().splitlines()
    header, body = src[0], src[1:13]
    cells = [row.split(",") for row in body]
    cells[2][2], cells[5][2] = "", "nan"
    data.write_text("\n".join([header] + [",".join(c) for c in cells]) + "\n")
    res = evaluate(str(data), ["params"], out=str(tmp_path / "b"), plots=False, progress=False)
    assert res["missing_accuracy"] == [cells[2][0], cells[5][0]]
    assert res["proxies"]["params"]["n"] == 10
    r = zsnas_cli("bench", data, "--proxies", "params", "--out", tmp_path / "b2", "--no-plots")
    assert r.returncode == 0 and "2 rows of" in r.stderr and "no accuracy" in r.stderr
    assert f"ids {cells[2][0]}, {cells[5][0]}" in r.stdout


def test_batch_size_one_proxies_are_refused():
    from zsnas.proxies import ProxyContext, run_proxy
    from zsnas.nn.nb201 import nb201_network

    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL), resolution=8, batch_size=1)
    for name in ("jacob_cov", "ntk_cond", "naswot"):
        with pytest.raises(ValueError, match=f"'{name}' needs batch_size >= 2"):
            run_proxy(name, ctx)
    assert run_proxy("synflow", ctx).value > 0  # a proxy of one sample still runs at batch 1


# ---- 7. one set of defaults ------------------------------------------------------------------
def test_cli_and_api_make_the_same_run(tmp_path):
    assert zsnas_cli("search", "--proxy", "params", "-n", "20", "--out", tmp_path / "cli", "--no-progress").returncode == 0
    search(proxy="params", iterations=20, out=tmp_path / "api", progress=False)
    cli_cfg = json.loads((tmp_path / "cli" / "config.json").read_text())
    api_cfg = json.loads((tmp_path / "api" / "config.json").read_text())
    assert cli_cfg == api_cfg
    assert api_cfg["budget"]["max_params"] == 1_000_000 and api_cfg["budget"]["max_layers"] == 18
    assert (tmp_path / "cli" / "history.csv").read_bytes() == (tmp_path / "api" / "history.csv").read_bytes()
    # Without any option, the API's iteration count is the documented default.
    assert search(proxy="params", out=None, progress=False).counters["iteration"] == defaults.SEARCH_ITERATIONS
    none = search(proxy="params", iterations=5, default_budget=False, progress=False)
    assert none.config.budget["max_params"] == -1
    assert search(proxy="params", iterations=5, budget={"params": float("inf")}, progress=False).config.budget[
        "max_params"] == -1


def test_readme_defaults_table_is_the_code(tmp_path):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Defaults", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("setting", "") and not cells[0].startswith("-"):
            table[cells[0]] = cells[1:]
    expect = {
        "device": [defaults.DEVICE] * 3,
        "seed": [str(defaults.SEED)] * 3,
        "iterations": ["", str(defaults.SEARCH_ITERATIONS), ""],
        "population (zen) / top-k (az)": ["", f"{defaults.SEARCH_POPULATION} / {defaults.SEARCH_TOP_K}", ""],
        "checkpoint": ["", f"every {defaults.SEARCH_CHECKPOINT_EVERY} iterations or "
                           f"{defaults.SEARCH_CHECKPOINT_SECONDS:g} s", ""],
        "workers / threads": ["", "", f"{defaults.BENCH_WORKERS} / {defaults.BENCH_THREADS}"],
    }
    for key, want in expect.items():
        assert [c.replace("—", "") for c in table[key]] == want, key
    assert table["proxies"][0] == ",".join(defaults.SCORE_PROXIES)
    assert table["proxies"][1] == defaults.SEARCH_PROXY
    assert table["proxies"][2] == ",".join(defaults.BENCH_PROXIES)
    assert table["batch size"][1] == str(defaults.SEARCH_BATCH_SIZE) == table["batch size"][2]
    assert f"zen {defaults.SCORE_BATCH['zen']}" in table["batch size"][0]
    assert f"zen {defaults.SCORE_REPEATS['zen']}" in table["repeats"][0]


def test_score_uses_a_search_results_own_setting(tmp_path):
    out = tmp_path / "s"
    search(proxy="params", iterations=20, out=out, progress=False)
    best = json.loads((out / "best.json").read_text())[0]
    assert best["resolution"] == 32 and best["num_classes"] == 10
    rep = zsnas.score(str(out / "best.json"), proxies=["params", "flops"], device="cpu")
    assert rep.resolution == 32
    arch = zsnas.Arch(best["structure"])
    assert rep["params"].value == arch.params(num_classes=10) == best["params"]
    assert rep["flops"].value == arch.flops(resolution=32, num_classes=10) == best["flops"]
    rep = zsnas.score("zennet-cifar-1.0m", proxies=["params"], device="cpu")
    from zsnas.zoo import ZOO

    assert rep.resolution == 32 and rep["params"].value == zsnas.Arch(ZOO["zennet-cifar-1.0m"].structure).params(
        num_classes=100) == 1_039_932  # the README's count (ZenNet-1.0M's native 100-class head)
    r = zsnas_cli("score", out / "best.json", "-p", "zen", "--repeats", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resolution"] == 32


def test_score_shows_progress_per_zen_repeat_as_lines_when_not_a_terminal():
    r = zsnas_cli("score", CELL, "-p", "zen,params", "--repeats", "3", "-r", "8")
    assert r.returncode == 0 and "\r" not in r.stderr
    steps = [line for line in r.stderr.splitlines() if line.startswith("scoring: ")]
    assert steps and steps[-1].startswith("scoring: 4/4 step (100 %)")


def test_a_finished_run_can_be_extended(tmp_path):
    short = tmp_path / "short"
    search(proxy="params", strategy="az", top_k=16, iterations=300, seed=5, out=short, progress=False)
    head = (short / "history.csv").read_bytes()
    r = zsnas_cli("search", "--out", short, "--resume", "--iterations", "600", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert load_run(short).counters["iteration"] == 600
    assert (short / "history.csv").read_bytes().startswith(head)
    assert json.loads((short / "config.json").read_text())["iterations"] == 600
    assert "iterations changed to 600" in (short / "log.txt").read_text()
    r = zsnas_cli("search", "--out", short, "--resume", "--iterations", "500", "--no-progress")
    assert r.returncode == 1 and "has done 600 iterations; a run cannot be shortened to 500" in r.stderr


# ---- 8. docs that promise what is there ------------------------------------------------------
def test_evaluate_from_a_script_without_a_main_guard_fails_clearly_instead_of_hanging(tmp_path):
    data = Path(__file__).parent.parent.parent / "shared/data/nb201_dev.csv"
    script = tmp_path / "unguarded.py"
    script.write_text(f"import zsnas\nzsnas.evaluate.evaluate({str(data)!r}, ['params'], workers=2, limit=4, "
                      f"out={str(tmp_path / 'b')!r}, plots=False, progress=False)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=ENV, timeout=180)
    assert r.returncode != 0 and 'if __name__ == "__main__":' in r.stderr


def test_import_registers_user_proxies_for_score_search_and_bench_workers(tmp_path, slow_proxy):
    r = zsnas_cli("score", "--list", "--import", slow_proxy)
    assert r.returncode == 0 and "slow_params" in r.stdout
    small = "SuperConvK3BNRELU(3,8,2,1)SuperResK1K3K1(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)"
    r = zsnas_cli("score", small, "-p", "slow_params", "--import", slow_proxy, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"]["slow_params"]["value"] == zsnas.Arch(small).params(num_classes=1000)
    # A user proxy that breaks is named, not reported as a zsnas bug.
    r = zsnas_cli("score", CELL, "-p", "slow_params", "--import", slow_proxy)
    assert r.returncode == 1 and "Error: proxy 'slow_params' failed on" in r.stderr and "internal error" not in r.stderr
    data = Path(__file__).parent.parent.parent / "shared/data/nb201_dev.csv"
    out = tmp_path / "b"
    r = zsnas_cli("bench", data, "--proxies", "slow_params,params", "--import", slow_proxy, "--workers", "2",
                  "--limit", "6", "--out", out, "--no-plots", "--json")
    assert r.returncode == 0, r.stderr
    table = rows_of(out / "table.csv")
    assert all(float(t["slow_params"]) == float(t["params"]) for t in table)
    # The run remembers its imports: --resume needs no --import.
    run_dir = tmp_path / "s"
    assert zsnas_cli("search", "-p", "slow_params", "--import", slow_proxy, "-n", "5", "--out", run_dir,
                     "--no-progress").returncode == 0
    r = zsnas_cli("search", "--out", run_dir, "--resume", "-n", "8", "--no-progress")
    assert r.returncode == 0, r.stderr


def test_search_progress_in_a_log_has_no_carriage_returns(tmp_path):
    r = zsnas_cli("search", "--proxy", "zen", "-n", "4", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    assert any(line.startswith("zen search: 4/4 it (100 %)") for line in r.stderr.splitlines())


def test_docs_name_what_exists():
    from zsnas.cli_score import score as score_cmd

    assert "--list" in " ".join(o for p in score_cmd.params for o in getattr(p, "opts", []))
    table = _core.LatencyTable()
    with pytest.raises(ValueError) as e:
        table.query(zsnas.Arch("SuperConvK3BNRELU(3,8,1,1)")._core, 32)
    assert "zsnas lut" not in str(e.value) and "LatencyTable.set" in str(e.value)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = next(b for b in readme.split("```") if "zsnas.evaluate.evaluate(" in b)
    assert block.index('if __name__ == "__main__":') < block.index("zsnas.evaluate.evaluate(")


def test_rows_after_the_checkpoint_serve_as_scores_when_resume_changes_T(tmp_path):
    """A run killed with rows past its checkpoint, resumed under another T: the rows past the
    checkpoint were made under the old T, so they are cut, and their scores serve the
    candidates the new run proposes again (no proxy call for them)."""
    import shutil

    from zsnas.proxies import register_proxy
    from zsnas.proxies.registry import _REGISTRY

    out, saved = tmp_path / "run", tmp_path / "saved"
    calls = []

    def counting(ctx):
        calls.append(ctx.params)
        if len(calls) == 250:  # the state a kill -9 at this moment leaves: the checkpoint of iteration 200
            saved.mkdir()
            for name in ("checkpoint.bin", "checkpoint.json"):
                shutil.copy(out / name, saved / name)
        return float(ctx.params)

    _REGISTRY.pop("test_counting", None)
    register_proxy("test_counting")(counting)
    try:
        search(proxy="test_counting", strategy="az", top_k=16, iterations=400, seed=7, checkpoint_every=200,
               out=out, progress=False)
        full = rows_of(out / "history.csv")
        for name in ("checkpoint.bin", "checkpoint.json"):
            shutil.copy(saved / name, out / name)
        at = json.loads((out / "checkpoint.json").read_text())["candidates"]
        calls.clear()
        run = search(out=out, resume=True, iterations=300, progress=False)
    finally:
        _REGISTRY.pop("test_counting", None)
    rows = rows_of(out / "history.csv")
    assert run.counters["iteration"] == 300
    assert rows[:at] == full[:at]  # what the checkpoint covers is kept as it was
    assert [int(r["id"]) for r in rows] == list(range(len(rows)))
    scored_before = {r["structure"] for r in full[at:] if r["status"] == "ok"}
    new = [r for r in rows[at:] if r["status"] == "ok"]
    assert len(calls) == sum(r["structure"] not in scored_before for r in new) < len(new)
    assert all(float(r["score_test_counting"]) == float(r["params"]) for r in new)


def test_a_multi_line_error_in_history_csv_survives_a_kill_and_a_torn_record_is_cut(tmp_path):
    """history.csv is read by CSV record: a failed candidate's error may hold newlines (and a
    "\\r"), and a kill in the middle of such a record leaves a torn one that resume cuts."""
    import shutil

    from zsnas.proxies import register_proxy
    from zsnas.proxies.registry import _REGISTRY

    def fails_on_a_seventh(ctx):
        if ctx.params % 7 == 1:
            raise RuntimeError("params = 1 mod 7\nsecond line\r\nthird")
        return float(ctx.params)

    _REGISTRY.pop("test_fails_on_a_seventh", None)
    register_proxy("test_fails_on_a_seventh")(fails_on_a_seventh)
    try:
        straight, killed = tmp_path / "straight", tmp_path / "killed"
        search(proxy="test_fails_on_a_seventh", strategy="az", top_k=16, iterations=120, seed=2,
               checkpoint_every=100000, out=straight, progress=False, cache=None)
        data = (straight / "history.csv").read_bytes()
        rows = rows_of(straight / "history.csv")
        assert sum(r["status"] == "failed" and r["error"].endswith("\nsecond line\r\nthird") for r in rows) >= 5
        # the state a kill leaves in the middle of a failed record: its first line written, no checkpoint
        tear = data.index(b"params = 1 mod 7\nsecond", len(data) // 2) + len(b"params = 1 mod 7\n")
        killed.mkdir()
        shutil.copy(straight / "config.json", killed / "config.json")
        (killed / "history.csv").write_bytes(data[:tear])
        run = search(out=killed, resume=True, progress=False)
    finally:
        _REGISTRY.pop("test_fails_on_a_seventh", None)
    assert (killed / "history.csv").read_bytes() == data
    assert run.best == load_run(straight).best


def test_complete_csv_records_by_hand():
    from zsnas.rundir import RunDirError, complete_csv_records

    text = 'a,b\n1,"x\ny"\n2,3\n'
    assert complete_csv_records(text) == ([["a", "b"], ["1", "x\ny"], ["2", "3"]], [4, 12, 16])
    for torn in ('4,"to', '4,"to\n', '4,5'):  # kills mid-record: cut, not read
        assert complete_csv_records(text + torn) == complete_csv_records(text)
    with pytest.raises(RunDirError, match="line 2"):
        complete_csv_records('a,b\n1,"x"q\n2,3\n')
