"""NAS-Bench-201 cell networks built from an arch string (REFERENCE.md §7).

Arch string: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` -- the groups separated by ``+`` are
nodes 1, 2, 3; ``op~i`` in the group of node j is the edge i -> j. Node j = sum over its
edges of op(node i); the cell outputs node 3. Network (C=16, N=5): stem conv3x3+BN (no ReLU);
5 cells @16; reduction block ->32 (stride 2); 5 cells @32; reduction ->64; 5 cells @64;
BN+ReLU; global pool; Linear. Layers follow the benchmark's own code (ReLU->Conv->BN with
affine BN and bias-free convs; avg pool without padded zeros), so parameter counts equal the
benchmark's table exactly.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import batch_norm_train, box_mean3x3
from .common import ContractNet

NB201_OPS: Tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)

# One edge of the cell DAG: (from_node, to_node, op).
Edge = Tuple[int, int, str]


def parse_nb201(arch_str: str) -> Tuple[Edge, ...]:
    """Parse an NB201 arch string into its 6 edges ``(from_node, to_node, op)``.

    Edges are returned ordered by target node, then by source node. Raises ValueError naming
    the offending node/position for anything that is not a well-formed 4-node cell.
    """
    if not isinstance(arch_str, str):
        raise ValueError(f"NB201 arch string must be a str, got {type(arch_str).__name__}")
    s = arch_str.strip()
    groups = s.split("+")
    if len(groups) != 3:
        raise ValueError(
            f"NB201 arch string must have 3 node groups separated by '+', got {len(groups)}: {arch_str!r}"
        )
    edges: List[Edge] = []
    for j, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise ValueError(
                f"NB201 node {j} group {group!r} must be enclosed in '|' (in {arch_str!r})"
            )
        tokens = group[1:-1].split("|")
        if len(tokens) != j:
            raise ValueError(
                f"NB201 node {j} must have {j} incoming edge(s), got {len(tokens)} in {group!r}"
            )
        seen = {}
        for pos, tok in enumerate(tokens):
            op, sep, src = tok.partition("~")
            where = f"node {j}, edge {pos} ({tok!r})"
            if not sep:
                raise ValueError(f"NB201 {where}: expected 'op~input', missing '~'")
            if op not in NB201_OPS:
                raise ValueError(f"NB201 {where}: unknown op {op!r}; known ops: {', '.join(NB201_OPS)}")
            if not src.isdigit():
                raise ValueError(f"NB201 {where}: input node {src!r} is not a non-negative integer")
            i = int(src)
            if i >= j:
                raise ValueError(f"NB201 {where}: input node {i} must be < {j}")
            if i in seen:
                raise ValueError(f"NB201 {where}: input node {i} appears twice")
            seen[i] = op
        edges.extend((i, j, seen[i]) for i in range(j))
    return tuple(edges)


def nb201_op_counts(arch_str: str) -> Tuple[int, int]:
    """``(n3, n1)``: the numbers of nor_conv_3x3 and nor_conv_1x1 edges of the cell."""
    ops = [op for _, _, op in parse_nb201(arch_str)]
    return ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1")


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BN (affine), the benchmark's conv operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` op. ``x * 0`` rather than zeros_like so the output stays in the autograd
    graph: a cell of only ``none`` edges then has a (zero) VJP instead of an autograd error.
    From C_in to another C_out (a NATS size-space cell's first edges) the zeros have C_out
    channels, still from x."""

    def __init__(self, c_out: Optional[int] = None) -> None:
        super().__init__()
        self.c_out = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.c_out is None or self.c_out == x.shape[1]:
            return x * 0.0
        return (x[:, :1] * 0.0).expand(-1, self.c_out, -1, -1)


class ChannelChange(nn.Sequential):
    """skip_connect from C_in to another C_out: Conv1x1 (no bias) -> BN, no ReLU, as the
    benchmark code's FactorizedReduce does at stride 1 (NATS size-space cells)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, 1, 1, 0, bias=False), nn.BatchNorm2d(c_out))


class AvgPool3x3(nn.AvgPool2d):
    """The benchmark's avg_pool_3x3: AvgPool2d(3, 1, 1, count_include_pad=False), computed by
    zsnas's separable box-mean kernels (zsnas.ops.box_mean3x3: same values to float32
    rounding, 2-5x faster forward and backward on CPU than avg_pool2d; other inputs fall
    back to avg_pool2d)."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or torch.onnx.is_in_onnx_export():  # an exported graph holds ONNX's AveragePool
            return super().forward(x)
        return box_mean3x3(x, self.count_include_pad)


def _make_op(op: str, channels: int, c_in: Optional[int] = None) -> nn.Module:
    """Edge op to `channels` outputs from `c_in` (default the same) inputs; a change of width
    is made as the benchmark code makes it (NATS-Bench's size space)."""
    c_in = channels if c_in is None else c_in
    if op == "none":
        return Zero(None if c_in == channels else channels)
    if op == "skip_connect":
        return nn.Identity() if c_in == channels else ChannelChange(c_in, channels)
    if op == "nor_conv_1x1":
        return ReLUConvBN(c_in, channels, 1, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(c_in, channels, 3, 1)
    if op == "avg_pool_3x3":  # the benchmark's POOLING: a ReLU-Conv1x1-BN first when the width changes
        return AvgPool3x3() if c_in == channels else nn.Sequential(ReLUConvBN(c_in, channels, 1, 1), AvgPool3x3())
    raise ValueError(f"unknown NB201 op {op!r}; known ops: {', '.join(NB201_OPS)}")


def _live_edges(edges: Sequence[Edge], j: int) -> List[Tuple[int, str]]:
    """The edges (i, op) node j is summed from. A `none` edge adds exact zeros and is skipped,
    unless it is the node's only input (then x*0 keeps the node in the autograd graph, so a
    VJP through the cell is defined)."""
    incoming = [(i, op) for i, jj, op in edges if jj == j]
    return [(i, op) for i, op in incoming if op != "none"] or incoming[:1]


class NB201Cell(nn.Module):
    """The searched 4-node cell: node j = sum_{i<j} op_ij(node i); output node 3.

    ``lean`` (off by default) computes only what the output depends on, once, in as few
    kernels as it can: nodes that do not reach node 3 are skipped (node 1 of
    ``|..|+|..|none~1|+|..|none~1|none~2|``); the conv edges leaving one node share one ReLU of
    it, and those of the same shape run as one convolution with their weights stacked and one
    training-mode BN over the stacked channels (BN is per channel: the same statistics). The
    output and its gradient equal the plain forward's up to float32 rounding (16-channel
    convolutions run ~1.6x faster stacked two deep, forward and backward). It is off by default
    because skipped and stacked modules do not run as modules: proxies that hook modules
    (NASWOT's ReLU codes) and BN running statistics see every edge in the benchmark's own code.
    AZ-NAS turns it on while it scores.
    """

    def __init__(self, edges: Sequence[Edge], channels: int, c_in: Optional[int] = None) -> None:
        super().__init__()
        self.edges = tuple(edges)
        # key "e{i}{j}" = the edge from node i to node j; node 0 has c_in channels, the others `channels`.
        self.ops = nn.ModuleDict({f"e{i}{j}": _make_op(op, channels, c_in if i == 0 else None)
                                  for i, j, op in self.edges})
        self.lean = False
        needed = {3}  # nodes the output depends on
        for j in (3, 2, 1):
            if j in needed:
                needed.update(i for i, _ in _live_edges(self.edges, j))
        self._needed = frozenset(needed)
        # node i -> the targets j of its conv edges that lean forward computes
        op_of = {(i, j): op for i, j, op in self.edges}
        self._conv_targets = {i: [j for j in sorted(self._needed) if op_of.get((i, j), "").startswith("nor_conv")
                                  and (i, op_of[(i, j)]) in _live_edges(self.edges, j)] for i in range(3)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lean:
            return self._lean_forward(x)
        nodes = [x]
        for j in (1, 2, 3):
            terms = [self.ops[f"e{i}{j}"](nodes[i]) for i, _ in _live_edges(self.edges, j)]
            nodes.append(sum(terms[1:], terms[0]))
        return nodes[3]

    def _lean_forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: List[Optional[torch.Tensor]] = [x]
        convs: dict = {}  # (i, j) -> output of conv edge i -> j, made with node i's other convs
        for j in (1, 2, 3):
            if j not in self._needed:
                nodes.append(None)
                continue
            terms = []
            for i, _ in _live_edges(self.edges, j):
                if j in self._conv_targets[i]:
                    if (i, j) not in convs:
                        convs.update(self._convs_from(i, nodes[i]))
                    terms.append(convs.pop((i, j)))
                else:
                    terms.append(self.ops[f"e{i}{j}"](nodes[i]))
            nodes.append(sum(terms[1:], terms[0]))
        return nodes[3]

    def _convs_from(self, i: int, node: torch.Tensor) -> dict:
        """{(i, j): output} of every conv edge lean forward needs from node i."""
        ops = {j: self.ops[f"e{i}{j}"] for j in self._conv_targets[i]}
        relu = next(iter(ops.values()))[0](node)
        groups: dict = {}  # edges that can share one convolution and one BN
        for j, op in ops.items():
            conv, bn = op[1], op[2]
            key = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, conv.bias is None,
                   type(bn) is nn.BatchNorm2d and bn.training, bn.affine, bn.eps)
            groups.setdefault(key if key[6] else (j,), []).append(j)
        out = {}
        for group in groups.values():
            if len(group) == 1:
                j = group[0]
                out[(i, j)] = ops[j][2](ops[j][1](relu))
                continue
            conv, bn = ops[group[0]][1], ops[group[0]][2]
            weight = torch.cat([ops[j][1].weight for j in group])
            y = F.conv2d(relu, weight, None, conv.stride, conv.padding, conv.dilation)
            affine = [torch.cat([getattr(ops[j][2], name) for j in group]) if bn.affine else None
                      for name in ("weight", "bias")]
            y = batch_norm_train(y, affine[0], affine[1], bn.eps)
            for j, part in zip(group, y.split([ops[j][1].out_channels for j in group], dim=1)):
                out[(i, j)] = part
        return out


class ReductionBlock(nn.Module):
    """NB201's ResNetBasicblock between stages (stride 2).

    ReLU-Conv3x3 s2-BN, ReLU-Conv3x3-BN, plus shortcut AvgPool2d(2,2) -> Conv1x1 (no bias);
    no final ReLU. With ``residual=False`` the shortcut and its add are removed.
    """

    def __init__(self, c_in: int, c_out: int, residual: bool = True) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.residual = residual
        self.downsample = (
            nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(c_in, c_out, 1, 1, 0, bias=False))
            if residual
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_b(self.conv_a(x))
        if self.downsample is not None:
            out = out + self.downsample(x)
        return out


class NB201Network(ContractNet):
    """The NAS-Bench-201 macro skeleton around one searched cell, under the zsnas contract."""

    def __init__(
        self,
        arch_str: str,
        num_classes: int = 10,
        channels: int = 16,
        cells_per_stage: int = 5,
        residual: bool = True,
        layer_channels: Optional[Sequence[int]] = None,
        stem: bool = True,
        depth: Optional[int] = None,
    ) -> None:
        edges = parse_nb201(arch_str)
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if int(channels) < 1 or int(cells_per_stage) < 0:
            raise ValueError(
                f"channels must be >= 1 and cells_per_stage >= 0, got {channels}, {cells_per_stage}"
            )
        n = int(cells_per_stage)
        # layers: N cells, reduction, N cells, reduction, N cells; each layer's width
        widths = [int(channels) * 2 ** s for s in range(3) for _ in range(n + (s > 0))]
        if layer_channels is not None:
            widths = [int(w) for w in layer_channels]
            if len(widths) != 3 * n + 2 or min(widths) < 1:
                raise ValueError(f"layer_channels: {3 * n + 2} widths >= 1 for {n} cells per stage, got {widths}")
        reductions = [False] * n + [True] + [False] * n + [True] + [False] * n
        if depth is not None:  # only the first `depth` layers (TE-NAS's depth), then the tail
            if int(depth) < 1:
                raise ValueError(f"depth must be >= 1 (layers kept), got {depth}")
            widths, reductions = widths[:int(depth)], reductions[:int(depth)]
        c = widths[0]
        # without the stem the input goes straight into the first cell, so it has widths[0] channels
        units: List[nn.Module] = []
        if stem:
            units.append(nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)))
        for w, reduction in zip(widths, reductions):
            units.append(ReductionBlock(c, w, residual) if reduction else NB201Cell(edges, w, c_in=c))
            c = w
        tail = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        super().__init__(units, nn.Linear(c, int(num_classes)), tail=tail, residual=residual)
        self.arch_str = arch_str
        self.edges = edges


NATS_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def nats_size_network(channels: Sequence[int], num_classes: int = 10, residual: bool = True) -> NB201Network:
    """NATS-Bench's size-space network (REFERENCE §10): the NB201 skeleton with one cell per
    stage (cell, reduction, cell, reduction, cell), the fixed cell NATS_CELL, and the width of
    each of the 5 layers given (the stem has the first). A cell's edges from node 0 change the
    width as the benchmark code does."""
    return NB201Network(NATS_CELL, num_classes=num_classes, cells_per_stage=1, residual=residual,
                        layer_channels=channels)


def nb201_thin_network(arch_str: str, num_classes: int = 10) -> NB201Network:
    """TE-NAS's "thin" network of a cell, on which it counts linear regions (its model_config_thin:
    C=1, N=1, depth 1, no stem): the one cell at width 1 on the single-channel input (TE-NAS feeds
    3×3 crops), then BN+ReLU, pooling and the classifier."""
    return NB201Network(arch_str, num_classes=num_classes, channels=1, cells_per_stage=1, stem=False, depth=1)


def nb201_tenas_ntk_network(arch_str: str, num_classes: int = 10) -> NB201Network:
    """The network TE-NAS takes the NTK of on NAS-Bench-201 (its model_config: C=3, N=1, the stem):
    cell, reduction, cell, reduction, cell at widths 3, 6, 6, 12, 12."""
    return NB201Network(arch_str, num_classes=num_classes, channels=3, cells_per_stage=1)


def nb201_network(arch_str: str, num_classes: int = 10, residual: bool = True) -> NB201Network:
    """Build the NB201 network (C=16, N=5) for ``arch_str``.

    ``residual=False`` removes the shortcut of the two reduction blocks only; the cell's edges
    (skip_connect included) are the architecture being scored and always stay.
    """
    return NB201Network(arch_str, num_classes=num_classes, residual=residual)
