// Latency look-up table: JSON codec (a small reader/writer for exactly this format), storage
// keyed by packed blocks, and the per-Arch query used by the engine's latency budget.
#include "latency.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "block_pack.h"
#include "expand.h"
#include "checkpoint.h"  // atomic_write_file, fnv1a

namespace zsnas {

namespace {

// ---- a minimal JSON reader: objects, arrays, strings, numbers, true/false/null --------------
struct Json {
  enum Type { Null, Bool, Number, String, Array, Object } type = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;

  const Json* find(const std::string& k) const {
    for (const auto& kv : obj)
      if (kv.first == k) return &kv.second;
    return nullptr;
  }
};

class JsonReader {
 public:
  JsonReader(const std::string& s, const std::string& source) : s_(s), source_(source) {}

  Json document() {
    Json v = value(0);
    ws();
    if (i_ != s_.size()) fail("trailing characters after the JSON document");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    // Line/column of the failure, so a hand-edited table is easy to fix.
    size_t line = 1, col = 1;
    for (size_t k = 0; k < i_ && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw LatencyTableError("latency table " + source_ + ": invalid JSON at line " + std::to_string(line) +
                            ", column " + std::to_string(col) + ": " + what);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(i_, n, word) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }

  Json value(int depth) {
    if (depth > 64) fail("nesting deeper than 64 levels");
    ws();
    if (i_ >= s_.size()) fail("unexpected end of input");
    Json v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.type = Json::Object;
      if (eat('}')) return v;
      do {
        ws();
        if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string key");
        std::string k = string();
        expect(':');
        v.obj.emplace_back(std::move(k), value(depth + 1));
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.type = Json::Array;
      if (eat(']')) return v;
      do v.arr.push_back(value(depth + 1));
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.type = Json::String;
      v.str = string();
    } else if (literal("true")) {
      v.type = Json::Bool;
      v.b = true;
    } else if (literal("false")) {
      v.type = Json::Bool;
    } else if (literal("null")) {
      v.type = Json::Null;
    } else {
      v.type = Json::Number;
      size_t start = i_;
      while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' || s_[i_] == '+' ||
                                s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E'))
        ++i_;
      if (start == i_) fail(std::string("unexpected character '") + c + "'");
      // from_chars is locale-independent (strtod is not).
      auto r = std::from_chars(s_.data() + start, s_.data() + i_, v.num);
      if (r.ec != std::errc() || r.ptr != s_.data() + i_) {
        i_ = start;
        fail("malformed number");
      }
    }
    return v;
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t hex4() {
    if (i_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }

  std::string string() {
    ++i_;  // opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
            i_ += 2;
            uint32_t lo = hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: fail(std::string("bad escape \\") + e);
      }
    }
  }

  const std::string& s_;
  std::string source_;
  size_t i_ = 0;
};

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// Shortest text that reads back as the same double.
std::string number_text(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

Block parse_one_block(const std::string& s, const std::string& where) {
  Arch a;
  try {
    a = Arch::parse(s);
  } catch (const ArchError& e) {
    throw LatencyTableError(where + ": block '" + s + "' is not a valid block signature: " + e.what());
  }
  if (a.blocks().size() != 1)
    throw LatencyTableError(where + ": block '" + s + "' holds " + std::to_string(a.blocks().size()) +
                            " blocks; an entry is one block");
  return a.blocks()[0];
}

}  // namespace

int block_out_resolution(const Block& b, int h) { return conv_out(h, b.type.kernel, b.stride); }

size_t LatencyTable::KeyHash::operator()(const Key& k) const {
  uint64_t h = mix64(k.block_lo);
  h = mix64(h ^ k.block_hi);
  h = mix64(h ^ (uint64_t(uint32_t(k.resolution)) | uint64_t(uint32_t(k.batch)) << 32));
  return static_cast<size_t>(mix64(h ^ uint64_t(uint32_t(k.condition))));
}

int LatencyTable::condition_id(const std::string& precision, const std::string& device) const {
  for (size_t i = 0; i < conditions_.size(); ++i)
    if (conditions_[i].first == precision && conditions_[i].second == device) return static_cast<int>(i);
  return -1;
}

int LatencyTable::intern_condition(const std::string& precision, const std::string& device) {
  int id = condition_id(precision, device);
  if (id >= 0) return id;
  conditions_.emplace_back(precision, device);
  return static_cast<int>(conditions_.size() - 1);
}

LatencyTable::Key LatencyTable::make_key(const Block& b, int resolution, int batch, int condition) const {
  PackedBlock p = pack_block(b);
  Key k;
  k.block_lo = p.lo;
  k.block_hi = p.hi;
  k.resolution = resolution;
  k.batch = batch;
  k.condition = condition;
  return k;
}

std::string LatencyTable::key_text(const Block& block, int resolution, int batch, const std::string& precision,
                                   const std::string& device) {
  return block.to_string() + "@" + std::to_string(resolution) + "/b" + std::to_string(batch) + "/" + precision + "/" +
         device;
}

void LatencyTable::set(const Block& block, int resolution, int batch, const std::string& precision,
                       const std::string& device, double ms) {
  const std::string where = "latency entry " + key_text(block, resolution, batch, precision, device);
  if (resolution < 1 || resolution > kMaxResolution)
    throw LatencyTableError(where + ": resolution " + std::to_string(resolution) + " is out of range");
  if (batch < 1) throw LatencyTableError(where + ": batch must be >= 1");
  if (precision.empty() || device.empty()) throw LatencyTableError(where + ": precision and device must be named");
  if (!std::isfinite(ms) || ms < 0) throw LatencyTableError(where + ": ms=" + number_text(ms) + " must be finite and >= 0");
  // The signature is the whole block (type, in, out, stride, bottleneck, sub_layers).
  LatencyEntry e{block, resolution, batch, precision, device, ms};
  table_[make_key(block, resolution, batch, intern_condition(precision, device))] = e;
}

void LatencyTable::set(const std::string& block, int resolution, int batch, const std::string& precision,
                       const std::string& device, double ms) {
  set(parse_one_block(block, "latency entry"), resolution, batch, precision, device, ms);
}

bool LatencyTable::has(const Block& block, int resolution, const LatencyKey& key) const {
  int c = condition_id(key.precision, key.device);
  return c >= 0 && table_.count(make_key(block, resolution, key.batch, c)) > 0;
}

void LatencyTable::throw_missing(const Block& b, int block_index, int resolution, const LatencyKey& key) const {
  std::ostringstream os;
  os << "latency table " << source_ << " has no entry for block " << b.to_string();
  if (block_index >= 0) os << " (block " << block_index << " of the architecture)";
  os << " at input resolution " << resolution << ", batch " << key.batch << ", precision " << key.precision
     << ", device " << key.device << " — key '" << key_text(b, resolution, key.batch, key.precision, key.device)
     << "'. The table holds " << table_.size() << " entries";
  if (!conditions_.empty()) {
    os << " for";
    for (size_t i = 0; i < conditions_.size(); ++i)
      os << (i ? "," : "") << " " << conditions_[i].first << "/" << conditions_[i].second;
  }
  if (condition_id(key.precision, key.device) < 0) os << " (none for " << key.precision << "/" << key.device << ")";
  os << "; add the missing blocks' measurements to the table (LatencyTable.set(block, resolution, batch, "
        "precision, device, ms) then save(); no measuring command ships yet) or relax the latency budget.";
  throw LatencyTableError(os.str());
}

double LatencyTable::block_ms(const Block& block, int resolution, const LatencyKey& key) const {
  int c = condition_id(key.precision, key.device);
  if (c >= 0) {
    auto it = table_.find(make_key(block, resolution, key.batch, c));
    if (it != table_.end()) return it->second.ms;
  }
  throw_missing(block, -1, resolution, key);
}

double LatencyTable::query(const Arch& arch, int resolution, const LatencyKey& key) const {
  const int c = condition_id(key.precision, key.device);
  double total = 0;
  int h = resolution;
  const auto& blocks = arch.blocks();
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (c < 0) throw_missing(b, static_cast<int>(i), h, key);
    auto it = table_.find(make_key(b, h, key.batch, c));
    if (it == table_.end()) throw_missing(b, static_cast<int>(i), h, key);
    total += it->second.ms;
    h = block_out_resolution(b, h);
  }
  return total;
}

std::vector<std::pair<Block, int>> LatencyTable::missing(const Arch& arch, int resolution, const LatencyKey& key) const {
  std::vector<std::pair<Block, int>> out;
  int h = resolution;
  for (const Block& b : arch.blocks()) {
    if (!has(b, h, key)) out.emplace_back(b, h);
    h = block_out_resolution(b, h);
  }
  return out;
}

std::vector<LatencyEntry> LatencyTable::entries() const {
  std::vector<std::pair<std::string, const LatencyEntry*>> keyed;
  keyed.reserve(table_.size());
  for (const auto& kv : table_)
    keyed.emplace_back(key_text(kv.second.block, kv.second.resolution, kv.second.batch, kv.second.precision,
                                kv.second.device),
                       &kv.second);
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<LatencyEntry> out;
  out.reserve(keyed.size());
  for (const auto& k : keyed) out.push_back(*k.second);
  return out;
}

uint64_t LatencyTable::fingerprint() const {
  std::string text;
  for (const LatencyEntry& e : entries())
    text += key_text(e.block, e.resolution, e.batch, e.precision, e.device) + "=" + number_text(e.ms) + "\n";
  return fnv1a64(text.data(), text.size());
}

std::string LatencyTable::to_json() const {
  std::string out = "{\n  \"format\": \"zsnas-latency-table\",\n  \"version\": 1,\n  \"meta\": {";
  bool first = true;
  for (const auto& kv : meta_) {
    out += first ? "\n    " : ",\n    ";
    first = false;
    json_string(out, kv.first);
    out += ": ";
    json_string(out, kv.second);
  }
  out += first ? "},\n" : "\n  },\n";
  out += "  \"entries\": [";
  first = true;
  for (const LatencyEntry& e : entries()) {
    out += first ? "\n    {\"block\": " : ",\n    {\"block\": ";
    first = false;
    json_string(out, e.block.to_string());
    out += ", \"resolution\": " + std::to_string(e.resolution) + ", \"batch\": " + std::to_string(e.batch) +
           ", \"precision\": ";
    json_string(out, e.precision);
    out += ", \"device\": ";
    json_string(out, e.device);
    out += ", \"ms\": " + number_text(e.ms) + "}";
  }
  out += first ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

LatencyTable LatencyTable::from_json(const std::string& text, const std::string& source) {
  Json doc = JsonReader(text, source).document();
  const std::string where = "latency table " + source;
  if (doc.type != Json::Object) throw LatencyTableError(where + ": the document must be a JSON object");
  const Json* fmt = doc.find("format");
  if (!fmt || fmt->type != Json::String || fmt->str != "zsnas-latency-table")
    throw LatencyTableError(where + ": \"format\" must be \"zsnas-latency-table\"");
  const Json* ver = doc.find("version");
  if (!ver || ver->type != Json::Number || ver->num != 1)
    throw LatencyTableError(where + ": unsupported \"version\" (this build reads version 1)");
  LatencyTable t;
  t.source_ = source;
  if (const Json* meta = doc.find("meta")) {
    if (meta->type != Json::Object) throw LatencyTableError(where + ": \"meta\" must be an object");
    for (const auto& kv : meta->obj) {
      if (kv.second.type == Json::String) t.meta_[kv.first] = kv.second.str;
      else if (kv.second.type == Json::Number) t.meta_[kv.first] = number_text(kv.second.num);
      else if (kv.second.type == Json::Bool) t.meta_[kv.first] = kv.second.b ? "true" : "false";
      else throw LatencyTableError(where + ": meta field \"" + kv.first + "\" must be a string, number or bool");
    }
  }
  const Json* entries = doc.find("entries");
  if (!entries || entries->type != Json::Array) throw LatencyTableError(where + ": \"entries\" must be an array");
  for (size_t i = 0; i < entries->arr.size(); ++i) {
    const Json& e = entries->arr[i];
    const std::string at = where + ": entries[" + std::to_string(i) + "]";
    if (e.type != Json::Object) throw LatencyTableError(at + " must be an object");
    auto field = [&](const char* name, Json::Type type) -> const Json& {
      const Json* f = e.find(name);
      if (!f) throw LatencyTableError(at + " lacks \"" + name + "\"");
      if (f->type != type)
        throw LatencyTableError(at + ": \"" + name + "\" must be a " + (type == Json::String ? "string" : "number"));
      return *f;
    };
    auto integer = [&](const char* name) {
      double v = field(name, Json::Number).num;
      if (v != std::floor(v) || v < 1 || v > 1e9) throw LatencyTableError(at + ": \"" + name + "\" must be a positive integer");
      return static_cast<int>(v);
    };
    Block b = parse_one_block(field("block", Json::String).str, at);
    t.set(b, integer("resolution"), integer("batch"), field("precision", Json::String).str,
          field("device", Json::String).str, field("ms", Json::Number).num);
  }
  return t;
}

LatencyTable LatencyTable::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw LatencyTableError("latency table " + path + ": cannot open the file");
  std::stringstream ss;
  ss << f.rdbuf();
  return from_json(ss.str(), path);
}

void LatencyTable::save(const std::string& path) const { atomic_write_file(path, to_json()); }

}  // namespace zsnas
