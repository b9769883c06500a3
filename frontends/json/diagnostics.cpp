#include "frontends/json/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/include/cnnc_runtime.h"

namespace cnnc::frontend {

Site Site::at(const std::string& key) const {
  return {path + "/" + escape_pointer_key(key), label};
}
Site Site::at(size_t index) const { return {path + "/" + std::to_string(index), label}; }

void Diagnostics::error(const Site& site, const std::string& message) {
  std::string line = file_ + ": " + (site.path.empty() ? "/" : site.path);
  if (!site.label.empty()) line += " (" + site.label + ")";
  lines_.push_back(line + ": " + message);
}

void Diagnostics::error_at(size_t line, size_t column, const std::string& message) {
  lines_.push_back(file_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                   message);
}

void Diagnostics::throw_if_any() const {
  if (lines_.empty()) return;
  std::string text;
  for (const std::string& line : lines_) text += (text.empty() ? "" : "\n") + line;
  throw Error(text, 2);
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  if (word.size() > 200) return "";  // not worth a quadratic comparison
  const std::string* best = nullptr;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    // A truncated word ("save_best" for "save_best_only") is a likely slip too.
    const bool prefix = word.size() >= 4 && c.rfind(word, 0) == 0;
    const size_t d = prefix ? 1 : edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = &c;
    }
  }
  return best ? "; did you mean \"" + *best + "\"?" : "";
}

std::string join_words(const std::vector<std::string>& words, bool quoted) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) out += i + 1 == words.size() ? " and " : ", ";
    out += quoted ? "\"" + words[i] + "\"" : words[i];
  }
  return out;
}

std::string brief(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

std::string json_kind(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_float:
      return "a fractional number";
    default:
      return "a number";
  }
}

std::string escape_pointer_key(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool read_int(const json& v, const Site& site, Diagnostics& d, int64_t lo, int64_t hi,
              int64_t* out) {
  if (v.is_number_float() && std::isfinite(v.get<double>()) &&
      v.get<double>() == std::floor(v.get<double>())) {
    // Integers too long for 64 bits arrive as doubles.
    if (std::fabs(v.get<double>()) > static_cast<double>(hi)) {
      d.error(site, brief(v) + " is too large; at most " + std::to_string(hi) + " is allowed");
    } else {
      d.error(site, "must be a whole number; write " + brief(v) + " without a fraction");
    }
    return false;
  }
  if (!v.is_number_integer()) {
    d.error(site, "must be a whole number, not " + json_kind(v) + " (" + brief(v) + ")");
    return false;
  }
  const bool too_large = v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(hi)
                                                : v.get<int64_t>() > hi;
  if (too_large) {
    d.error(site, brief(v) + " is too large; at most " + std::to_string(hi) + " is allowed");
    return false;
  }
  const int64_t value = v.get<int64_t>();
  if (value < lo) {
    d.error(site, "must be at least " + std::to_string(lo) + ", not " + std::to_string(value));
    return false;
  }
  *out = value;
  return true;
}

bool read_real(const json& v, const Site& site, Diagnostics& d, double lo, double hi, bool lo_open,
               bool hi_open, double* out) {
  if (!v.is_number()) {
    d.error(site, "must be a number, not " + json_kind(v) + " (" + brief(v) + ")");
    return false;
  }
  const double value = v.get<double>();
  const bool below = lo_open ? !(value > lo) : !(value >= lo);
  const bool above = hi_open ? !(value < hi) : !(value <= hi);
  if (!std::isfinite(value) || below || above) {
    std::string range = std::string(lo_open ? "greater than " : "at least ") + brief(json(lo));
    if (std::isfinite(hi))
      range += std::string(hi_open ? " and less than " : " and at most ") + brief(json(hi));
    d.error(site, "must be " + range + ", not " + brief(v));
    return false;
  }
  *out = value;
  return true;
}

bool read_bool(const json& v, const Site& site, Diagnostics& d, bool* out) {
  if (!v.is_boolean()) {
    d.error(site, "must be true or false, not " + json_kind(v) + " (" + brief(v) + ")");
    return false;
  }
  *out = v.get<bool>();
  return true;
}

bool read_string(const json& v, const Site& site, Diagnostics& d, std::string* out) {
  if (!v.is_string()) {
    d.error(site, "must be a string, not " + json_kind(v) + " (" + brief(v) + ")");
    return false;
  }
  *out = v.get<std::string>();
  return true;
}

bool read_choice(const json& v, const Site& site, Diagnostics& d,
                 const std::vector<std::string>& choices, std::string* out) {
  std::string s;
  if (!read_string(v, site, d, &s)) return false;
  if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
    std::string hint = did_you_mean(s, choices);
    d.error(site, "\"" + s + "\" is not allowed here" +
                      (hint.empty() ? "; use one of " + join_words(choices) : hint));
    return false;
  }
  *out = s;
  return true;
}

void check_known_keys(const json& object, const Site& site, Diagnostics& d,
                      const std::vector<std::string>& known, const std::string& what,
                      const std::string& noun) {
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) != known.end()) continue;
    std::string hint = did_you_mean(item.key(), known);
    if (hint.empty()) hint = "; " + what + " takes " + join_words(known);
    d.error(site, "unknown " + noun + " \"" + item.key() + "\"" + hint);
  }
}

}  // namespace cnnc::frontend
