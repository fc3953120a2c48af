// Structure-string parser, canonical printer and validation (REFERENCE §1).
//
// Grammar: Block+ ; Block = Name '(' Int (',' Int)* ')'. Whitespace between tokens is accepted
// and dropped by the printer, so print(parse(s)) == s on canonical strings.
#include <cctype>
#include <sstream>

#include "arch.h"

namespace zsnas {

namespace {

std::string describe(int index, const std::string& name, long pos) {
  std::ostringstream os;
  os << "block " << index << " (" << name << ", position " << pos << ")";
  return os.str();
}

const char* kConvParamNames[] = {"in_channels", "out_channels", "stride", "sub_layers"};
const char* kResParamNames[] = {"in_channels", "out_channels", "stride", "bottleneck_channels", "sub_layers"};

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  std::vector<std::pair<Block, long>> run() {
    std::vector<std::pair<Block, long>> blocks;
    skip_ws();
    if (at_end()) fail("empty structure string at position 0: expected a block such as SuperConvK3BNRELU(3,16,2,1)");
    while (!at_end()) {
      blocks.push_back(block(static_cast<int>(blocks.size())));
      skip_ws();
    }
    return blocks;
  }

 private:
  std::pair<Block, long> block(int index) {
    long start = static_cast<long>(i_);
    while (i_ < s_.size() && std::isalnum(static_cast<unsigned char>(s_[i_]))) ++i_;
    std::string name = s_.substr(start, i_ - start);
    if (name.empty()) {
      fail_at(start, "block " + std::to_string(index) + ": expected a block name, found " + found());
    }
    Block b;
    if (!parse_block_type(name, &b.type)) {
      fail_at(start, "block " + std::to_string(index) + ": unknown block type '" + name + "' at position " +
                         std::to_string(start) + " (known: SuperConvK{1,3,5,7}BNRELU, SuperResK{3K3,5K5,7K7}, "
                         "SuperResK1K{3,5,7}K1, SuperResIDWE{1,2,4,6}K{3,5,7}, residual types with suffix SE)");
    }
    // Built only on the error path: the parser sits in the engine's hot loop.
    auto where = [&] { return describe(index, name, start); };
    skip_ws();
    if (at_end() || s_[i_] != '(') fail(where() + ": expected '(' after the block name, found " + found());
    ++i_;
    std::vector<long long> values;
    std::vector<long> positions;
    for (;;) {
      skip_ws();
      positions.push_back(static_cast<long>(i_));
      values.push_back(integer(where));
      skip_ws();
      if (at_end()) fail(where() + ": unbalanced parentheses, missing ')' at end of string");
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] == ')') {
        ++i_;
        break;
      }
      fail(where() + ": expected ',' or ')' in the parameter list, found " + found());
    }
    const int expected = b.type.num_params();
    if (static_cast<int>(values.size()) != expected) {
      std::ostringstream os;
      os << where() << ": expected " << expected << " parameters ("
         << (expected == 4 ? "in,out,stride,sub_layers" : "in,out,stride,bottleneck,sub_layers") << "), got "
         << values.size();
      fail_at(start, os.str());
    }
    const char** names = expected == 4 ? kConvParamNames : kResParamNames;
    for (int p = 0; p < expected; ++p) {
      if (values[p] > (1LL << 30)) {
        fail_at(positions[p], where() + ": parameter " + names[p] + "=" + std::to_string(values[p]) + " is absurdly large");
      }
    }
    b.in = static_cast<int>(values[0]);
    b.out = static_cast<int>(values[1]);
    b.stride = static_cast<int>(values[2]);
    if (expected == 5) {
      b.bottleneck = static_cast<int>(values[3]);
      b.sub_layers = static_cast<int>(values[4]);
    } else {
      b.sub_layers = static_cast<int>(values[3]);
    }
    return {b, start};
  }

  template <typename Where>
  long long integer(const Where& where) {
    long start = static_cast<long>(i_);
    bool neg = false;
    if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+')) {
      neg = s_[i_] == '-';
      ++i_;
    }
    if (at_end() || !std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      fail_at(start, where() + ": expected an integer parameter at position " + std::to_string(start) + ", found " + found());
    }
    long long v = 0;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      if (v > (1LL << 40)) {
        fail_at(start, where() + ": integer at position " + std::to_string(start) + " is absurdly large");
      }
      v = v * 10 + (s_[i_] - '0');
      ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) {
      fail_at(start, where() + ": parameters must be integers, found a non-integer at position " + std::to_string(start));
    }
    return neg ? -v : v;
  }

  void skip_ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool at_end() const { return i_ >= s_.size(); }
  std::string found() const {
    if (at_end()) return "end of string at position " + std::to_string(i_);
    std::string c(1, s_[i_]);
    return "'" + c + "' at position " + std::to_string(i_);
  }
  [[noreturn]] void fail(const std::string& msg) const { throw ArchError(msg, static_cast<long>(i_)); }
  [[noreturn]] void fail_at(long pos, const std::string& msg) const { throw ArchError(msg, pos); }

  const std::string& s_;
  size_t i_ = 0;
};

template <typename Where>
void check_range(const Where& where, long pos, const char* param, long long v, long long lo, long long hi) {
  if (v < lo || v > hi) {
    std::ostringstream os;
    os << where() << ": parameter " << param << "=" << v << " is out of range [" << lo << ", " << hi << "]";
    throw ArchError(os.str(), pos);
  }
}

void validate_blocks(const std::vector<Block>& blocks, const std::vector<long>& positions) {
  if (blocks.empty()) throw ArchError("an architecture needs at least one block", 0);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    long pos = positions.empty() ? -1 : positions[i];
    auto where = [&] { return describe(static_cast<int>(i), b.type.name(), pos); };
    check_range(where, pos, "in_channels", b.in, 1, kMaxChannels);
    check_range(where, pos, "out_channels", b.out, 1, kMaxChannels);
    check_range(where, pos, "stride", b.stride, 1, kMaxStride);
    if (b.type.is_residual()) check_range(where, pos, "bottleneck_channels", b.bottleneck, 1, kMaxChannels);
    check_range(where, pos, "sub_layers", b.sub_layers, 1, kMaxSubLayers);
    if (i > 0 && blocks[i - 1].out != b.in) {
      std::ostringstream os;
      os << where() << ": channel mismatch, in_channels=" << b.in << " but the previous block outputs "
         << blocks[i - 1].out << " channels";
      throw ArchError(os.str(), pos);
    }
  }
}

}  // namespace

std::string Block::to_string() const {
  std::string s = type.name();
  s += '(';
  s += std::to_string(in) + ',' + std::to_string(out) + ',' + std::to_string(stride) + ',';
  if (type.is_residual()) s += std::to_string(bottleneck) + ',';
  s += std::to_string(sub_layers) + ')';
  return s;
}

Arch Arch::parse(const std::string& s) {
  Parser p(s);
  auto parsed = p.run();
  Arch a;
  std::vector<long> positions;
  for (auto& bp : parsed) {
    a.blocks_.push_back(bp.first);
    positions.push_back(bp.second);
  }
  validate_blocks(a.blocks_, positions);
  return a;
}

void Arch::validate() const { validate_blocks(blocks_, {}); }

std::string Arch::to_string() const {
  std::string s;
  for (const Block& b : blocks_) s += b.to_string();
  return s;
}

}  // namespace zsnas
