// A strict JSON (RFC 8259) reader that yields the yaml-cpp tree the
// submission checks read, as YAML::Load would for the same text, but
// several times faster: most submissions come from web forms as JSON.
// Keys given twice are all kept, so the checks can name them; a string
// is tagged "!" like a quoted YAML scalar, so `true` and "true" differ.
#pragma once

#include <yaml-cpp/yaml.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace letterd {

struct JsonError : std::runtime_error {
  JsonError(int line, const std::string& what) : std::runtime_error(what), line(line) {}
  int line;  // 1-based
};

// Throws JsonError naming the line and what is wrong there. The caller
// bounds the nesting depth first (parsing recurses).
YAML::Node parse_json(std::string_view text);

}  // namespace letterd
