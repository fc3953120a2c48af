"""Zen-score as the Zen-NAS authors compute it (baseline for bench/bench_proxies.py).

Per repeat: Gaussian re-init, two forward passes (x, then x + 0.01*eps) in NCHW, L1 of the
feature difference, and ln sqrt(mean running_var) of every BN read *after* both passes
(momentum 0.1: the documented ⚠ of REFERENCE.md §3, kept here on purpose).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def gaussian_init(model: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_(0.0, 1.0, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()


def zen_score_authors(model: nn.Module, resolution: int, batch_size: int, repeats: int = 1,
                      mixup_gamma: float = 0.01, seed: int = 0) -> float:
    g = torch.Generator()
    g.manual_seed(seed)
    model.train()
    scores = []
    with torch.no_grad():
        for _ in range(repeats):
            gaussian_init(model, g)
            x = torch.randn(batch_size, 3, resolution, resolution, generator=g)
            x2 = torch.randn(batch_size, 3, resolution, resolution, generator=g)
            mixup = x + mixup_gamma * x2
            out = model.forward_pre_gap(x)
            out_mix = model.forward_pre_gap(mixup)
            delta = torch.mean(torch.sum(torch.abs(out - out_mix), dim=[1, 2, 3]))
            log_bn = 0.0
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    log_bn += float(torch.log(torch.sqrt(torch.mean(m.running_var))))
            scores.append(math.log(float(delta)) + log_bn)
    return sum(scores) / len(scores)
