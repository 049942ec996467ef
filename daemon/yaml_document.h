// One YAML document read from a text that should hold exactly one, for
// configs, targets files and submissions alike. YAML::Load reads the first
// document and silently drops the rest; YAML::LoadAll reads them all, and
// never ends on some inputs (yaml-cpp 0.7 turns a NUL byte into endless
// empty documents). This reads at most two.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

namespace letterd {

struct YamlDocument {
  YAML::Node root;                          // the first document (Null when the text is empty)
  std::optional<int> second_document_line;  // 1-based line where a second document with content starts
};

// Throws YAML::Exception on a syntax error, as YAML::Load does.
YamlDocument read_one_yaml_document(const std::string& text);

}  // namespace letterd
