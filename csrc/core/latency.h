// Latency look-up table: milliseconds per block, keyed by (block signature, input resolution,
// batch, precision, device); the latency of an Arch is the sum over its blocks.
//
// Stored as JSON (read and written here, no dependency):
//   {"format": "zsnas-latency-table", "version": 1, "meta": {"note": "..."},
//    "entries": [{"block": "SuperResK3K3(8,16,1,8,1)", "resolution": 32, "batch": 64,
//                 "precision": "fp32", "device": "cpu", "ms": 0.125}, ...]}
// How tables are measured lives elsewhere (python/zsnas/latency/); this file only stores and
// queries them, fast enough for the search engine's budget check (no strings on the hot path).
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "arch.h"

namespace zsnas {

// A missing entry, or a malformed table. Bound to Python as zsnas._core.LatencyTableError (ValueError).
class LatencyTableError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Which measurements of a table a query reads.
struct LatencyKey {
  int batch = 1;
  std::string precision = "fp32";
  std::string device = "cpu";
};

// What the engine's latency budget and native "latency" score read: the predicted milliseconds of
// a whole network at an input resolution. Two models: LatencyTable (exact block signatures,
// below) and ConvLatencyModel (conv_latency.h: TinyNAS's sum over convolutions, which
// generalises to blocks never measured).
class LatencyModel {
 public:
  virtual ~LatencyModel() = default;
  virtual double network_ms(const Arch& arch, int resolution, const LatencyKey& key) const = 0;
  virtual uint64_t fingerprint() const = 0;  // for checkpoint fingerprints
  virtual std::string kind() const = 0;      // "table" | "conv"
};

struct LatencyEntry {
  Block block;
  int resolution = 0;
  int batch = 1;
  std::string precision, device;
  double ms = 0;
};

class LatencyTable : public LatencyModel {
 public:
  LatencyTable() = default;

  static LatencyTable from_json(const std::string& text, const std::string& source = "<string>");
  static LatencyTable load(const std::string& path);
  std::string to_json() const;
  void save(const std::string& path) const;  // atomic (write a temporary file, then rename)

  // Adds or replaces one measurement. `block` is one block of a structure string.
  void set(const Block& block, int resolution, int batch, const std::string& precision, const std::string& device,
           double ms);
  void set(const std::string& block, int resolution, int batch, const std::string& precision,
           const std::string& device, double ms);
  bool has(const Block& block, int resolution, const LatencyKey& key) const;
  // Throws LatencyTableError naming the block signature and the full key when absent.
  double block_ms(const Block& block, int resolution, const LatencyKey& key) const;
  // Σ over blocks of block_ms(block, its input resolution, key); `resolution` is the network input.
  double query(const Arch& arch, int resolution, const LatencyKey& key) const;
  // (block, input resolution) pairs of `arch` that have no entry under `key` (for error reports / LUT builds).
  std::vector<std::pair<Block, int>> missing(const Arch& arch, int resolution, const LatencyKey& key) const;

  std::vector<LatencyEntry> entries() const;  // sorted by the key's text form
  size_t size() const { return table_.size(); }
  std::map<std::string, std::string>& meta() { return meta_; }
  const std::map<std::string, std::string>& meta() const { return meta_; }
  const std::string& source() const { return source_; }
  // Hash of the contents (entries only), for checkpoint fingerprints.
  uint64_t fingerprint() const override;
  double network_ms(const Arch& arch, int resolution, const LatencyKey& key) const override {
    return query(arch, resolution, key);
  }
  std::string kind() const override { return "table"; }

  // Key text "SuperResK3K3(8,16,1,8,1)@32/b64/fp32/cpu" (used in messages and for sorting).
  static std::string key_text(const Block& block, int resolution, int batch, const std::string& precision,
                              const std::string& device);

 private:
  struct Key {
    uint64_t block_lo = 0, block_hi = 0;  // packed block
    int32_t resolution = 0, batch = 0;
    int32_t condition = 0;  // interned (precision, device)
    bool operator==(const Key& o) const {
      return block_lo == o.block_lo && block_hi == o.block_hi && resolution == o.resolution && batch == o.batch &&
             condition == o.condition;
    }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  int condition_id(const std::string& precision, const std::string& device) const;  // -1: unknown
  int intern_condition(const std::string& precision, const std::string& device);
  Key make_key(const Block& b, int resolution, int batch, int condition) const;
  [[noreturn]] void throw_missing(const Block& b, int block_index, int resolution, const LatencyKey& key) const;

  std::unordered_map<Key, LatencyEntry, KeyHash> table_;
  std::vector<std::pair<std::string, std::string>> conditions_;  // index = condition id
  std::map<std::string, std::string> meta_;
  std::string source_ = "<memory>";
};

// Output resolution of one block at input resolution h: its stride acts once, through a conv
// with padding (k-1)/2 (the same arithmetic as the FLOPs counter).
int block_out_resolution(const Block& b, int h);

}  // namespace zsnas
