#include "yaml_document.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <sstream>

namespace letterd {

namespace {

// Notes where a document's first content starts; an empty document (a
// closing --- or ... with nothing after it) has none.
class ContentFinder : public YAML::EventHandler {
 public:
  std::optional<int> first_content_line;

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { note(mark); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(mark);
  }
  void OnMapEnd() override {}

 private:
  void note(const YAML::Mark& mark) {
    if (!first_content_line) first_content_line = mark.line + 1;
  }
};

}  // namespace

YamlDocument read_one_yaml_document(const std::string& text) {
  YamlDocument out;
  out.root = YAML::Load(text);
  std::istringstream in(text);
  YAML::Parser parser(in);
  ContentFinder first, second;
  if (parser.HandleNextDocument(first) && parser.HandleNextDocument(second))
    out.second_document_line = second.first_content_line;
  return out;
}

}  // namespace letterd
