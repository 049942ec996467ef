#include "submission.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "json.h"

namespace letterd {

namespace {

constexpr std::size_t kMaxNameChars = 200;
constexpr std::size_t kMaxShortText = 500;
constexpr std::size_t kMaxNoteChars = 5000;
constexpr std::size_t kMaxFields = 100;
constexpr std::size_t kMaxFieldChars = 2000;
constexpr auto kClockSkew = std::chrono::minutes(5);

std::size_t count_chars(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
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

class Reader {
 public:
  Reader(Problems& problems) : problems_(problems) {}

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
  void only_keys(const YAML::Node& map, const std::string& prefix, std::initializer_list<std::string_view> known) {
    std::set<std::string> seen;
    for (const auto& kv : map) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (!seen.insert(key).second)
        problem(prefix + key, "is given twice");
      else if (known.size() && std::find(known.begin(), known.end(), key) == known.end())
        problem(prefix + key, "unknown key (known: " + join(known) + ")");
    }
  }

 private:
  static std::string join(std::initializer_list<std::string_view> names) {
    std::string out;
    for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
  }
  Problems& problems_;
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
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
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
  r.only_keys(node, "supporter.", {"name", "email", "postcode", "address"});
  s.supporter_name = r.line(node["name"], "supporter.name", kMaxNameChars, true).value_or("");
  if (!s.supporter_name.empty() && s.supporter_name.find_first_not_of(' ') == std::string::npos)
    r.problem("supporter.name", "must not be blank");
  if (auto email = r.line(node["email"], "supporter.email", 254, true)) {
    if (is_valid_address(*email))
      s.supporter_email = *email;
    else
      r.problem("supporter.email", "is not a valid email address");
  }
  s.postcode = r.line(node["postcode"], "supporter.postcode", 16, false);
  s.address = r.line(node["address"], "supporter.address", kMaxShortText, false);
}

void read_authorisation(Reader& r, const YAML::Node& node, TimePoint now, Submission& s) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    r.problem("authorisation", "must be a map with given, at and statement");
    return;
  }
  r.only_keys(node, "authorisation.", {"given", "at", "statement"});
  Authorisation a;
  // Consent is the literal true: not "yes", "on" or a quoted "true".
  const YAML::Node given = node["given"];
  bool literal = given.IsDefined() && given.IsScalar() && given.Tag() != "!";  // a missing key is a zombie node: ask first
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

// The submission as far as it could be read, or nullopt when the file is
// not a map at all; problems appended either way.
std::optional<Submission> read_submission(std::string_view text, std::string_view file_name, TimePoint now,
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
    loaded = json ? parse_json(text) : YAML::Load(std::string(text));
  } catch (const JsonError& e) {
    problems.push_back({"line " + std::to_string(e.line), std::string("not valid JSON: ") + e.what()});
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    problems.push_back({"line " + std::to_string(e.mark.line + 1), "not valid YAML: " + e.msg});
    return std::nullopt;
  }
  // Const from here: yaml-cpp's non-const operator[] adds missing keys.
  const YAML::Node& root = loaded;
  if (!root.IsMap()) {
    problems.push_back({"", "the file must hold one object (a map of keys)"});
    return std::nullopt;
  }

  Reader r(problems);
  Submission s;
  r.only_keys(root, "", {"id", "campaign", "letters", "supporter", "constituency", "target", "personal_note",
                         "authorisation", "fields"});
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
  if (auto note = r.text(root["personal_note"], "personal_note")) {
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
  read_authorisation(r, root["authorisation"], now, s);
  if (YAML::Node fields = root["fields"]; fields.IsDefined() && !fields.IsNull()) {
    if (!fields.IsMap()) {
      r.problem("fields", "must be a map of strings");
    } else if (fields.size() > kMaxFields) {
      r.problem("fields", "has more than " + std::to_string(kMaxFields) + " keys");
    } else {
      r.only_keys(fields, "fields.", {});
      for (const auto& kv : fields) {
        std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
        if (!valid_id(key) || key.find('.') != std::string::npos) {
          r.problem("fields", "key '" + key + "' must be 1-128 of A-Z a-z 0-9 _ -");
          continue;
        }
        if (!kv.second.IsScalar()) {
          r.problem("fields." + key, "must be a string");
          continue;
        }
        if (auto value = r.line(kv.second, "fields." + key, kMaxFieldChars, false)) s.fields[key] = *value;
      }
    }
  }
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

namespace {

Values values_for(const Submission& s, const CampaignConfig& campaign, const Target* target) {
  Values v;
  v["supporter.name"] = s.supporter_name;
  v["supporter.email"] = s.supporter_email;
  if (s.postcode) v["supporter.postcode"] = *s.postcode;
  if (s.address) v["supporter.address"] = *s.address;
  if (s.personal_note) v["personal_note"] = *s.personal_note;
  v["campaign.name"] = campaign.name;
  v["submission.id"] = s.id;
  for (const auto& [key, value] : s.fields) v["fields." + key] = value;
  if (target)
    for (const auto& [column, value] : target->columns) v["target." + column] = value;
  return v;
}

// Problems name keys and the campaign's own words (targets, letters), never
// what the supporter wrote: the .error file and the log are read by others.

// Where a letter goes: a fixed target, or the one the submission's
// constituency (or target id) names. Never an address from the submission.
const Target* pick_target(const Submission& s, const CampaignConfig& campaign, const LetterConfig& letter,
                          Problems& problems) {
  const Targets& targets = *campaign.targets;
  if (!letter.by_constituency) return targets.by_id(letter.target_id);
  const Target* by_id = s.target ? targets.by_id(*s.target) : nullptr;
  const Target* by_name = s.constituency ? targets.by_constituency(*s.constituency) : nullptr;
  if (s.target && !by_id) problems.push_back({"target", "'" + *s.target + "' is not one of the campaign's targets"});
  if (by_id && by_id->columns.count("constituency") && by_id->columns.at("constituency").empty()) {
    problems.push_back({"target", "'" + *s.target + "' has no constituency, but letter " + letter.name +
                                      " goes to the supporter's constituency"});
    by_id = nullptr;
  }
  if (s.constituency && !by_name)
    problems.push_back({"constituency", "matches none of the campaign's targets"});
  if (!s.target && !s.constituency)
    problems.push_back({"constituency", "is required by letter " + letter.name + " (or give target)"});
  if (by_id && by_name && by_id != by_name)
    problems.push_back({"target", "'" + *s.target + "' is not the target for the constituency given"});
  return by_id ? by_id : by_name;
}

}  // namespace

std::optional<std::vector<PlannedMessage>> plan_messages(const Submission& s, const Config& config,
                                                         Problems& problems) {
  std::size_t before = problems.size();
  const CampaignConfig* campaign = config.campaign(s.campaign);
  if (!campaign) {
    problems.push_back({"campaign", "'" + s.campaign + "' is not a campaign in the config"});
    return std::nullopt;
  }
  if (s.postcode.value_or("").empty() && campaign->require.count("postcode"))
    problems.push_back({"supporter.postcode", "is required by campaign " + campaign->name});
  if (s.address.value_or("").empty() && campaign->require.count("address"))
    problems.push_back({"supporter.address", "is required by campaign " + campaign->name});
  if (campaign->require_authorisation) {
    if (!s.authorisation)
      problems.push_back({"authorisation", "is required by campaign " + campaign->name});
    else if (!s.authorisation->given)
      problems.push_back({"authorisation.given", "must be true: the supporter has not authorised sending"});
  }

  std::vector<const LetterConfig*> letters;
  if (s.letters.empty()) {
    for (const auto& l : campaign->letters) letters.push_back(&l);
  } else {
    for (const auto& name : s.letters) {
      if (const LetterConfig* l = campaign->letter(name))
        letters.push_back(l);
      else
        problems.push_back({"letters", "'" + name + "' is not a letter of campaign " + campaign->name});
    }
  }

  Values supporter_values = values_for(s, *campaign, nullptr);
  Problems from_problems;
  std::string from_name = campaign->from_name->render(supporter_values, from_problems).value_or("");
  for (auto& p : from_problems) problems.push_back({"supporter", p.text()});
  if (has_header_breaking_chars(from_name)) problems.push_back({"supporter.name", "cannot be used in From"});

  std::vector<PlannedMessage> planned;
  for (const LetterConfig* letter : letters) {
    const Target* target = pick_target(s, *campaign, *letter, problems);
    if (!target) continue;
    Values values = values_for(s, *campaign, target);
    Problems render_problems;
    auto subject = letter->templ->subject.render(values, render_problems);
    auto body = letter->templ->body.render(values, render_problems);
    for (auto& p : render_problems) problems.push_back({"letter " + letter->name, p.text()});
    if (!subject || !body) continue;
    if (has_header_breaking_chars(*subject)) {
      problems.push_back({"letter " + letter->name, "the subject would contain a line break or control character"});
      continue;
    }

    PlannedMessage m;
    m.letter = letter->name;
    m.target_id = target->id();
    m.from = {from_name, campaign->from_address};
    m.subject = *subject;
    m.body = *body;
    if (campaign->mode == CampaignMode::reflect) {
      m.reflect = true;
      m.to = {s.supporter_name, s.supporter_email};
      m.subject = "[TEST] " + m.subject;
      m.body = "This is a test. When the campaign is live, this letter goes to " + target->name() + " <" +
               target->email() + ">.\n\n" + m.body;
    } else {
      m.to = {target->name(), target->email()};
      if (campaign->reply_to_supporter) m.reply_to = Mailbox{s.supporter_name, s.supporter_email};
      if (campaign->copy_to_supporter) m.copy_to = s.supporter_email;
    }
    planned.push_back(std::move(m));
  }
  if (problems.size() != before) return std::nullopt;
  return planned;
}


std::optional<CheckedSubmission> check_submission(std::string_view text, std::string_view file_name, TimePoint now,
                                                  const Config& config, Problems& problems) {
  std::size_t before = problems.size();
  auto submission = read_submission(text, file_name, now, problems);
  if (!submission) return std::nullopt;
  // Checked against the campaign even when the file had problems of its
  // own, so one rejection lists everything the sender must fix.
  auto messages = plan_messages(*submission, config, problems);
  if (problems.size() != before || !messages) return std::nullopt;
  return CheckedSubmission{std::move(*submission), std::move(*messages)};
}

}  // namespace letterd
