"""The one table of defaults. The CLI and the Python API both read theirs from here, and the
README's "Defaults" table is checked against it (tests/test_defaults.py).

What a setting defaults to when neither the caller nor a stored run gives it:

* device: "auto" = cuda when torch sees a GPU, else cpu (score, search and bench alike).
* score: the target's own resolution / classes (zoo entries, search results, NB201 cells
  32 px / 10 classes), else 224 px / 1000 classes; Zen-score at the authors' stand-alone
  setting (batch 16, 32 repeats), every other proxy one batch of 64.
* search: the space's resolution / classes and the space's paper budget (REFERENCE §2),
  proxies at the search setting of REFERENCE §3 (batch 64, one repeat).
* bench: NAS-Bench-201's CIFAR-10 setting (32 px, 10 classes, batch 64).
"""
from __future__ import annotations

DEVICE = "auto"
SEED = 0

# zsnas score
SCORE_PROXIES = ("zen",)
SCORE_RESOLUTION = 224  # a bare structure string / ResNet / nn.Module: ImageNet
SCORE_NUM_CLASSES = 1000
SCORE_BATCH = {"zen": 16}  # per proxy; the rest take SCORE_FALLBACK_BATCH
SCORE_REPEATS = {"zen": 32}  # per proxy; the rest take 1
SCORE_FALLBACK_BATCH = 64

# zsnas search (zsnas.search.SearchConfig takes its field defaults from here)
SEARCH_SPACE = "res"
SEARCH_PROXY = "zen"
SEARCH_STRATEGY = "zen"
SEARCH_ITERATIONS = 1000
SEARCH_POPULATION = 512
SEARCH_TOP_K = 1024
SEARCH_BATCH_SIZE = 64
SEARCH_REPEATS = 1
SEARCH_CHECKPOINT_EVERY = 1000  # iterations
SEARCH_CHECKPOINT_SECONDS = 60.0

# zsnas bench (zsnas.evaluate.evaluate)
BENCH_PROXIES = ("synflow", "jacob_cov", "params")
BENCH_RESOLUTION = 32
BENCH_NUM_CLASSES = 10
BENCH_BATCH_SIZE = 64
BENCH_WORKERS = 1
BENCH_THREADS = 1
BENCH_OUT = "runs/bench"

# Correlations over a top fraction of the table rest on at least this many networks (τ over two
# networks is always ±1); fewer give None, printed as "-".
MIN_TOP_NETWORKS = 10
