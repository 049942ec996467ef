#include "submission.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "json.h"
#include "yaml_document.h"

namespace letterd {

namespace {

constexpr std::size_t kMaxNameChars = 200;
constexpr std::size_t kMaxShortText = 500;
constexpr std::size_t kMaxNoteChars = 5000;
constexpr std::size_t kMaxFields = 100;
constexpr std::size_t kMaxFieldChars = 2000;
constexpr auto kClockSkew = std::chrono::minutes(5);

std::size_t count_chars(std::string_view utf8) {
  return static_cast<std::size_t>(
      std::count_if(utf8.begin(), utf8.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// Newlines are the only control characters a multi-line value may hold.
bool has_controls_besides_newline(std::string_view text) {
  std::string without_newlines(text);
  std::erase(without_newlines, '\n');
  return has_header_breaking_chars(without_newlines);
}

// Characters a reader never sees but that reorder or hide what is around
// them: bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+061C),
// zero-width characters and marks (U+200B-U+200F) and U+FEFF. In a From or
// Reply-To display name they can make one name look like another. Found
// by their UTF-8 bytes: the text is valid UTF-8 here, so a match can only
// be the whole character.
bool has_invisible_format_chars(std::string_view utf8) {
  static constexpr std::string_view kInvisible[] = {"\u200B", "\u200C", "\u200D", "\u200E", "\u200F", "\u202A",
                                                    "\u202B", "\u202C", "\u202D", "\u202E", "\u2066", "\u2067",
                                                    "\u2068", "\u2069", "\u061C", "\uFEFF"};
  return std::any_of(std::begin(kInvisible), std::end(kInvisible),
                     [&](std::string_view c) { return utf8.find(c) != std::string_view::npos; });
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Levenshtein distance, for suggesting the known key an unknown one was
// probably meant to be.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The known key `key` is one or two typos away from, or empty. Short keys
// get one typo only, so "to" is never read as "id".
std::string_view nearest_known_key(std::string_view key, std::initializer_list<std::string_view> known) {
  constexpr std::size_t kLongestWorthComparing = 64;
  if (key.size() > kLongestWorthComparing) return {};
  const std::size_t allowed = key.size() <= 4 ? 1 : 2;
  std::string_view best;
  std::size_t best_distance = allowed + 1;
  for (auto k : known) {
    std::size_t d = edit_distance(key, k);
    if (d < best_distance) best = k, best_distance = d;
  }
  return best;
}

// yaml-cpp's message without what it quotes of the text after its first
// ':' ("unknown escape character: ..."): the text may be a supporter's.
std::string yaml_reason(const std::string& message) {
  return message.substr(0, message.find(':'));
}

class Reader {
 public:
  // `json_key_lines`: where the keys of a JSON file are; a YAML tree knows its own.
  Reader(Problems& problems, const KeyLines* json_key_lines) : problems_(problems), json_key_lines_(json_key_lines) {}

  void problem(const std::string& key, const std::string& what) { problems_.push_back({key, what}); }

  // A scalar as text; a problem when it is a list or map.
  std::optional<std::string> text(const YAML::Node& node, const std::string& key) {
    if (!node.IsDefined() || node.IsNull()) return std::nullopt;
    if (!node.IsScalar()) {
      problem(key, "must be a string");
      return std::nullopt;
    }
    if (!is_valid_utf8(node.Scalar())) {
      problem(key, "is not valid UTF-8");
      return std::nullopt;
    }
    return node.Scalar();
  }

  // One line of text that may reach a header: no control characters at all.
  std::optional<std::string> line(const YAML::Node& node, const std::string& key, std::size_t max_chars,
                                  bool required) {
    auto value = text(node, key);
    if (!value) {
      if (required && (!node.IsDefined() || node.IsNull())) problem(key, "is required");
      return std::nullopt;
    }
    if (has_header_breaking_chars(*value)) {
      problem(key, "must not contain line breaks or other control characters");
      return std::nullopt;
    }
    if (has_invisible_format_chars(*value)) {
      problem(key, "must not contain invisible characters (bidirectional controls or zero-width characters)");
      return std::nullopt;
    }
    if (value->empty() && required) {
      problem(key, "must not be empty");
      return std::nullopt;
    }
    if (count_chars(*value) > max_chars) {
      problem(key, "is longer than " + std::to_string(max_chars) + " characters");
      return std::nullopt;
    }
    return value;
  }

  // Unknown keys and keys given twice are problems: yaml-cpp keeps the first
  // of two, most JSON writers mean the last, and either way one is lost.
  // An unknown key is named by its line, never by itself: a hand-written
  // note that lost its indentation becomes a key, and the .error file and
  // the database must not keep it. `path` is the map's ("" at the top).
  void only_keys(const YAML::Node& map, const std::string& path, std::initializer_list<std::string_view> known) {
    std::set<std::string, std::less<>> seen;
    for (const auto& kv : map) {
      const std::string_view key = kv.first.IsScalar() ? std::string_view(kv.first.Scalar()) : std::string_view();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string what = "an unknown key" + at_line(kv.first);
        if (auto near = nearest_known_key(key, known); !near.empty())
          what += " (did you mean " + std::string(near) + "?)";
        problem(path, what);
      } else if (!seen.emplace(key).second) {
        problem(path.empty() ? std::string(key) : path + "." + std::string(key), "is given twice");
      }
    }
  }

  // " at line N" for a key, or nothing when its line is not known.
  std::string at_line(const YAML::Node& key) const {
    int line = json_key_lines_ ? json_key_lines_->line_of(key) : key.Mark().line + 1;
    return line > 0 ? " at line " + std::to_string(line) : "";
  }

 private:
  Problems& problems_;
  const KeyLines* json_key_lines_;
};

constexpr int kMaxNesting = 16;

// How deeply [ and { nest, outside quoted strings. yaml-cpp parses by
// recursion: a file of 60,000 '[' would overflow the stack, so the depth is
// bounded before it ever sees the text. (A bracket inside a plain YAML
// scalar counts too; a real submission is nowhere near the bound.)
int flow_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == '\\' && quote == '"')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::string_view stem(std::string_view file_name) {
  auto dot = file_name.rfind('.');
  return dot == std::string_view::npos ? file_name : file_name.substr(0, dot);
}

void read_supporter(Reader& r, const YAML::Node& node, Submission& s) {
  if (!node.IsDefined() || node.IsNull()) {
    r.problem("supporter", "is required (name and email)");
    return;
  }
  if (!node.IsMap()) {
    r.problem("supporter", "must be a map with name and email");
    return;
  }
  r.only_keys(node, "supporter", {"name", "email", "postcode", "address"});
  s.supporter_name = r.line(node["name"], "supporter.name", kMaxNameChars, true).value_or("");
  if (!s.supporter_name.empty() && s.supporter_name.find_first_not_of(' ') == std::string::npos)
    r.problem("supporter.name", "must not be blank");
  if (auto email = r.line(node["email"], "supporter.email", 254, true)) {
    if (is_valid_address(*email))
      s.supporter_email = *email;
    else if (!is_ascii(*email))
      // International addresses (SMTPUTF8) are valid mail, just not mail letterd can send.
      r.problem("supporter.email", "addresses with non-ASCII characters are not supported");
    else
      r.problem("supporter.email", "is not a valid email address");
  }
  s.postcode = r.line(node["postcode"], "supporter.postcode", 16, false);
  // Kept and compared in one form; one that is no UK postcode stays as
  // given, for a campaign that does not route by it.
  if (s.postcode)
    if (auto canonical = canonical_postcode(*s.postcode)) s.postcode = *canonical;
  s.address = r.line(node["address"], "supporter.address", kMaxShortText, false);
}

void read_authorisation(Reader& r, const YAML::Node& node, TimePoint now, Submission& s) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    r.problem("authorisation", "must be a map with given, at and statement");
    return;
  }
  r.only_keys(node, "authorisation", {"given", "at", "statement"});
  Authorisation a;
  // Consent is the literal true: not "yes", "on" or a quoted "true".
  const YAML::Node given = node["given"];
  bool literal =
      given.IsDefined() && given.IsScalar() && given.Tag() != "!";  // a missing key is a zombie node: ask first
  if (literal && given.Scalar() == "true")
    a.given = true;
  else if (!literal || given.Scalar() != "false")
    r.problem("authorisation.given", "must be true or false");
  if (auto at = r.line(node["at"], "authorisation.at", 64, true)) {
    auto t = parse_rfc3339(*at);
    if (!t)
      r.problem("authorisation.at", "is not an RFC 3339 time (2026-11-24T10:00:00Z)");
    else if (*t > now + kClockSkew)
      r.problem("authorisation.at", "is in the future");
    a.at = *at;
  }
  a.statement = r.line(node["statement"], "authorisation.statement", 1000, false).value_or("");
  s.authorisation = a;
}

}  // namespace

std::string supporter_key(std::string_view email) {
  std::string out(email);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

namespace {

// The file's one YAML document. A second one (after a line ---) would be
// silently ignored by YAML::Load: a problem instead, as a submission is
// one document. Throws YAML::Exception on a syntax error.
std::optional<YAML::Node> one_yaml_document(std::string_view text, Problems& problems) {
  YamlDocument read = read_one_yaml_document(std::string(text));
  if (read.second_document_line) {
    problems.push_back({"line " + std::to_string(*read.second_document_line),
                        "a second YAML document (after a line ---): a file holds one submission"});
    return std::nullopt;
  }
  return read.root;
}

// The file's one document, checked for size, encoding and nesting, or
// nullopt (with the problem) when it is not a map at all.
std::optional<YAML::Node> read_document(std::string_view text, std::string_view file_name, KeyLines& json_key_lines,
                                        Problems& problems) {
  if (text.size() > kMaxSubmissionBytes) {
    problems.push_back({"", "the file is larger than 64 KiB"});
    return std::nullopt;
  }
  if (!is_valid_utf8(text)) {
    problems.push_back({"", "the file is not valid UTF-8"});
    return std::nullopt;
  }
  if (text.starts_with("\xEF\xBB\xBF")) {
    problems.push_back({"", "the file starts with a byte-order mark: save it as UTF-8 without one"});
    return std::nullopt;
  }
  if (flow_depth(text) > kMaxNesting) {
    problems.push_back({"", "lists and maps nest more than " + std::to_string(kMaxNesting) + " deep"});
    return std::nullopt;
  }
  bool json = file_name.ends_with(".json");
  if (!json && !file_name.ends_with(".yaml") && !file_name.ends_with(".yml")) {
    problems.push_back({"", "the file name must end in .json, .yaml or .yml"});
    return std::nullopt;
  }
  YAML::Node loaded;
  try {
    if (json)
      loaded = parse_json(text, &json_key_lines);
    else if (auto document = one_yaml_document(text, problems))
      loaded = *document;
    else
      return std::nullopt;
  } catch (const JsonError& e) {
    problems.push_back({"line " + std::to_string(e.line), std::string("not valid JSON: ") + e.what()});
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    problems.push_back({"line " + std::to_string(e.mark.line + 1), "not valid YAML: " + yaml_reason(e.msg)});
    return std::nullopt;
  }
  if (!loaded.IsMap()) {
    problems.push_back({"", "the file must hold one object (a map of keys)"});
    return std::nullopt;
  }
  return loaded;
}

void read_note(Reader& r, const YAML::Node& node, Submission& s) {
  auto note = r.text(node, "personal_note");
  if (!note) return;
  std::string normalised;
  for (std::size_t i = 0; i < note->size(); ++i)
    if (!((*note)[i] == '\r' && i + 1 < note->size() && (*note)[i + 1] == '\n')) normalised += (*note)[i];
  if (has_controls_besides_newline(normalised))
    r.problem("personal_note", "must not contain control characters other than line breaks");
  else if (count_chars(normalised) > kMaxNoteChars)
    r.problem("personal_note", "is longer than 5,000 characters");
  else
    s.personal_note = normalised;
}

void read_fields(Reader& r, const YAML::Node& fields, Submission& s) {
  if (!fields.IsDefined() || fields.IsNull()) return;
  if (!fields.IsMap()) {
    r.problem("fields", "must be a map of strings");
    return;
  }
  if (fields.size() > kMaxFields) {
    r.problem("fields", "has more than " + std::to_string(kMaxFields) + " keys");
    return;
  }
  std::set<std::string, std::less<>> seen;
  for (const auto& kv : fields) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    // A key that is not a field name is named by its line: it may be the supporter's words.
    if (!valid_id(key) || key.find('.') != std::string::npos) {
      r.problem("fields", "the key" + r.at_line(kv.first) + " must be 1-128 of A-Z a-z 0-9 _ -");
      continue;
    }
    if (!seen.insert(key).second) {
      r.problem("fields." + key, "is given twice");
      continue;
    }
    if (!kv.second.IsScalar()) {
      r.problem("fields." + key, "must be a string");
      continue;
    }
    if (auto value = r.line(kv.second, "fields." + key, kMaxFieldChars, false)) s.fields[key] = *value;
  }
}

// The submission as far as it could be read, or nullopt when the file is
// not a map at all; problems appended either way.
std::optional<Submission> read_submission(std::string_view text, std::string_view file_name, TimePoint now,
                                          Problems& problems) {
  KeyLines json_key_lines;
  auto loaded = read_document(text, file_name, json_key_lines, problems);
  if (!loaded) return std::nullopt;
  // Const from here: yaml-cpp's non-const operator[] adds missing keys.
  const YAML::Node& root = *loaded;
  bool json = file_name.ends_with(".json");

  Reader r(problems, json ? &json_key_lines : nullptr);
  Submission s;
  r.only_keys(
      root, "",
      {"id", "campaign", "letters", "supporter", "constituency", "target", "personal_note", "authorisation", "fields"});
  if (auto id = r.line(root["id"], "id", 128, false)) {
    if (valid_id(*id))
      s.id = *id;
    else
      r.problem("id", "must be 1-128 of A-Z a-z 0-9 . _ -");
  } else if (!root["id"].IsDefined() || root["id"].IsNull()) {
    s.id = std::string(stem(file_name));
    if (!valid_id(s.id)) r.problem("id", "not given, and the file name is not a valid id (1-128 of A-Z a-z 0-9 . _ -)");
  }
  s.campaign = r.line(root["campaign"], "campaign", 128, true).value_or("");
  if (YAML::Node letters = root["letters"]; letters.IsDefined() && !letters.IsNull()) {
    if (!letters.IsSequence() || letters.size() == 0) {
      r.problem("letters", "must be a non-empty list of letter names");
    } else {
      for (std::size_t i = 0; i < letters.size(); ++i)
        if (auto name = r.line(letters[i], "letters[" + std::to_string(i) + "]", 128, true))
          if (std::find(s.letters.begin(), s.letters.end(), *name) == s.letters.end()) s.letters.push_back(*name);
    }
  }
  read_supporter(r, root["supporter"], s);
  s.constituency = r.line(root["constituency"], "constituency", kMaxShortText, false);
  s.target = r.line(root["target"], "target", 128, false);
  read_note(r, root["personal_note"], s);
  read_authorisation(r, root["authorisation"], now, s);
  read_fields(r, root["fields"], s);
  return s;
}

}  // namespace

std::optional<Submission> parse_submission(std::string_view text, std::string_view file_name, TimePoint now,
                                           Problems& problems) {
  std::size_t before = problems.size();
  auto s = read_submission(text, file_name, now, problems);
  if (problems.size() != before) return std::nullopt;
  return s;
}

std::optional<CheckedSubmission> check_submission(std::string_view text, std::string_view file_name, TimePoint now,
                                                  const Config& config, Problems& problems,
                                                  const PostcodeFinder& postcodes) {
  std::size_t before = problems.size();
  auto submission = read_submission(text, file_name, now, problems);
  if (!submission) return std::nullopt;
  // Checked against the campaign even when the file had problems of its
  // own, so one rejection lists everything the sender must fix.
  auto messages = plan_messages(*submission, config, problems, postcodes);
  if (problems.size() != before || !messages) return std::nullopt;
  return CheckedSubmission{std::move(*submission), std::move(*messages)};
}

}  // namespace letterd
