#include "runtime/src/npy.h"

#include <cctype>
#include <cstring>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/file_io.h"

namespace cnnc::detail {

namespace {

constexpr char kMagic[] = "\x93NUMPY";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

size_t element_size(const std::string& dtype) {
  if (dtype == "<f4" || dtype == "<i4") return 4;
  if (dtype == "<i8") return 8;
  return 0;
}

// Parses the header dict, a Python literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(const std::string& path, const std::string& text) : path_(path), text_(text) {}

  void parse(NpyArray& array) {
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key = quoted();
      expect(':');
      skip_space();
      if (key == "descr") {
        array.dtype = quoted();
        has_descr = true;
      } else if (key == "fortran_order") {
        if (word() != "False") {
          fail(path_, "is stored in Fortran order; save it in C order (np.ascontiguousarray)");
        }
        has_order = true;
      } else if (key == "shape") {
        array.shape = tuple();
        has_shape = true;
      } else {
        fail(path_, "the header has an unknown key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') ++pos_;
    }
    if (!has_descr || !has_order || !has_shape) {
      fail(path_, "the header lacks 'descr', 'fortran_order' or 'shape'");
    }
  }

 private:
  char peek() {
    if (pos_ >= text_.size()) fail(path_, "the header ends too early: " + text_);
    return text_[pos_];
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(path_, std::string("malformed header (expected '") + c + "'): " + text_);
    ++pos_;
  }
  std::string quoted() {
    skip_space();
    char quote = peek();
    if (quote != '\'' && quote != '"') fail(path_, "malformed header: " + text_);
    size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail(path_, "malformed header: " + text_);
    std::string s = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return s;
  }
  std::string word() {
    size_t start = pos_;
    while (pos_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> values;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) {
        fail(path_, "malformed shape in header: " + text_);
      }
      int64_t v = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        if (v > (int64_t(1) << 40)) fail(path_, "a dimension in the shape is too large");
        v = v * 10 + (text_[pos_++] - '0');
      }
      values.push_back(v);
      skip_space();
      if (peek() == ',') ++pos_;
    }
    ++pos_;
    return values;
  }

  const std::string& path_;
  const std::string& text_;
  size_t pos_ = 0;
};

}  // namespace

int64_t NpyArray::count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool looks_like_npy(const std::vector<char>& bytes) {
  return bytes.size() >= 6 && std::memcmp(bytes.data(), kMagic, 6) == 0;
}

NpyArray read_npy(const std::string& path) { return parse_npy(path, read_file(path)); }

NpyArray parse_npy(const std::string& path, const std::vector<char>& bytes) {
  if (!looks_like_npy(bytes)) fail(path, "not a .npy file (no \\x93NUMPY magic)");
  if (bytes.size() < 10) fail(path, "truncated .npy header");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_length = 0, prefix = 0;
  if (major == 1) {
    header_length = static_cast<unsigned char>(bytes[8]) |
                    (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(path, "truncated .npy header");
    uint32_t length = 0;
    std::memcpy(&length, bytes.data() + 8, 4);
    header_length = length;
    prefix = 12;
  } else {
    fail(path, ".npy format version " + std::to_string(major) + " is not supported (1, 2 or 3)");
  }
  if (header_length > bytes.size() - prefix) {
    fail(path, "the .npy header claims " + std::to_string(header_length) +
                   " bytes but the file is shorter (truncated?)");
  }
  std::string text(bytes.data() + prefix, header_length);
  NpyArray array;
  HeaderParser(path, text).parse(array);
  uint64_t elements = 1;  // count() is safe once this passes
  for (int64_t d : array.shape) {
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements) ||
        elements > (uint64_t(1) << 40)) {
      fail(path, "the shape in the header has more than 2^40 elements; the file is corrupted");
    }
  }
  size_t size = element_size(array.dtype);
  if (size == 0) {
    fail(path, "dtype '" + array.dtype +
                   "' is not supported; use float32 ('<f4') for images, int32/int64 for labels");
  }
  uint64_t expected = static_cast<uint64_t>(array.count()) * size;
  size_t available = bytes.size() - prefix - header_length;
  if (available < expected) {
    fail(path, "shape " + text.substr(text.find("shape")) + " needs " + std::to_string(expected) +
                   " data bytes but the file has " + std::to_string(available) + " (truncated?)");
  }
  if (available > expected) {
    fail(path, std::to_string(available - expected) + " unexpected bytes after the array data");
  }
  const char* start = bytes.data() + prefix + header_length;
  array.data.assign(start, start + expected);
  return array;
}

void write_npy(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape,
               const void* data) {
  size_t size = element_size(dtype);
  if (size == 0) throw Error("write_npy: unsupported dtype " + dtype);
  int64_t count = 1;
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) {
    dims += (i ? ", " : "") + std::to_string(shape[i]);
    count *= shape[i];
  }
  if (shape.size() == 1) dims += ",";  // Python's one-element tuple
  std::string dict = "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (" + dims + ")";
  dict += ", }";
  // Version 1 while the header fits in 16 bits; the total prefix is padded to 64 bytes.
  bool v1 = dict.size() + 12 < 65535;
  size_t prefix = v1 ? 10 : 12;
  size_t total = prefix + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string head(kMagic, 6);
  head += static_cast<char>(v1 ? 1 : 2);
  head += '\0';
  uint32_t length = static_cast<uint32_t>(dict.size());
  head.append(reinterpret_cast<const char*>(&length), v1 ? 2 : 4);
  head += dict;
  write_file_atomic(path, {{head.data(), head.size()}, {data, static_cast<size_t>(count) * size}});
}

}  // namespace cnnc::detail
