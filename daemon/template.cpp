#include "template.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace letterd {

struct Template::Node {
  enum class Kind { text, variable, section, inverted };
  Kind kind;
  std::string text;  // the literal text, or the name for every other kind
  std::vector<std::shared_ptr<const Node>> children;
};

namespace {

using Node = Template::Node;
using Nodes = std::vector<std::shared_ptr<const Node>>;
constexpr auto npos = std::string_view::npos;

enum class TokenKind { text, variable, section, inverted, close, comment };

struct Token {
  TokenKind kind;
  std::string text;  // the literal text, or the tag's name
  int line = 0;
};

std::string at(const std::string& where, int line) {
  return where + ":" + std::to_string(line);
}

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t") == npos;
}

std::string_view trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

bool is_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

// Templates written on Windows must render exactly like the same text with
// LF ends; the message builder adds CRLF on the wire.
std::string normalise(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out += text[i];
  }
  return out;
}

std::vector<Token> tokenize(std::string_view text, const std::string& where, int line, Problems& problems) {
  std::vector<Token> tokens;
  auto add_text = [&](std::string_view s) {
    // No empty text tokens: the standalone rule reads two adjacent tags as sharing a line.
    if (!s.empty()) tokens.push_back({TokenKind::text, std::string(s), line});
    line += static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  };
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find("{{", pos);
    if (open == npos) {
      add_text(text.substr(pos));
      break;
    }
    add_text(text.substr(pos, open - pos));
    // Comments alone may run over several lines; any other tag cut by a line
    // end is far more likely a forgotten }} than a deliberate split.
    const bool comment = trim(text.substr(open + 2)).starts_with('!');
    const size_t close = text.find("}}", open + 2);
    if (close == npos || (!comment && text.find('\n', open + 2) < close)) {
      problems.push_back(
          {at(where, line), comment ? "{{! comment is never closed by }}" : "{{ is not closed by }} on the same line"});
      if (comment) break;
      pos = open + 2;
      continue;
    }
    const std::string_view raw = text.substr(open + 2, close - open - 2);
    const int tag_line = line;
    line += static_cast<int>(std::count(raw.begin(), raw.end(), '\n'));
    pos = close + 2;
    if (comment) {
      tokens.push_back({TokenKind::comment, "", tag_line});
      continue;
    }
    std::string_view name = trim(raw);
    TokenKind kind = TokenKind::variable;
    if (!name.empty() && (name[0] == '#' || name[0] == '^' || name[0] == '/')) {
      kind = name[0] == '#' ? TokenKind::section : name[0] == '^' ? TokenKind::inverted : TokenKind::close;
      name = trim(name.substr(1));
    }
    if (!is_name(name)) {
      problems.push_back(
          {at(where, tag_line), "{{" + std::string(raw) + "}} is not a tag (a name is letters, digits, _ . and -)"});
      continue;
    }
    tokens.push_back({kind, std::string(name), tag_line});
  }
  return tokens;
}

// The Mustache standalone rule, so that a section on lines of its own leaves
// no blank line behind whether or not it renders. Decisions are made on the
// untouched text first: trimming for one tag must not change what the next sees.
void strip_standalone_lines(std::vector<Token>& tokens) {
  const size_t n = tokens.size();
  std::vector<bool> cut_front(n), cut_back(n);
  auto is_text = [&](size_t i) { return tokens[i].kind == TokenKind::text; };
  for (size_t i = 0; i < n; ++i) {
    if (is_text(i) || tokens[i].kind == TokenKind::variable) continue;
    bool line_start = i == 0;
    if (!line_start && is_text(i - 1)) {
      const std::string_view t = tokens[i - 1].text;
      const size_t nl = t.rfind('\n');
      line_start = is_blank(nl == npos ? t : t.substr(nl + 1)) && (nl != npos || i == 1);
    }
    bool line_end = i + 1 == n;
    if (!line_end && is_text(i + 1)) {
      const std::string_view t = tokens[i + 1].text;
      const size_t nl = t.find('\n');
      line_end = is_blank(t.substr(0, nl)) && (nl != npos || i + 2 == n);
    }
    if (!line_start || !line_end) continue;
    if (i > 0) cut_back[i - 1] = true;
    if (i + 1 < n) cut_front[i + 1] = true;
  }
  for (size_t i = 0; i < n; ++i) {
    std::string& t = tokens[i].text;
    if (!is_text(i) || (!cut_front[i] && !cut_back[i])) continue;
    const size_t first_nl = t.find('\n'), last_nl = t.rfind('\n');
    const size_t begin = !cut_front[i] ? 0 : first_nl == npos ? t.size() : first_nl + 1;
    const size_t end = !cut_back[i] ? t.size() : last_nl == npos ? 0 : last_nl + 1;
    t = begin < end ? t.substr(begin, end - begin) : std::string();
  }
}

struct OpenSection {
  std::shared_ptr<Node> node;
  int line;
};

std::string opening_tag(const Node& node) {
  return (node.kind == Node::Kind::section ? "{{#" : "{{^") + node.text + "}}";
}

void close_section(std::vector<OpenSection>& open, const Token& tag, const std::string& where, Problems& problems) {
  const std::string closing = "{{/" + tag.text + "}}";
  if (open.empty()) {
    problems.push_back({at(where, tag.line), closing + " closes no open section"});
    return;
  }
  auto match = std::find_if(open.rbegin(), open.rend(), [&](const auto& o) { return o.node->text == tag.text; });
  if (match == open.rend()) {
    // Most likely a misspelt name: closing the innermost section keeps one
    // typo from also being reported as a section that is never closed.
    problems.push_back({at(where, tag.line), closing + " does not match " + opening_tag(*open.back().node) +
                                                 " on line " + std::to_string(open.back().line)});
    open.pop_back();
    return;
  }
  for (auto it = open.rbegin(); it != match; ++it)
    problems.push_back({at(where, it->line), "section " + it->node->text + " is never closed"});
  open.erase(std::prev(match.base()), open.end());
}

bool has_value(const Values& values, std::string_view name) {
  const auto it = values.find(name);
  return it != values.end() && !it->second.empty();
}

void render_nodes(const Nodes& nodes, const Values& values, std::string& out) {
  for (const auto& node : nodes) {
    switch (node->kind) {
      case Node::Kind::text:
        out += node->text;
        break;
      case Node::Kind::variable:
        if (const auto it = values.find(node->text); it != values.end()) out += it->second;
        break;
      case Node::Kind::section:
      case Node::Kind::inverted:
        if (has_value(values, node->text) == (node->kind == Node::Kind::section))
          render_nodes(node->children, values, out);
        break;
    }
  }
}

}  // namespace

bool NameRules::allows(std::string_view name) const {
  if (exact.contains(name)) return true;
  return std::any_of(open_prefixes.begin(), open_prefixes.end(),
                     [&](const std::string& p) { return name.size() > p.size() && name.starts_with(p); });
}

std::optional<Template> Template::parse(std::string_view text, const std::string& where, int first_line,
                                        Problems& problems) {
  const size_t problems_before = problems.size();
  std::vector<Token> tokens = tokenize(normalise(text), where, first_line, problems);
  strip_standalone_lines(tokens);

  Template result;
  result.where_ = where;
  std::vector<OpenSection> open;
  auto add = [&](std::shared_ptr<Node> node) {
    (open.empty() ? result.nodes_ : open.back().node->children).push_back(node);
  };
  for (Token& token : tokens) {
    switch (token.kind) {
      case TokenKind::text:
        if (!token.text.empty()) add(std::make_shared<Node>(Node{Node::Kind::text, std::move(token.text), {}}));
        break;
      case TokenKind::variable:
        result.names_.push_back({token.text, token.line, !open.empty()});
        add(std::make_shared<Node>(Node{Node::Kind::variable, token.text, {}}));
        break;
      case TokenKind::section:
      case TokenKind::inverted: {
        // A section's own name only decides what shows, so it may be empty.
        result.names_.push_back({token.text, token.line, true});
        const auto kind = token.kind == TokenKind::section ? Node::Kind::section : Node::Kind::inverted;
        auto node = std::make_shared<Node>(Node{kind, token.text, {}});
        add(node);
        open.push_back({node, token.line});
        break;
      }
      case TokenKind::close:
        close_section(open, token, where, problems);
        break;
      case TokenKind::comment:
        break;
    }
  }
  for (const auto& o : open) problems.push_back({at(where, o.line), "section " + o.node->text + " is never closed"});
  if (problems.size() > problems_before) return std::nullopt;
  return result;
}

void Template::check_names(const NameRules& rules, Problems& problems) const {
  for (const auto& use : names_)
    if (!rules.allows(use.name)) problems.push_back({at(where_, use.line), "unknown name " + use.name});
}

std::optional<std::string> Template::render(const Values& values, Problems& problems) const {
  std::set<std::string_view> missing;
  for (const auto& use : names_) {
    if (use.in_section || has_value(values, use.name) || !missing.insert(use.name).second) continue;
    problems.push_back({at(where_, use.line), "no value for " + use.name});
  }
  if (!missing.empty()) return std::nullopt;
  std::string out;
  render_nodes(nodes_, values, out);
  return out;
}

namespace {

struct Subject {
  std::string text;
  int line;
};

constexpr int kFrontMatterLine = 2;  // the YAML starts on the line after the opening ---

std::optional<Subject> read_front_matter(std::string_view yaml, const std::string& file, Problems& problems) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    const int line = kFrontMatterLine + (e.mark.is_null() ? 0 : e.mark.line);
    // YAML reads a bare {{ at the start of a value as a mapping; say what to do about it.
    const bool braces = yaml.find(": {{") != npos;
    problems.push_back({at(file, line), "front matter is not valid YAML: " + e.msg +
                                            (braces ? " (quote a value that starts with {{)" : "")});
    return std::nullopt;
  }
  if (!root.IsMap() && !root.IsNull()) {
    problems.push_back({at(file, kFrontMatterLine), "front matter must be keys and values, like subject: ..."});
    return std::nullopt;
  }
  std::optional<Subject> subject;
  bool subject_seen = false;
  std::set<std::string> seen;
  for (const auto& entry : root) {
    const YAML::Mark mark = entry.first.Mark();
    const int line = kFrontMatterLine + (mark.is_null() ? 0 : mark.line);
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    if (!seen.insert(key).second) {
      problems.push_back({at(file, line), "front-matter key " + key + " is given twice"});
      continue;
    }
    if (key != "subject") {
      problems.push_back({at(file, line), "unknown front-matter key " + key});
      continue;
    }
    subject_seen = true;
    const YAML::Node& value = entry.second;
    if (value.IsNull() || (value.IsScalar() && trim(value.Scalar()).empty()))
      problems.push_back({at(file, line), "subject is empty"});
    else if (!value.IsScalar())
      problems.push_back({at(file, line), "subject must be text (quote it if it starts with {{)"});
    else if (value.Scalar().find('\n') != std::string::npos)
      problems.push_back({at(file, line), "subject must be one line"});
    else
      subject = Subject{value.Scalar(), line};
  }
  if (!subject_seen) problems.push_back({at(file, 1), "front matter has no subject"});
  return subject;
}

bool is_delimiter(std::string_view line) {
  return line.starts_with("---") && is_blank(line.substr(3));
}

}  // namespace

std::optional<LetterTemplate> parse_letter_template(std::string_view text, const std::string& file,
                                                    Problems& problems) {
  const size_t problems_before = problems.size();
  std::string lf = normalise(text);
  if (lf.starts_with("\xEF\xBB\xBF")) lf.erase(0, 3);  // a BOM some editors put first would hide the ---
  const std::string_view all = lf;

  auto line_at = [&](size_t pos) { return all.substr(pos, all.find('\n', pos) - pos); };
  if (!is_delimiter(line_at(0))) {
    problems.push_back({at(file, 1), "missing front matter (a first line ---, subject: ..., then ---)"});
    return std::nullopt;
  }
  size_t pos = all.find('\n');
  int line = kFrontMatterLine;
  const size_t yaml_begin = pos == npos ? all.size() : pos + 1;
  for (pos = yaml_begin; pos < all.size() && !is_delimiter(line_at(pos)); ++line) {
    const size_t nl = all.find('\n', pos);
    pos = nl == npos ? all.size() : nl + 1;
  }
  if (pos >= all.size()) {
    problems.push_back({at(file, 1), "front matter is never closed by a line ---"});
    return std::nullopt;
  }
  const std::string_view yaml = all.substr(yaml_begin, pos - yaml_begin);
  const size_t closing_nl = all.find('\n', pos);
  const std::string_view body = closing_nl == npos ? std::string_view{} : all.substr(closing_nl + 1);

  const std::optional<Subject> subject_text = read_front_matter(yaml, file, problems);
  std::optional<Template> subject;
  if (subject_text) subject = Template::parse(subject_text->text, file, subject_text->line, problems);
  std::optional<Template> body_template = Template::parse(body, file, line + 1, problems);
  if (problems.size() > problems_before || !subject || !body_template) return std::nullopt;
  return LetterTemplate{file, std::move(*subject), std::move(*body_template)};
}

}  // namespace letterd
