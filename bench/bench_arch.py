"""Candidates per second for the budget-check path: mutate + print + parse + params + FLOPs.

Three ways of doing the same work on the same seeded candidate sequence (a walk from the space's
initial structure, restarted every 10 mutations, as an evolutionary search proposes them):

  c++ loop      zsnas._core.bench_loop: everything in C++ (what the engine does per candidate)
  python+c++    per candidate from Python through the bindings: SearchSpace.mutate, str,
                zsnas.Arch(s), .params(), .flops()
  torch build   the authors' way: build the torch model per candidate (zsnas.nn.build_model),
                sum(p.numel()) and forward-hook MACs (zsnas.nn.counting.count_macs)

All three must agree on the counts (checked), so the ratios compare equal work. Run:
    python bench/bench_arch.py [--n-cpp 50000 --n-py 5000 --n-torch 20]
"""
from __future__ import annotations

import argparse
import time

import torch

from zsnas import Arch, _core
from zsnas.nn import build_model
from zsnas.nn.counting import count_macs
from zsnas.spaces import Rng, get_space

RESTART = 10


def candidates(space, n, seed):
    """The candidate sequence bench_loop walks, reproduced from Python (same RNG, same order)."""
    rng, a = Rng(seed), space.initial
    for i in range(n):
        if i % RESTART == 0:
            a = space.initial
        a = space.mutate(a, rng, type_change_prob=1.0)
        yield a


def python_path(space, n, seed, resolution):
    nc, checksum = space.num_classes, 0
    t0 = time.perf_counter()
    for a in candidates(space, n, seed):
        parsed = Arch(str(a))
        checksum += parsed.params(nc) + parsed.flops(resolution, nc)
    return checksum, time.perf_counter() - t0


def torch_path(space, n, seed, resolution):
    nc = space.num_classes
    archs = list(candidates(space, n, seed))  # mutation cost is negligible next to building
    checksum = 0
    t0 = time.perf_counter()
    for a in archs:
        model = build_model(str(a), num_classes=nc)
        p = sum(q.numel() for q in model.parameters())
        f = count_macs(model, (3, resolution, resolution))
        checksum += p + f
    secs = time.perf_counter() - t0
    cpp = sum(a.params(nc) + a.flops(resolution, nc) for a in archs)  # untimed: same candidates in C++
    return checksum, secs, checksum == cpp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-cpp", type=int, default=50000)
    ap.add_argument("--n-py", type=int, default=5000)
    ap.add_argument("--n-torch", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for name in ("res", "mbv2"):
        space = get_space(name)
        r = space.resolution
        # Same work check: the C++ loop over the first n_py candidates matches the Python path.
        ref, _ = _core.bench_loop(space.core, args.n_py, args.seed, RESTART, r)
        py_sum, py_s = python_path(space, args.n_py, args.seed, r)
        assert py_sum == ref, f"{name}: python+c++ checksum {py_sum} != c++ loop {ref}"
        _, cpp_s = _core.bench_loop(space.core, args.n_cpp, args.seed, RESTART, r)
        _, t_s, agree = torch_path(space, args.n_torch, args.seed, r)
        assert agree, f"{name}: torch counts differ from the C++ counts"
        rows.append((name, r, args.n_cpp / cpp_s, args.n_py / py_s, args.n_torch / t_s))

    print(f"torch {torch.__version__}, {args.threads} thread(s); candidates/s for mutate+print+parse+params+FLOPs")
    print(f"{'space':6} {'res':>4} {'c++ loop':>12} {'python+c++':>12} {'torch build':>12} "
          f"{'c++/torch':>10} {'py/torch':>9} {'c++/py':>7}")
    for name, r, c, p, t in rows:
        print(f"{name:6} {r:>4} {c:>12,.0f} {p:>12,.0f} {t:>12,.1f} {c / t:>10,.0f} {p / t:>9,.0f} {c / p:>7,.1f}")


if __name__ == "__main__":
    main()
