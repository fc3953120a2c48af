"""AZ-NAS proxies as the AZ-NAS authors compute them (baseline for bench/bench_proxies.py).

One forward pass keeping the (non-detached) unit outputs; fp32 covariance + eigvalsh per
feature; then, from the last pair backwards, one ``torch.autograd.grad`` per pair with a
Bernoulli-drawn +-1 probe (retain_graph=False), pixel-unshuffle, svdvals. NaN -> -inf.
The network's layers are torch's own, as in the authors' code: zsnas's NB201 avg_pool_3x3
module (which runs zsnas's box-mean kernel) is swapped for nn.AvgPool2d first.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def kaiming_init(model: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


def with_torch_pools(model: nn.Module) -> nn.Module:
    """Replace zsnas's NB201 AvgPool3x3 modules by the nn.AvgPool2d they stand for (in place)."""
    from zsnas.nn.nb201 import AvgPool3x3

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, AvgPool3x3):
                setattr(parent, name, nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False))
    return model


def az_scores_authors(model: nn.Module, resolution: int, batch_size: int, flops: float, seed: int = 0) -> dict:
    model = with_torch_pools(model)
    g = torch.Generator()
    g.manual_seed(seed)
    model.train()
    kaiming_init(model, g)
    x = torch.randn(batch_size, 3, resolution, resolution, generator=g)
    feats = []
    out = x
    for unit in model.units:
        out = unit(out)
        if out.requires_grad:
            out.retain_grad()
        feats.append(out)

    ent = []
    for f in feats:
        f = f.detach().clone()
        b, c, h, w = f.shape
        f = f.permute(0, 2, 3, 1).contiguous().view(b * h * w, c)
        f = f - f.mean(dim=0, keepdim=True)
        sigma = torch.mm(f.t(), f) / f.shape[0]
        s = torch.linalg.eigvalsh(sigma)
        p = s / s.sum()
        ent.append(float((-p * torch.log(p + 1e-8)).sum()))
    ent = np.array(ent)
    progressivity = float(np.min(ent[1:] - ent[:-1]))
    expressivity = float(np.sum(ent))

    terms = []
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i], feats[i - 1]
        g_out = (torch.bernoulli(torch.full_like(f_out, 0.5), generator=g) - 0.5) * 2
        g_in = torch.autograd.grad(outputs=f_out, inputs=f_in, grad_outputs=g_out, retain_graph=False)[0]
        if g_out.shape == g_in.shape and torch.all(g_in == g_out):
            terms.append(-math.inf)
            continue
        if g_out.shape[2:] != g_in.shape[2:]:
            g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
        bo, co, ho, wo = g_out.shape
        ci = g_in.shape[1]
        go = g_out.permute(0, 2, 3, 1).contiguous().view(-1, co)
        gi = g_in.permute(0, 2, 3, 1).contiguous().view(-1, ci)
        mat = torch.mm(gi.t(), go) / (bo * ho * wo)
        if mat.shape[0] < mat.shape[1]:
            mat = mat.t()
        s = float(torch.linalg.svdvals(mat).max())
        terms.append(-s - 1 / (s + 1e-6) + 2)
    trainability = float(np.mean(terms))

    def clean(v):
        return -math.inf if math.isnan(v) else v

    return {"expressivity": clean(expressivity), "progressivity": clean(progressivity),
            "trainability": clean(trainability), "complexity": float(flops)}
