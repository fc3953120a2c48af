// AutoFormer-style Vision Transformers (AZ-NAS's ViT search; issue 13): the architecture of one
// subnet -- embedding dim E, depth D, and per layer an MLP ratio and a head count (Q-K-V dim =
// heads × head_dim, AutoFormer's change_qkv) -- its text form, and its exact counts.
//
// Text: "vit:E:D:r_1,...,r_D:h_1,...,h_D" (a single r or h stands for every layer), e.g.
// "vit:192:12:3.5:3". The network (python/zsnas/nn/vit.py): patch embedding Conv P×P stride P
// (+bias), a class token and learned position embeddings; per layer LN → MHSA (qkv Linear E→3Q
// with bias, proj Q→E) → residual, LN → MLP (Linear E→m, GELU, Linear m→E, m = int(r·E)) →
// residual; final LN; the head reads the class token.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zsnas {

struct VitArch {
  int embed = 0, depth = 0;
  std::vector<double> mlp_ratio;  // per layer
  std::vector<int> heads;         // per layer

  static VitArch parse(const std::string& text);  // std::invalid_argument naming what is wrong
  std::string to_string() const;                  // canonical: full per-layer lists
  int mlp_hidden(int layer) const;                // int(r · E), as AutoFormer
};

struct VitCounts {
  int64_t params = 0;
  int64_t macs = 0;            // Conv2d + Linear multiply-accumulates per image (what hooks count)
  int64_t attention_macs = 0;  // Q·Kᵀ and A·V per image (2 · T² · Q per layer), not in `macs`
  int tokens = 0;              // T = (R / P)² + 1
};

VitCounts vit_counts(const VitArch& a, int resolution = 224, int num_classes = 1000, int patch = 16,
                     int head_dim = 64);

}  // namespace zsnas
