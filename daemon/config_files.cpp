#include "config_files.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace letterd {

namespace {

std::optional<unsigned> system_mode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<unsigned>(st.st_mode & 07777);
}

std::optional<std::string> system_read(const std::string& path) {
  // A directory opens like a file and reads as nothing; a pipe (-c /dev/stdin) is fine.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

std::optional<std::string> system_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (!value) return std::nullopt;
  return std::string(value);
}

// Each template's and targets file's text, by absolute path.
using Texts = std::map<std::string, std::string>;

std::string no_such_file(const std::string& path) {
  return "no such file (" + path + ")";
}

// Every template and targets file `config` names, each read once however many
// keys name it, and a problem at each key whose file cannot be read.
Texts read_texts(const Config& config, const FileSource& files, Problems& problems) {
  Texts texts;
  for (const NamedFile& f : config.files()) {
    switch (f.kind) {
      case NamedFile::Kind::ca:
        // libcurl reads it only when it connects: a missing one would pause the relay for ever.
        if (!files.mode(f.path)) problems.push_back({f.key, no_such_file(f.path)});
        break;
      case NamedFile::Kind::password:
        break;  // read_password's: a secret is never kept among the texts
      case NamedFile::Kind::letter_template:
      case NamedFile::Kind::targets:
      case NamedFile::Kind::holidays:
        if (texts.count(f.path)) break;
        if (auto text = files.read(f.path))
          texts.emplace(f.path, std::move(*text));
        else
          problems.push_back({f.key, files.mode(f.path) ? "cannot read " + f.path : no_such_file(f.path)});
        break;
    }
  }
  return texts;
}

std::shared_ptr<const Targets> parse_targets(const std::string& path, const Texts& texts, Problems& problems) {
  auto text = texts.find(path);
  if (text == texts.end()) return nullptr;  // missing: read_texts said so
  std::optional<Targets> targets;
  if (path.ends_with(".csv"))
    targets = Targets::parse_csv(text->second, path, problems);
  else if (path.ends_with(".yaml") || path.ends_with(".yml"))
    targets = Targets::parse_yaml(text->second, path, problems);
  // Any other name is parse_config's problem, already reported.
  return targets ? std::make_shared<const Targets>(std::move(*targets)) : nullptr;
}

// The letter's template, checked against the names its campaign's targets
// give, and its recipient against those targets. `key` is the letter's key path.
void complete_letter(LetterConfig& letter, const CampaignConfig& campaign, const std::string& key, const Texts& texts,
                     Problems& problems) {
  if (auto text = texts.find(letter.template_path); text != texts.end()) {
    Problems found;
    if (auto parsed = parse_letter_template(text->second, letter.template_path, found)) {
      letter.templ = std::make_shared<const LetterTemplate>(std::move(*parsed));
      if (campaign.targets) {
        NameRules rules = template_names_for(campaign);
        letter.templ->subject.check_names(rules, found);
        letter.templ->body.check_names(rules, found);
      }
    }
    for (auto& p : found) problems.push_back({key + ".template: " + p.where, p.what});
  }
  if (!campaign.targets) return;  // its own problem, reported already
  if (letter.route == LetterConfig::Route::constituency && !campaign.targets->columns().count("constituency"))
    problems.push_back({key + ".to.by", "the campaign's targets have no constituency column"});
  if (letter.route == LetterConfig::Route::postcode && !campaign.targets->columns().count("constituency_code"))
    problems.push_back(
        {key + ".to.by", "postcode needs a constituency_code column (GSS: E14001172) in " + campaign.targets_path});
  if (!letter.target_id.empty() && !campaign.targets->by_id(letter.target_id))
    problems.push_back(
        {key + ".to.target", "no target with id '" + letter.target_id + "' in " + campaign.targets_path});
}

// The supporter's notice: its template, with only the names a notice may use.
void complete_notice(SupporterNotice& notice, const std::string& key, const Texts& texts, Problems& problems) {
  auto text = texts.find(notice.template_path);
  if (text == texts.end()) return;  // missing: read_texts said so
  Problems found;
  if (auto parsed = parse_letter_template(text->second, notice.template_path, found)) {
    NameRules rules = notice_names();
    parsed->subject.check_names(rules, found);
    parsed->body.check_names(rules, found);
    notice.templ = std::make_shared<const LetterTemplate>(std::move(*parsed));
  }
  for (auto& p : found) problems.push_back({key + ": " + p.where, p.what});
}

// A window's holidays, from the file it names.
void complete_window(SendingWindow& window, const std::string& key, const Texts& texts, Problems& problems) {
  if (window.holidays_path.empty()) return;
  auto text = texts.find(window.holidays_path);
  if (text == texts.end()) return;  // missing: read_texts said so
  std::string error;
  if (auto dates = parse_holidays(text->second, error))
    window.holidays = std::move(*dates);
  else
    problems.push_back({key + ".holidays", window.holidays_path + ": " + error});
}

void complete_campaign(CampaignConfig& campaign, const Texts& texts, Problems& problems) {
  campaign.targets = parse_targets(campaign.targets_path, texts, problems);
  const std::string key = "campaigns." + campaign.name;
  if (campaign.window) complete_window(*campaign.window, key + ".window", texts, problems);
  for (auto& letter : campaign.letters)
    if (letter.window) complete_window(*letter.window, key + ".letters." + letter.name + ".window", texts, problems);
  if (campaign.notify)
    complete_notice(*campaign.notify, "campaigns." + campaign.name + ".notify_supporter.template", texts, problems);
  for (auto& letter : campaign.letters)
    complete_letter(letter, campaign, "campaigns." + campaign.name + ".letters." + letter.name, texts, problems);
}

// As ssh refuses a loose key: a password others can read is no secret.
bool private_file(const std::string& key, const std::string& path, const FileSource& files, Problems& problems) {
  auto mode = files.mode(path);
  if (!mode) {
    problems.push_back({key, no_such_file(path)});
    return false;
  }
  if (*mode & 077) {
    char octal[16];
    std::snprintf(octal, sizeof octal, "%04o", *mode);
    problems.push_back({key, path + " is readable by group or others (mode " + octal + "): chmod 600 it"});
    return false;
  }
  return true;
}

// The password on the first line of the file at `path`. Problems name the
// file, never a line of it.
std::optional<std::string> password_in(const std::string& key, const std::string& path, const FileSource& files,
                                       Problems& problems) {
  auto text = files.read(path);
  if (!text) {
    problems.push_back({key, "cannot read " + path});
    return std::nullopt;
  }
  std::string password = text->substr(0, text->find('\n'));
  // A file written on Windows leaves a \r. Spaces are the password's own.
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    problems.push_back({key, path + " is empty"});
    return std::nullopt;
  }
  return password;
}

std::optional<std::string> password_from_env(const std::string& key, const std::string& name, const FileSource& files,
                                             Problems& problems) {
  auto value = files.env(name);
  if (!value || value->empty()) {
    problems.push_back({key, "$" + name + (value ? " is empty" : " is not set")});
    return std::nullopt;
  }
  return value;
}

// With Passwords::check_only, only what needs no secret is checked: the
// file's mode, and a credential when this process runs where the service
// does ($CREDENTIALS_DIRECTORY set, as in ExecStartPre). The organiser's own
// shell has neither the service's environment nor its credentials.
// `holder` is a relay's config or the bounce mailbox's: the same keys, read the same way.
template <class Holder>
void read_password(Holder& relay, const std::string& key, const FileSource& files, Passwords passwords,
                   Problems& problems) {
  const bool read = passwords == Passwords::read;
  std::optional<std::string> password;
  if (!relay.password_file.empty()) {
    if (private_file(key + "password_file", relay.password_file, files, problems) && read)
      password = password_in(key + "password_file", relay.password_file, files, problems);
  } else if (!relay.password_env.empty()) {
    if (read) password = password_from_env(key + "password_env", relay.password_env, files, problems);
  } else if (!relay.password_credential.empty()) {
    auto dir = files.env("CREDENTIALS_DIRECTORY");
    std::string path = dir ? *dir + "/" + relay.password_credential : "";
    if (!dir && read)
      problems.push_back({key + "password_credential", "$CREDENTIALS_DIRECTORY is not set (LoadCredential=" +
                                                           relay.password_credential + ":... in the unit)"});
    else if (dir && read)
      password = password_in(key + "password_credential", path, files, problems);
    else if (dir && !files.mode(path))
      problems.push_back({key + "password_credential", "no such credential (" + path + ")"});
  }
  if (password) relay.password = std::move(*password);
}

}  // namespace

const FileSource& system_files() {
  static const FileSource files{system_read, system_mode, system_env};
  return files;
}

bool read_config_files(Config& config, const FileSource& files, Passwords passwords, Problems& problems) {
  const std::size_t before = problems.size();
  for (auto& [name, relay] : config.relays) read_password(relay, "relays." + name + ".", files, passwords, problems);
  if (!config.bounces.url.empty()) read_password(config.bounces, "bounces.", files, passwords, problems);
  Texts texts = read_texts(config, files, problems);
  for (auto& [name, campaign] : config.campaigns) complete_campaign(campaign, texts, problems);
  return problems.size() == before;
}

std::optional<Config> load_config_text(const std::string& text, const std::string& path, const FileSource& files,
                                       Passwords passwords, Problems& problems) {
  const std::size_t before = problems.size();
  Config config = parse_config_partial(text, path, problems);
  read_config_files(config, files, passwords, problems);
  if (problems.size() != before) return std::nullopt;
  return config;
}

std::optional<Config> load_config(const std::string& path, Problems& problems, Passwords passwords) {
  const FileSource& files = system_files();
  auto text = files.read(path);
  if (!text) {
    problems.push_back({path, "cannot read the config file"});
    return std::nullopt;
  }
  return load_config_text(*text, std::filesystem::absolute(path).lexically_normal().string(), files, passwords,
                          problems);
}

}  // namespace letterd
