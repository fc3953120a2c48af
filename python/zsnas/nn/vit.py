"""AutoFormer-style Vision Transformers under the zsnas model contract (issue 13, item 4).

The architecture is the text "vit:E:D:r_1,...,r_D:h_1,...,h_D" that zsnas._core parses and counts
(csrc/core/vit.h: one definition of the network's shape). Units: the patch embedding (Conv P×P
stride P with bias, a class token, learned position embeddings; output [B, T, E]), then each
transformer layer (pre-LN MHSA with Q-K-V dim heads × 64 and bias, pre-LN MLP m = int(r·E) with
GELU, both residual; output [B, T, E]). Tail: the final LayerNorm; the classifier reads the class
token (``pool``). ``residual=False`` drops both residual adds of every layer.

AutoFormer itself adds relative position encodings in its supernet; zsnas's subnet has the plain
ViT's absolute position embeddings only (the counts say so), which is what AZ-NAS's proxies see
of a subnet apart from those few parameters.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .common import ContractNet

HEAD_DIM = 64


class PatchEmbed(nn.Module):
    def __init__(self, embed: int, patch: int, tokens: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, embed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.proj(x).flatten(2).transpose(1, 2)  # [B, N, E]
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)
        if t.shape[1] != self.pos_embed.shape[1]:
            raise ValueError(f"ViT: {t.shape[1]} tokens at this resolution, the network was built for "
                             f"{self.pos_embed.shape[1]}")
        return t + self.pos_embed


class Attention(nn.Module):
    def __init__(self, embed: int, heads: int, head_dim: int = HEAD_DIM) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(embed, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        a = torch.softmax((q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class TransformerLayer(nn.Module):
    def __init__(self, embed: int, heads: int, mlp_hidden: int, residual: bool = True) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(embed), Attention(embed, heads)
        self.norm2 = nn.LayerNorm(embed)
        self.mlp = nn.Sequential(nn.Linear(embed, mlp_hidden), nn.GELU(), nn.Linear(mlp_hidden, embed))
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.attn(self.norm1(x))
        x = x + y if self.residual else y
        y = self.mlp(self.norm2(x))
        return x + y if self.residual else y


class ViTNetwork(ContractNet):
    def __init__(self, text: str, num_classes: int = 1000, resolution: int = 224, patch: int = 16,
                 residual: bool = True) -> None:
        from .. import _core

        a = _core.vit_arch(text)
        tokens = _core.vit_counts(text, resolution=resolution, num_classes=num_classes, patch=patch)["tokens"]
        e = a["embed"]
        units = [PatchEmbed(e, patch, tokens)]
        units += [TransformerLayer(e, h, m, residual) for h, m in zip(a["heads"], a["mlp_hidden"])]
        super().__init__(units, nn.Linear(e, int(num_classes)), tail=nn.LayerNorm(e), residual=residual)
        self.text = a["text"]

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        return features[:, 0]  # the class token


def vit_network(text: str, num_classes: int = 1000, residual: bool = True, resolution: Optional[int] = None,
                patch: int = 16) -> ViTNetwork:
    """The ViT of `text` ("vit:E:D:r…:h…") for `resolution` (default 224) and `num_classes`."""
    return ViTNetwork(text, num_classes=num_classes, resolution=224 if resolution is None else resolution,
                      patch=patch, residual=residual)
