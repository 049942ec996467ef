// A YAML file holds one document: the first is read, a second with
// content is found, and no input keeps the reader going for ever.
#include "yaml_document.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

TEST(YamlDocument, TheFirstDocumentIsRead) {
  auto read = read_one_yaml_document("id: web-1\ncampaign: legal-advocacy\n");
  EXPECT_EQ(read.root["id"].as<std::string>(), "web-1");
  EXPECT_FALSE(read.second_document_line);
}

TEST(YamlDocument, ASecondDocumentWithContentIsFoundByItsLine) {
  auto read = read_one_yaml_document("id: web-1\n---\npersonal_note: more\n");
  ASSERT_TRUE(read.second_document_line);
  EXPECT_EQ(*read.second_document_line, 3);
}

TEST(YamlDocument, AClosingMarkerAloneIsNoSecondDocument) {
  EXPECT_FALSE(read_one_yaml_document("id: web-1\n...\n").second_document_line);
  EXPECT_FALSE(read_one_yaml_document("---\nid: web-1\n").second_document_line);
}

TEST(YamlDocument, NulBytesDoNotKeepTheReaderGoingForEver) {
  // A fuzzer's find: yaml-cpp 0.7's LoadAll turned this text into endless
  // empty documents, so intake (and `letterd check`) hung on such a file.
  std::string text = std::string("# A supp") + std::string(95, '\0') +
                     std::string(
                         "orts\": [\"mp\", \"justice-secretary\"],\n  \"suppor\xe2"
                         "\x80"
                         "\x9d"
                         " are not enough.\",\n  \"auther who left no personal note: the letters close without a "
                         "gap.\nid: web-2026-000124\ncampaign: legal-adv# matched case-insensitively, spaces "
                         "folded\nauthorisation:\n  given: true\n  at: 2026-11-24T11:30:00Z\n  statement: I authorise "
                         "Example Campaign to send t eeshlettechedn my name.\n");
  // It ends (ctest gives a unit test a minute) with the document read.
  EXPECT_TRUE(read_one_yaml_document(text).root.IsDefined());
}

}  // namespace
}  // namespace letterd
