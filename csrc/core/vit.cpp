// Text form and exact counts of AutoFormer-style ViTs (vit.h).
#include "vit.h"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace zsnas {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

[[noreturn]] void bad(const std::string& text, const std::string& why) {
  throw std::invalid_argument("'" + text + "' is not a ViT 'vit:E:D:r1,...:h1,...' (" + why + ")");
}

long to_long(const std::string& text, const std::string& field, const std::string& v) {
  size_t used = 0;
  long x = 0;
  try {
    x = std::stol(v, &used);
  } catch (const std::exception&) {
    bad(text, field + " '" + v + "' is not a whole number");
  }
  if (used != v.size()) bad(text, field + " '" + v + "' is not a whole number");
  return x;
}

template <class T, class F>
std::vector<T> per_layer(const std::string& text, const std::string& field, const std::string& list, int depth, F conv) {
  std::vector<T> out;
  for (const std::string& v : split(list, ',')) out.push_back(conv(v));
  if (out.size() == 1) out.assign(static_cast<size_t>(depth), out[0]);
  if (static_cast<int>(out.size()) != depth)
    bad(text, std::to_string(out.size()) + " " + field + " values for depth " + std::to_string(depth));
  return out;
}

}  // namespace

VitArch VitArch::parse(const std::string& text) {
  std::vector<std::string> f = split(text, ':');
  if (f.size() != 5 || f[0] != "vit") bad(text, "five ':'-separated fields starting with 'vit'");
  VitArch a;
  long e = to_long(text, "embedding dim", f[1]), d = to_long(text, "depth", f[2]);
  if (e < 1 || e > 65536) bad(text, "embedding dim must be within [1, 65536]");
  if (d < 1 || d > 256) bad(text, "depth must be within [1, 256]");
  a.embed = static_cast<int>(e);
  a.depth = static_cast<int>(d);
  a.mlp_ratio = per_layer<double>(text, "MLP ratio", f[3], a.depth, [&](const std::string& v) {
    size_t used = 0;
    double r = 0;
    try {
      r = std::stod(v, &used);
    } catch (const std::exception&) {
      bad(text, "MLP ratio '" + v + "' is not a number");
    }
    if (used != v.size() || !(r > 0) || !std::isfinite(r) || r > 64) bad(text, "MLP ratio '" + v + "' must be in (0, 64]");
    return r;
  });
  a.heads = per_layer<int>(text, "head", f[4], a.depth, [&](const std::string& v) {
    long h = to_long(text, "head count", v);
    if (h < 1 || h > 1024) bad(text, "head count '" + v + "' must be within [1, 1024]");
    return static_cast<int>(h);
  });
  for (int l = 0; l < a.depth; ++l)
    if (a.mlp_hidden(l) < 1) bad(text, "layer " + std::to_string(l + 1) + ": int(MLP ratio × E) is 0");
  return a;
}

int VitArch::mlp_hidden(int layer) const {
  return static_cast<int>(mlp_ratio.at(static_cast<size_t>(layer)) * embed);
}

std::string VitArch::to_string() const {
  std::ostringstream s;
  s << "vit:" << embed << ":" << depth << ":";
  char buf[32];
  for (int l = 0; l < depth; ++l) {
    std::snprintf(buf, sizeof buf, "%.10g", mlp_ratio[static_cast<size_t>(l)]);
    s << (l ? "," : "") << buf;
  }
  s << ":";
  for (int l = 0; l < depth; ++l) s << (l ? "," : "") << heads[static_cast<size_t>(l)];
  return s.str();
}

VitCounts vit_counts(const VitArch& a, int resolution, int num_classes, int patch, int head_dim) {
  if (patch < 1 || resolution < patch || resolution % patch != 0)
    throw std::invalid_argument("ViT: resolution " + std::to_string(resolution) + " is not a multiple of patch size " +
                                std::to_string(patch));
  if (num_classes < 1 || head_dim < 1) throw std::invalid_argument("ViT: num_classes and head_dim must be >= 1");
  const int64_t E = a.embed, P = patch, grid = resolution / patch, T = grid * grid + 1, K = num_classes;
  VitCounts c;
  c.tokens = static_cast<int>(T);
  c.params = 3 * P * P * E + E + E + T * E;  // patch conv (+bias), class token, position embeddings
  c.macs = 3 * P * P * E * grid * grid;
  for (int l = 0; l < a.depth; ++l) {
    const int64_t Q = int64_t(a.heads[static_cast<size_t>(l)]) * head_dim, m = a.mlp_hidden(l);
    c.params += 2 * E + (E * 3 * Q + 3 * Q) + (Q * E + E) + 2 * E + (E * m + m) + (m * E + E);
    c.macs += T * (E * 3 * Q + Q * E + 2 * E * m);
    c.attention_macs += 2 * T * T * Q;
  }
  c.params += 2 * E + E * K + K;  // final LN, head
  c.macs += E * K;
  return c;
}

}  // namespace zsnas
