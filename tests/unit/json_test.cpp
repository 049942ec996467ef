#include "json.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

// The tree as the checks see it: kinds, scalars, and whether a scalar was quoted.
std::string shape(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return (node.Tag() == "!" ? "'" : "") + node.Scalar();
    case YAML::NodeType::Sequence: {
      std::string out = "[";
      for (const auto& item : node) out += shape(item) + ",";
      return out + "]";
    }
    case YAML::NodeType::Map: {
      std::string out = "{";
      for (const auto& kv : node) out += shape(kv.first) + ":" + shape(kv.second) + ",";
      return out + "}";
    }
    default:
      return "?";
  }
}

int error_line(std::string_view text) {
  try {
    parse_json(text);
  } catch (const JsonError& e) {
    return e.line;
  }
  return 0;
}

TEST(Json, ReadsTheTreeYamlCppWouldReadForTheSameText) {
  const std::string text = R"({"id": "web-1", "letters": ["mp", "justice-secretary"], "n": -12.5e3,
    "supporter": {"name": "Jane Doe", "postcode": null}, "given": true, "empty": {}, "none": []})";
  YAML::Node ours = parse_json(text);
  YAML::Node theirs = YAML::Load(text);
  EXPECT_EQ(shape(ours), shape(theirs));
  EXPECT_TRUE(ours["supporter"]["postcode"].IsNull());
  EXPECT_EQ(ours["letters"].size(), 2u);
  EXPECT_EQ(ours["n"].Scalar(), "-12.5e3");
}

TEST(Json, AStringIsTaggedAsQuotedSoTrueAndQuotedTrueDiffer) {
  YAML::Node node = parse_json(R"({"a": true, "b": "true"})");
  EXPECT_NE(node["a"].Tag(), "!");
  EXPECT_EQ(node["b"].Tag(), "!");
  EXPECT_EQ(YAML::Load(R"({"b": "true"})")["b"].Tag(), "!");
}

TEST(Json, AKeyGivenTwiceIsKeptTwiceForTheChecksToName) {
  YAML::Node node = parse_json(R"({"id": "a", "id": "b"})");
  int ids = 0;
  for (const auto& kv : node) ids += kv.first.Scalar() == "id";
  EXPECT_EQ(ids, 2);
}

TEST(Json, EscapesBecomeUtf8IncludingSurrogatePairs) {
  YAML::Node node = parse_json(R"(["a\"b\\c\/d", "line\nnext\ttab", "\u00e9\u2013", "\ud83d\ude00", "\u0000"])");
  EXPECT_EQ(node[0].Scalar(), "a\"b\\c/d");
  EXPECT_EQ(node[1].Scalar(), "line\nnext\ttab");
  EXPECT_EQ(node[2].Scalar(), "\xC3\xA9\xE2\x80\x93");
  EXPECT_EQ(node[3].Scalar(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(node[4].Scalar(), std::string(1, '\0'));  // kept: the checks refuse control characters by key
}

TEST(Json, ErrorsNameTheLine) {
  EXPECT_EQ(error_line("{\n  \"a\": 1,\n  \"b\" 2\n}"), 3);
  EXPECT_EQ(error_line("{\"a\": \"unterminated"), 1);
  EXPECT_EQ(error_line("{\n\"a\": \"raw\nbreak\"}"), 2);
  EXPECT_EQ(error_line("{\"a\": 1,}"), 1);
  EXPECT_EQ(error_line("{\"a\": 01}"), 1);
  EXPECT_EQ(error_line("{\"a\": \"\\ud83d\"}"), 1);
  EXPECT_EQ(error_line("{\"a\": tru}"), 1);
  EXPECT_EQ(error_line("{} {}"), 1);
  EXPECT_EQ(error_line("{'a': 1}"), 1);
}

TEST(Json, AnErrorNeverQuotesTheText) {
  try {
    parse_json("{\"name\": \"Jane Doe\" \"secret\"}");
    FAIL() << "parsed";
  } catch (const JsonError& e) {
    EXPECT_EQ(std::string(e.what()).find("Jane"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
  }
}

TEST(Json, EmptyTextIsNoValueNotAnError) {
  EXPECT_TRUE(parse_json(" \n ").IsNull());
}

}  // namespace
}  // namespace letterd
