#include "json.h"

#include <cstdio>

namespace letterd {

namespace {

class Parser {
 public:
  Parser(std::string_view text, KeyLines* key_lines) : text_(text), key_lines_(key_lines) {}

  YAML::Node document() {
    skip_space();
    if (at_end()) return YAML::Node(YAML::NodeType::Null);  // empty: the caller says an object is missing
    YAML::Node root = value();
    skip_space();
    if (pos_ != text_.size()) fail("more text after the value");
    return root;
  }

 private:
  // Messages name what was expected, never the text found: it may be a supporter's.
  [[noreturn]] void fail(const std::string& what) const { throw JsonError(line_, what); }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_space() {
    for (; !at_end(); ++pos_) {
      char c = peek();
      if (c == '\n')
        ++line_;
      else if (c != ' ' && c != '\t' && c != '\r')
        break;
    }
  }

  void expect(char c, const char* what) {
    skip_space();
    if (at_end() || peek() != c) fail(what);
    ++pos_;
  }

  YAML::Node value() {
    if (at_end()) fail("the text ends where a value should be");
    switch (peek()) {
      case '{':
        return object();
      case '[':
        return array();
      case '"': {
        YAML::Node node(quoted());
        node.SetTag("!");  // as yaml-cpp tags a quoted scalar
        return node;
      }
      case 't':
        return word("true");
      case 'f':
        return word("false");
      case 'n':
        word("null");
        return YAML::Node(YAML::NodeType::Null);
      default:
        return number();
    }
  }

  YAML::Node word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) fail("a value must be a string, number, object, list, true, false or null");
    pos_ += w.size();
    return YAML::Node(std::string(w));
  }

  YAML::Node number() {
    std::size_t start = pos_;
    auto digits = [&] {
      std::size_t from = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - from;
    };
    if (!at_end() && peek() == '-') ++pos_;
    if (!at_end() && peek() == '0')
      ++pos_;
    else if (digits() == 0)
      fail("a value must be a string, number, object, list, true, false or null");
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (digits() == 0) fail("a number needs digits after its '.'");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) fail("a number needs digits in its exponent");
    }
    return YAML::Node(std::string(text_.substr(start, pos_ - start)));
  }

  YAML::Node object() {
    ++pos_;  // {
    YAML::Node map(YAML::NodeType::Map);
    skip_space();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return map;
    }
    for (;;) {
      skip_space();
      if (at_end() || peek() != '"') fail("a key must be a string in double quotes");
      const int key_line = line_;
      YAML::Node key(quoted());
      key.SetTag("!");
      if (key_lines_) key_lines_->add(key, key_line);
      expect(':', "expected ':' after a key");
      skip_space();
      // force_insert keeps a key given twice, so the checks can say so.
      map.force_insert(key, value());
      skip_space();
      if (at_end()) fail("the text ends inside an object: '}' missing");
      char c = text_[pos_++];
      if (c == '}') return map;
      if (c != ',') fail("expected ',' or '}' after a value in an object");
    }
  }

  YAML::Node array() {
    ++pos_;  // [
    YAML::Node list(YAML::NodeType::Sequence);
    skip_space();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return list;
    }
    for (;;) {
      skip_space();
      list.push_back(value());
      skip_space();
      if (at_end()) fail("the text ends inside a list: ']' missing");
      char c = text_[pos_++];
      if (c == ']') return list;
      if (c != ',') fail("expected ',' or ']' after a value in a list");
    }
  }

  unsigned hex4() {
    if (pos_ + 4 > text_.size()) fail("\\u needs four hex digits");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        fail("\\u needs four hex digits");
    }
    return v;
  }

  static void append_utf8(std::string& out, char32_t cp) {
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

  std::string quoted() {
    ++pos_;  // "
    std::string out;
    for (;;) {
      // Runs of ordinary characters are copied whole.
      std::size_t run = pos_;
      while (run < text_.size() && text_[run] != '"' && text_[run] != '\\' &&
             static_cast<unsigned char>(text_[run]) >= 0x20)
        ++run;
      out.append(text_.substr(pos_, run - pos_));
      pos_ = run;
      if (at_end()) fail("the text ends inside a string: '\"' missing");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c != '\\') fail("a line break or control character inside a string must be written as an escape");
      if (at_end()) fail("the text ends inside a string: '\"' missing");
      switch (text_[pos_++]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          char32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail("a \\u surrogate must come in a pair");
            pos_ += 2;
            char32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("a \\u surrogate must come in a pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("a \\u surrogate must come in a pair");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail("unknown escape in a string (known: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
      }
    }
  }

  std::string_view text_;
  KeyLines* key_lines_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

int KeyLines::line_of(const YAML::Node& key) const {
  for (const auto& [node, line] : keys_)
    if (node.is(key)) return line;
  return 0;
}

YAML::Node parse_json(std::string_view text, KeyLines* key_lines) {
  return Parser(text, key_lines).document();
}

std::string json_string(const std::string& value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string json_object(const StringMap& values) {
  std::string out = "{";
  for (const auto& [key, value] : values)
    out += (out.size() > 1 ? ", " : "") + json_string(key) + ": " + json_string(value);
  return out + "}";
}

StringMap parse_json_object(std::string_view text) {
  YAML::Node root = parse_json(text);
  if (!root.IsMap()) throw JsonError(1, "not an object");
  StringMap out;
  for (const auto& kv : root) {
    if (!kv.second.IsScalar()) throw JsonError(1, "a value is not a string");
    out[kv.first.Scalar()] = kv.second.Scalar();
  }
  return out;
}

}  // namespace letterd
