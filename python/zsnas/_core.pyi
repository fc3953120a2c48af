# Generated: pybind11-stubgen zsnas._core -o /tmp/stubs (regenerate after changing csrc/bindings)
"""
zsnas core: architecture IR, counting, search spaces and evolution engine (no torch)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['ArchError', 'Block', 'Budget', 'BudgetError', 'CheckpointError', 'ConvLatencyModel', 'CoreArch', 'Engine', 'LatencyTable', 'LatencyTableError', 'RankTopK', 'Rng', 'SearchSpace', 'bench_loop', 'budget_violation', 'builtin_space', 'catalogue', 'mbv2_space', 'mutate', 'network_convs', 'res_space', 'round8', 'sample', 'vit_arch', 'vit_counts', 'within_budget']
class ArchError(ValueError):
    pass
class Block:
    """
    One block of a structure string: a catalogue type plus its parameters
    """
    __hash__: typing.ClassVar[None] = None
    def __eq__(self, arg0: Block) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __str__(self) -> str:
        ...
    @property
    def bottleneck(self) -> int:
        ...
    @property
    def expansion(self) -> int:
        ...
    @property
    def family(self) -> str:
        ...
    @property
    def in_channels(self) -> int:
        ...
    @property
    def is_residual(self) -> bool:
        ...
    @property
    def kernel(self) -> int:
        ...
    @property
    def out_channels(self) -> int:
        ...
    @property
    def se(self) -> bool:
        ...
    @property
    def stride(self) -> int:
        ...
    @property
    def sub_layers(self) -> int:
        ...
    @property
    def type(self) -> str:
        ...
class CoreArch:
    """
    Parsed architecture (C++). Use zsnas.Arch in Python.
    """
    def __eq__(self, arg0: CoreArch) -> bool:
        ...
    def __hash__(self) -> int:
        ...
    def __init__(self, structure: str) -> None:
        ...
    def __str__(self) -> str:
        ...
    def block_stats(self, resolution: typing.SupportsInt | typing.SupportsIndex = 224, residual: bool = True, se: typing.Any = None) -> list:
        ...
    def flops(self, resolution: typing.SupportsInt | typing.SupportsIndex = 224, num_classes: typing.SupportsInt | typing.SupportsIndex = 1000, residual: bool = True, se: typing.Any = None) -> int:
        ...
    def layers(self) -> int:
        ...
    def out_channels(self) -> int:
        ...
    def out_resolution(self, resolution: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def params(self, num_classes: typing.SupportsInt | typing.SupportsIndex = 1000, residual: bool = True, se: typing.Any = None) -> int:
        ...
    def units(self, residual: bool = True, se: typing.Any = None) -> list:
        ...
    @property
    def blocks(self) -> list[Block]:
        ...
class BudgetError(ValueError):
    pass
class Rng:
    """
    xoshiro256** seeded by splitmix64; the state is 4 uint64 (checkpointable)
    """
    def __getstate__(self) -> tuple[int, int, int, int]:
        ...
    def __init__(self, seed: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    def below(self, n: typing.SupportsInt | typing.SupportsIndex) -> int:
        """
        uniform integer in [0, n)
        """
    def copy(self) -> Rng:
        ...
    def next(self) -> int:
        """
        next raw 64-bit output
        """
    def seed(self, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def uniform(self) -> float:
        """
        uniform float in [0, 1)
        """
    @property
    def state(self) -> tuple[int, int, int, int]:
        ...
    @state.setter
    def state(self, arg1: collections.abc.Sequence) -> None:
        ...
class SearchSpace:
    """
    A search space (C++ SpaceSpec). Use zsnas.spaces.SearchSpace in Python.
    """
    def __getstate__(self) -> dict:
        ...
    def __init__(self, spec: dict) -> None:
        ...
    def __setstate__(self, arg0: dict) -> None:
        ...
    def mutable_blocks(self: CoreArch, arch: SearchSpace) -> list[int]:
        """
        indices of the blocks mutate() may pick
        """
    def rechain_and_split(self, arch: CoreArch) -> CoreArch:
        """
        re-chain `in` channels and split deep blocks (the end of a mutation)
        """
    def to_dict(self) -> dict:
        ...
    @property
    def initial(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def num_classes(self) -> int:
        ...
    @property
    def resolution(self) -> int:
        ...
class Budget:
    """
    Limits of a search; -1 = unlimited. latency: callable(CoreArch) -> ms
    """
    def __init__(self, max_params: typing.SupportsInt | typing.SupportsIndex = -1, max_flops: typing.SupportsInt | typing.SupportsIndex = -1, max_layers: typing.SupportsInt | typing.SupportsIndex = -1, max_latency_ms: typing.SupportsFloat | typing.SupportsIndex = -1.0, resolution: typing.SupportsInt | typing.SupportsIndex = 224, num_classes: typing.SupportsInt | typing.SupportsIndex = 1000, latency: collections.abc.Callable[[CoreArch], typing.SupportsFloat | typing.SupportsIndex] = None) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def validate(self) -> None:
        ...
    @property
    def latency(self) -> collections.abc.Callable[[CoreArch], float]:
        ...
    @latency.setter
    def latency(self, arg0: collections.abc.Callable[[CoreArch], typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def max_flops(self) -> int:
        ...
    @max_flops.setter
    def max_flops(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def max_latency_ms(self) -> float:
        ...
    @max_latency_ms.setter
    def max_latency_ms(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_layers(self) -> int:
        ...
    @max_layers.setter
    def max_layers(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def max_params(self) -> int:
        ...
    @max_params.setter
    def max_params(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def num_classes(self) -> int:
        ...
    @num_classes.setter
    def num_classes(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def resolution(self) -> int:
        ...
    @resolution.setter
    def resolution(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class LatencyTableError(ValueError):
    pass
class CheckpointError(ValueError):
    pass
class LatencyTable:
    """
    Milliseconds per (block, input resolution, batch, precision, device); JSON on disk
    """
    @staticmethod
    def from_json(text: str, source: str = '<string>') -> LatencyTable:
        ...
    @staticmethod
    def load(path: str) -> LatencyTable:
        ...
    def __init__(self) -> None:
        ...
    def __len__(self) -> int:
        ...
    def block_ms(self, block: str, resolution: typing.SupportsInt | typing.SupportsIndex, batch: typing.SupportsInt | typing.SupportsIndex, precision: str, device: str) -> float:
        ...
    def entries(self) -> list:
        ...
    def has(self, block: str, resolution: typing.SupportsInt | typing.SupportsIndex, batch: typing.SupportsInt | typing.SupportsIndex, precision: str, device: str) -> bool:
        ...
    def missing(self, arch: CoreArch, resolution: typing.SupportsInt | typing.SupportsIndex, batch: typing.SupportsInt | typing.SupportsIndex = 1, precision: str = 'fp32', device: str = 'cpu') -> list[tuple[str, int]]:
        """
        (block, input resolution) of arch without an entry
        """
    def query(self, arch: CoreArch, resolution: typing.SupportsInt | typing.SupportsIndex, batch: typing.SupportsInt | typing.SupportsIndex = 1, precision: str = 'fp32', device: str = 'cpu') -> float:
        """
        Σ over the blocks of arch (LatencyTableError names a missing block)
        """
    def save(self, path: str) -> None:
        """
        write atomically
        """
    def set(self, block: str, resolution: typing.SupportsInt | typing.SupportsIndex, batch: typing.SupportsInt | typing.SupportsIndex, precision: str, device: str, ms: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    def to_json(self) -> str:
        ...
    @property
    def fingerprint(self) -> int:
        ...
    @property
    def meta(self) -> dict[str, str]:
        ...
    @meta.setter
    def meta(self, arg1: collections.abc.Mapping[str, str]) -> None:
        ...
    @property
    def source(self) -> str:
        ...
class ConvLatencyModel:
    """
    overhead + scale × Σ conv ms + per_conv × #convs + per_mweight × Σ conv weights / 1e6 + per_mact × Σ conv input+output elements / 1e6; `predict([[depthwise, stride, fused, kernel, batch, in_c, in_h, out_c], ...])` gives the ms of convolutions it has not seen (memoised here)
    """
    def __init__(self, predict: collections.abc.Callable[[list[typing.Annotated[list[int], "FixedSize(8)"]]], collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]], overhead_ms: typing.SupportsFloat | typing.SupportsIndex = 0.0, scale: typing.SupportsFloat | typing.SupportsIndex = 1.0, per_conv_ms: typing.SupportsFloat | typing.SupportsIndex = 0.0, fingerprint: typing.SupportsInt | typing.SupportsIndex = 0, name: str = '', per_mweight_ms: typing.SupportsFloat | typing.SupportsIndex = 0.0, per_mact_ms: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
        ...
    def block_ms(self, arch: CoreArch, resolution: typing.SupportsInt | typing.SupportsIndex, batch: typing.SupportsInt | typing.SupportsIndex = 1) -> list[float]:
        """
        Σ conv ms of each block (without the overhead and scale)
        """
    def conv_ms(self, keys: collections.abc.Sequence[typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(8)"]]) -> list[float]:
        """
        ms of each [depthwise, stride, fused, kernel, batch, in_c, in_h, out_c] (memoised)
        """
    def network_ms(self, arch: CoreArch, resolution: typing.SupportsInt | typing.SupportsIndex, batch: typing.SupportsInt | typing.SupportsIndex = 1) -> float:
        ...
    @property
    def block_memo_size(self) -> int:
        ...
    @property
    def fingerprint(self) -> int:
        ...
    @property
    def memo_size(self) -> int:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def overhead_ms(self) -> float:
        ...
    @property
    def per_conv_ms(self) -> float:
        ...
    @property
    def per_mact_ms(self) -> float:
        ...
    @property
    def per_mweight_ms(self) -> float:
        ...
    @property
    def predictor_calls(self) -> int:
        ...
    @property
    def scale(self) -> float:
        ...
class RankTopK:
    """
    Exact top-k by non-linear rank aggregation Σ ln(rank/m) over a growing history; an insert does not re-rank the history
    """
    def __init__(self, num_scores: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __len__(self) -> int:
        ...
    def aggregate(self, id: typing.SupportsInt | typing.SupportsIndex) -> float:
        """
        Σ_M ln(rank_M/m) of one candidate
        """
    def best(self) -> typing.Any:
        ...
    def insert(self, id: typing.SupportsInt | typing.SupportsIndex, scores: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    def insert_many(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], values: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], bulk: bool = False, select: bool = False) -> float:
        """
        insert rows one by one (bulk=False: the tell path; select=True: also the top k after each, as the az loop does) or at once; returns the seconds it took
        """
    def ranking(self, n: typing.SupportsInt | typing.SupportsIndex = -1) -> list[tuple[int, float]]:
        """
        [(id, aggregated score)] best first, ties by id
        """
    def stats(self) -> dict:
        ...
    def top(self) -> list[int]:
        """
        ids of the current top k, ascending
        """
class Engine:
    """
    Evolution engine (ask/tell); see csrc/core/engine.h
    """
    @staticmethod
    def is_native(name: str) -> bool:
        ...
    @staticmethod
    def load(path: str, space: SearchSpace, budget: Budget, *, strategy: str = 'zen', iterations: typing.SupportsInt | typing.SupportsIndex = 1000, population: typing.SupportsInt | typing.SupportsIndex = 512, top_k: typing.SupportsInt | typing.SupportsIndex = 1024, seed: typing.SupportsInt | typing.SupportsIndex = 0, scores: collections.abc.Sequence[str] = ['score'], rho_start: typing.SupportsFloat | typing.SupportsIndex = 1.0, rho_end: typing.SupportsFloat | typing.SupportsIndex = 0.1, rho_fraction: typing.SupportsFloat | typing.SupportsIndex = 0.5, warmup: typing.SupportsInt | typing.SupportsIndex = 10, mutations: typing.SupportsInt | typing.SupportsIndex = 2, random_steps: typing.SupportsInt | typing.SupportsIndex = 8, max_rejections: typing.SupportsInt | typing.SupportsIndex = 100000, latency_table: typing.Any = None, latency_batch: typing.SupportsInt | typing.SupportsIndex = 1, latency_precision: str = 'fp32', latency_device: str = 'cpu') -> Engine:
        """
        restore a checkpoint written under the same configuration
        """
    def __init__(self, space: SearchSpace, budget: Budget, *, strategy: str = 'zen', iterations: typing.SupportsInt | typing.SupportsIndex = 1000, population: typing.SupportsInt | typing.SupportsIndex = 512, top_k: typing.SupportsInt | typing.SupportsIndex = 1024, seed: typing.SupportsInt | typing.SupportsIndex = 0, scores: collections.abc.Sequence[str] = ['score'], rho_start: typing.SupportsFloat | typing.SupportsIndex = 1.0, rho_end: typing.SupportsFloat | typing.SupportsIndex = 0.1, rho_fraction: typing.SupportsFloat | typing.SupportsIndex = 0.5, warmup: typing.SupportsInt | typing.SupportsIndex = 10, mutations: typing.SupportsInt | typing.SupportsIndex = 2, random_steps: typing.SupportsInt | typing.SupportsIndex = 8, max_rejections: typing.SupportsInt | typing.SupportsIndex = 100000, latency_table: typing.Any = None, latency_batch: typing.SupportsInt | typing.SupportsIndex = 1, latency_precision: str = 'fp32', latency_device: str = 'cpu') -> None:
        ...
    def __len__(self) -> int:
        ...
    def arch(self, id: typing.SupportsInt | typing.SupportsIndex) -> CoreArch:
        ...
    def ask(self, n: typing.SupportsInt | typing.SupportsIndex = 1) -> list:
        """
        [(id, CoreArch, parent id, iteration)] — new candidates within the budget
        """
    def best(self) -> typing.Any:
        """
        id of the best successful candidate (None before any)
        """
    def best_value(self) -> float:
        """
        M = 1: its score; M > 1: its aggregated rank score
        """
    def counters(self) -> dict:
        ...
    def csv_header(self) -> str:
        ...
    def csv_rows(self, ids: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> str:
        ...
    def csv_rows_range(self, lo: typing.SupportsInt | typing.SupportsIndex, hi: typing.SupportsInt | typing.SupportsIndex) -> str:
        ...
    def error(self, id: typing.SupportsInt | typing.SupportsIndex) -> str:
        ...
    def filter(self, ids: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], reasons: collections.abc.Sequence[str]) -> None:
        """
        record pending candidates as filtered (a two-stage search's first stage passed them over)
        """
    def native_score(self, id: typing.SupportsInt | typing.SupportsIndex, name: str) -> float:
        ...
    def parents_pool(self) -> list[int]:
        """
        zen: the population; az: the top k; random: []
        """
    def pending(self) -> list[int]:
        ...
    def ranking(self, n: typing.SupportsInt | typing.SupportsIndex = -1) -> list[tuple[int, float]]:
        """
        [(id, value)] best first
        """
    def record(self, id: typing.SupportsInt | typing.SupportsIndex) -> dict:
        ...
    def rho(self, t: typing.SupportsInt | typing.SupportsIndex) -> float:
        """
        type-change probability at iteration t
        """
    def run_native(self, max_iterations: typing.SupportsInt | typing.SupportsIndex) -> int:
        """
        ask/score/tell with the native scorers in C++; returns iterations done
        """
    def save(self, path: str) -> None:
        """
        atomic checkpoint
        """
    def scores(self, id: typing.SupportsInt | typing.SupportsIndex) -> list[float]:
        ...
    def status(self, id: typing.SupportsInt | typing.SupportsIndex) -> str:
        ...
    def structure(self, id: typing.SupportsInt | typing.SupportsIndex) -> str:
        ...
    def tell(self, ids: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], scores: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]], errors: collections.abc.Sequence[str] = []) -> None:
        """
        scores: one row of num_scores floats per id; errors[i] non-empty marks candidate i failed
        """
    def topk_stats(self) -> dict:
        ...
    @property
    def fingerprint(self) -> str:
        ...
    @property
    def finished(self) -> bool:
        ...
    @property
    def iteration(self) -> int:
        ...
    @property
    def iterations(self) -> int:
        ...
    @property
    def meta(self) -> bytes:
        ...
    @meta.setter
    def meta(self, arg1: str) -> None:
        ...
    @property
    def population(self) -> list[int]:
        ...
    @property
    def score_names(self) -> list[str]:
        ...
    @property
    def strategy(self) -> str:
        ...
def bench_loop(space: SearchSpace, n: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex = 0, restart_every: typing.SupportsInt | typing.SupportsIndex = 10, resolution: typing.SupportsInt | typing.SupportsIndex = 224) -> tuple[int, float]:
    """
    pure C++ loop of mutate + print + parse + params + FLOPs; returns (checksum, seconds)
    """
def budget_violation(arch: CoreArch, budget: Budget) -> typing.Any:
    """
    None when within budget, else the violated limit with both numbers
    """
def builtin_space(name: str) -> SearchSpace:
    ...
def catalogue() -> list[str]:
    """
    Every block type name the parser accepts
    """
def mbv2_space() -> SearchSpace:
    """
    ZenNAS Space II (ImageNet IDW)
    """
def mutate(arch: CoreArch, space: SearchSpace, rng: Rng, type_change_prob: typing.SupportsFloat | typing.SupportsIndex = 1.0) -> CoreArch:
    """
    mutate one non-fixed block (REFERENCE §2), re-chain, split
    """
def network_convs(arch: CoreArch, resolution: typing.SupportsInt | typing.SupportsIndex, batch: typing.SupportsInt | typing.SupportsIndex = 1) -> list:
    """
    The deployed network's convolutions as TinyNAS keys them (the residual add fused into the last conv of a residual unit); dicts with type, stride, fused, kernel, batch, in_c, in_h, out_c, block
    """
def res_space() -> SearchSpace:
    """
    ZenNAS Space I (CIFAR XXBL)
    """
def round8(x: typing.SupportsFloat | typing.SupportsIndex) -> int:
    """
    max(8, round-half-even(x/8)*8), ZenNAS smart_round(x, 8)
    """
def sample(space: SearchSpace, rng: Rng, budget: Budget = None, max_tries: typing.SupportsInt | typing.SupportsIndex = 10000, steps: typing.SupportsInt | typing.SupportsIndex = 8) -> CoreArch:
    """
    random architecture: the initial structure mutated `steps` times (within budget)
    """
def vit_arch(text: str) -> dict:
    """
    The ViT 'vit:E:D:r1,...:h1,...' as a dict (embed, depth, mlp_ratio, heads, mlp_hidden, canonical text); ValueError naming what is wrong
    """
def vit_counts(text: str, resolution: typing.SupportsInt | typing.SupportsIndex = 224, num_classes: typing.SupportsInt | typing.SupportsIndex = 1000, patch: typing.SupportsInt | typing.SupportsIndex = 16, head_dim: typing.SupportsInt | typing.SupportsIndex = 64) -> dict:
    """
    Exact parameters, Conv2d+Linear MACs (what hooks count), attention MACs (2·T²·Q per layer) and tokens
    """
def within_budget(arch: CoreArch, budget: Budget) -> bool:
    """
    True when arch satisfies every limit of budget
    """
