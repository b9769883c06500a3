#include "frontends/json/json_text.h"

#include <algorithm>
#include <set>

namespace cnnc::frontend {
namespace {

// Follows the parser's events to know the JSON path of every key.
class KeyTracker {
 public:
  explicit KeyTracker(Diagnostics& d) : d_(d) {}

  // Thrown to stop parsing text nested deeper than any model needs.
  struct TooDeep {};
  static constexpr size_t kMaxDepth = 256;

  bool on_event(json::parse_event_t event, const json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (frames_.size() >= kMaxDepth) {
          d_.error({path(), ""}, "nested more than " + std::to_string(kMaxDepth) +
                                     " levels deep; a model needs far fewer");
          throw TooDeep();
        }
        frames_.push_back({event == json::parse_event_t::object_start, path(), {}, 0, ""});
        break;
      case json::parse_event_t::key: {
        Frame& f = frames_.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second) {
          d_.error({path(), ""}, "duplicate key \"" + f.key + "\"; each key may appear once");
          ok_ = false;
        }
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames_.pop_back();
        value_done();
        break;
      case json::parse_event_t::value:
        value_done();
        break;
    }
    return true;  // keep every value
  }
  bool ok() const { return ok_; }

 private:
  struct Frame {
    bool is_object;
    std::string path;  // of the container
    std::set<std::string> keys;
    size_t index;     // arrays: index of the next element
    std::string key;  // objects: the current key
  };

  // The path of the value being parsed now.
  std::string path() const {
    if (frames_.empty()) return "";
    const Frame& f = frames_.back();
    return f.path + "/" + (f.is_object ? escape_pointer_key(f.key) : std::to_string(f.index));
  }
  void value_done() {
    if (!frames_.empty() && !frames_.back().is_object) ++frames_.back().index;
  }

  Diagnostics& d_;
  std::vector<Frame> frames_;
  bool ok_ = true;
};

// Adds the message at the line and column of a byte offset.
void report_at(const std::string& text, size_t offset, const std::string& message, Diagnostics& d) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < std::min(offset, text.size()); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  d.error_at(line, column, message);
}

}  // namespace

bool parse_json_text(const std::string& text, Diagnostics& d, json* out) {
  KeyTracker tracker(d);
  try {
    *out = json::parse(text, [&tracker](int, json::parse_event_t event, json& parsed) {
      return tracker.on_event(event, parsed);
    });
  } catch (const KeyTracker::TooDeep&) {
    return false;
  } catch (const json::parse_error& e) {
    std::string why = e.what();  // nlohmann's text after its prefix says why
    const size_t colon = why.find(": ");
    if (colon != std::string::npos) why = why.substr(colon + 2);
    report_at(text, e.byte > 0 ? e.byte - 1 : 0, "not valid JSON: " + why, d);
    return false;
  } catch (const json::exception& e) {
    // Number overflow ("1e400") comes without a position: find the literal.
    std::string why = e.what();
    const size_t bracket = why.find("] ");
    if (bracket != std::string::npos) why = why.substr(bracket + 2);
    size_t offset = 0;
    const size_t quote = why.find('\'');
    if (quote != std::string::npos) {
      const std::string literal = why.substr(quote + 1, why.rfind('\'') - quote - 1);
      offset = std::min(text.find(literal), text.size());
    }
    report_at(text, offset, "not valid JSON: " + why, d);
    return false;
  }
  return tracker.ok();
}

}  // namespace cnnc::frontend
