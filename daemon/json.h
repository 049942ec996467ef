// A strict JSON (RFC 8259) reader that yields the yaml-cpp tree the
// submission checks read, as YAML::Load would for the same text, but
// several times faster: most submissions come from web forms as JSON.
// Keys given twice are all kept, so the checks can name them; a string
// is tagged "!" like a quoted YAML scalar, so `true` and "true" differ.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace letterd {

struct JsonError : std::runtime_error {
  JsonError(int line, const std::string& what) : std::runtime_error(what), line(line) {}
  int line;  // 1-based
};

// The line each key of a parsed tree was written on. A tree yaml-cpp
// loads carries this in each node's Mark(); one built here cannot, so it
// is kept beside. Problems name an unknown key by its line alone: the key
// itself may be a supporter's words.
class KeyLines {
 public:
  void add(const YAML::Node& key, int line) { keys_.emplace_back(key, line); }
  // 1-based; 0 when `key` is not a key of the tree.
  int line_of(const YAML::Node& key) const;

 private:
  std::vector<std::pair<YAML::Node, int>> keys_;
};

// Throws JsonError naming the line and what is wrong there. The caller
// bounds the nesting depth first (parsing recurses). `key_lines`, when
// given, learns the line of every key.
YAML::Node parse_json(std::string_view text, KeyLines* key_lines = nullptr);

// `value` as a JSON string: quoted, with quotes, backslashes and control
// characters escaped.
std::string json_string(const std::string& value);

// A map of strings as one JSON object, and back: how the database keeps
// a submission's fields and a target's row.
using StringMap = std::map<std::string, std::string, std::less<>>;
std::string json_object(const StringMap& values);
// Throws JsonError when `text` is not an object of string values.
StringMap parse_json_object(std::string_view text);

}  // namespace letterd
