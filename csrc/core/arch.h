// Architecture IR: ZenNAS structure strings as data.
//
// A block is a catalogue entry (family, kernel, expansion, SE) plus its integer parameters.
// Everything else — printing, validation, expansion into residual units, counting — is a small
// function over that data, so the torch builder and the C++ counters can never disagree about
// what a block is.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace zsnas {

// Raised for every malformed structure string / bad parameter; message names block, position
// and parameter. Bound to Python as zsnas.ArchError (a ValueError).
class ArchError : public std::invalid_argument {
 public:
  ArchError(const std::string& msg, long position = -1)
      : std::invalid_argument(msg), position_(position) {}
  long position() const { return position_; }

 private:
  long position_;
};

enum class Family { Conv, ResKXKX, ResK1KXK1, ResIDW };

struct BlockType {
  Family family = Family::Conv;
  int kernel = 3;
  int expansion = 0;  // IDW only
  bool se = false;    // residual families only: squeeze-excitation after the spatial conv

  std::string name() const;  // canonical ZenNAS name, e.g. "SuperResIDWE6K3"
  int num_params() const { return family == Family::Conv ? 4 : 5; }
  bool is_residual() const { return family != Family::Conv; }
  // Residual units one sub-layer expands into (K1KXK1 and IDW: two).
  int units_per_sub_layer() const { return family == Family::Conv ? 1 : (family == Family::ResKXKX ? 1 : 2); }
  bool operator==(const BlockType& o) const {
    return family == o.family && kernel == o.kernel && expansion == o.expansion && se == o.se;
  }
};

// Parses a block name; returns false when it is not in the catalogue.
bool parse_block_type(const std::string& name, BlockType* out);
// Every name the catalogue knows (for error messages and docs).
std::vector<std::string> catalogue_names();

struct Block {
  BlockType type;
  int in = 0, out = 0, stride = 1;
  int bottleneck = 0;  // 0 for conv blocks
  int sub_layers = 1;

  std::string to_string() const;
  bool operator==(const Block& o) const {
    return type == o.type && in == o.in && out == o.out && stride == o.stride &&
           bottleneck == o.bottleneck && sub_layers == o.sub_layers;
  }
};

// One layer of an expanded unit.
struct Layer {
  enum Kind { Conv, SE } kind = Conv;
  int in = 0, out = 0, kernel = 1, stride = 1, groups = 1;  // Conv (no bias)
  bool bn = true, relu = true;
  int hidden = 0;  // SE: channels of the squeeze (in == out == channels)
};

// A unit: a chain of layers, optionally wrapped by a shortcut, then a final ReLU when residual.
struct Unit {
  int block_index = 0;
  std::vector<Layer> layers;
  bool residual = false;         // has a shortcut + add (+ ReLU after the add)
  bool projection = false;       // shortcut is 1x1 conv(stride) + BN, else identity
  int in = 0, out = 0, stride = 1;
  bool final_relu = true;        // ReLU after the (optional) add
};

struct CountOptions {
  bool residual = true;
  int se = -1;           // -1: per-block flags; 0: force off; 1: force on for residual blocks
  int num_classes = 1000;  // 0: no classifier
};

struct BlockStats {
  int in_resolution = 0, out_resolution = 0;
  int64_t params = 0, flops = 0;
  int layers = 0;
};

class Arch {
 public:
  Arch() = default;
  explicit Arch(std::vector<Block> blocks) : blocks_(std::move(blocks)) { validate(); }
  static Arch parse(const std::string& s);

  std::string to_string() const;
  const std::vector<Block>& blocks() const { return blocks_; }
  std::vector<Block>& mutable_blocks() { return blocks_; }

  // Throws ArchError for channel mismatch / bad parameters; called by parse and the ctor.
  void validate() const;

  std::vector<Unit> units(const CountOptions& opt) const;
  std::vector<BlockStats> block_stats(int resolution, const CountOptions& opt) const;
  int64_t params(const CountOptions& opt) const;
  int64_t flops(int resolution, const CountOptions& opt) const;
  int layers() const;  // sum of sub_layers, the ZenNAS layer budget
  int out_channels() const { return blocks_.empty() ? 0 : blocks_.back().out; }
  int out_resolution(int resolution) const;

  bool operator==(const Arch& o) const { return blocks_ == o.blocks_; }

 private:
  std::vector<Block> blocks_;
};

// round8(x) = max(8, round-half-even(x/8)*8) — ZenNAS smart_round(x, base=8)
int round8(double x);

// Expand one block into its units (exposed for tests and the builder).
std::vector<Unit> expand_block(const Block& b, int block_index, const CountOptions& opt);

// Limits beyond which a value is "absurd" rather than a big network.
constexpr int kMaxChannels = 1 << 16;
constexpr int kMaxStride = 8;
constexpr int kMaxSubLayers = 256;
constexpr int kMaxResolution = 1 << 15;

}  // namespace zsnas
