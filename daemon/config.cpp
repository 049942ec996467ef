#include "config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "message.h"
#include "return_path.h"
#include "smtp.h"
#include "yaml_document.h"

namespace letterd {

namespace fs = std::filesystem;

namespace {

// Walks one YAML map, recording every problem under its key path and
// remembering which keys were read so the rest can be reported as unknown.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path, Problems& problems)
      : node_(node), path_(std::move(path)), problems_(problems) {
    if (!node_.IsMap()) {
      problem(path_, "must be a map");
      ok_ = false;
      return;
    }
    // yaml-cpp keeps the first of two equal keys; a second "mp:" letter or
    // relay must not vanish without a word.
    std::set<std::string> keys;
    for (const auto& kv : node_)
      if (!keys.insert(kv.first.Scalar()).second) problem(key_path(kv.first.Scalar()), "is given twice");
  }

  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  void problem(const std::string& where, const std::string& what) { problems_.push_back({where, what}); }
  bool ok() const { return ok_; }
  Problems& problems() { return problems_; }

  // The value at `key`, or an undefined node (false in a condition) when absent or null.
  YAML::Node child(const std::string& key, bool required) {
    seen_.insert(key);
    if (!ok_) return YAML::Node(YAML::NodeType::Undefined);
    // Const lookup: yaml-cpp's non-const operator[] would add the key.
    const YAML::Node& map = node_;
    YAML::Node value = map[key];
    if (!value.IsDefined() || value.IsNull()) {
      if (required) problem(key_path(key), "is required");
      return YAML::Node(YAML::NodeType::Undefined);
    }
    return value;
  }

  std::optional<std::string> string(const std::string& key, bool required) {
    YAML::Node value = child(key, required);
    if (!value) return std::nullopt;
    if (!value.IsScalar()) {
      problem(key_path(key), "must be a string");
      return std::nullopt;
    }
    return value.Scalar();
  }

  std::optional<bool> boolean(const std::string& key) {
    YAML::Node value = child(key, false);
    if (!value) return std::nullopt;
    bool out = false;
    if (!value.IsScalar() || !YAML::convert<bool>::decode(value, out)) {
      problem(key_path(key), "must be true or false");
      return std::nullopt;
    }
    return out;
  }

  std::optional<long> positive(const std::string& key, long max) {
    YAML::Node value = child(key, false);
    if (!value) return std::nullopt;
    long out = 0;
    if (!value.IsScalar() || !YAML::convert<long>::decode(value, out) || out < 1 || out > max) {
      problem(key_path(key), "must be a whole number from 1 to " + std::to_string(max));
      return std::nullopt;
    }
    return out;
  }

  std::optional<Duration> duration(const std::string& key) {
    auto text = string(key, false);
    if (!text) return std::nullopt;
    auto d = parse_duration(*text);
    if (!d) problem(key_path(key), "'" + *text + "' is not a duration (500ms, 30s, 5m, 1h, 3d)");
    return d;
  }

  // One of `choices`; nullopt (with a problem) otherwise.
  std::optional<std::string> choice(const std::string& key, std::initializer_list<std::string_view> choices) {
    auto text = string(key, false);
    if (!text) return std::nullopt;
    for (auto c : choices)
      if (*text == c) return text;
    std::string list;
    for (auto c : choices) list += (list.empty() ? "" : " | ") + std::string(c);
    problem(key_path(key), "'" + *text + "' is not one of " + list);
    return std::nullopt;
  }

  // Reports keys present but never read: a typo must not silently do nothing.
  void finish() {
    if (!ok_) return;
    for (const auto& kv : node_) {
      std::string key = kv.first.Scalar();
      if (!seen_.count(key)) problem(key_path(key), "unknown key");
    }
  }

 private:
  YAML::Node node_;
  std::string path_;
  Problems& problems_;
  std::set<std::string> seen_;
  bool ok_ = true;
};

std::string resolve(const fs::path& base, const std::string& path) {
  fs::path p(path);
  return (p.is_absolute() ? p : base / p).lexically_normal().string();
}

RateLimits read_rate(MapReader& parent, const std::string& key) {
  RateLimits rate;
  YAML::Node node = parent.child(key, false);
  if (!node) return rate;
  MapReader r(node, parent.key_path(key), parent.problems());
  rate.per_second = r.positive("per_second", 1'000'000);
  rate.per_minute = r.positive("per_minute", 1'000'000'000);
  rate.per_hour = r.positive("per_hour", 1'000'000'000);
  rate.per_day = r.positive("per_day", 1'000'000'000);
  r.finish();
  return rate;
}

void read_relay(MapReader& r, RelayConfig& relay, const fs::path& base) {
  if (auto url = r.string("url", true)) {
    if (auto problem = relay_url_problem(*url)) r.problem(r.key_path("url"), *problem);
    relay.url = *url;
  }
  if (auto tls = r.choice("tls", {"required", "opportunistic", "none"}))
    relay.tls = *tls == "required"        ? TlsMode::required
                : *tls == "opportunistic" ? TlsMode::opportunistic
                                          : TlsMode::none;
  if (relay.tls == TlsMode::none && relay.url.rfind("smtps://", 0) == 0)
    r.problem(r.key_path("tls"), "is none but the url is smtps:// (implicit TLS)");
  relay.username = r.string("username", false).value_or("");
  if (auto file = r.string("password_file", false)) relay.password_file = resolve(base, *file);
  relay.password_env = r.string("password_env", false).value_or("");
  relay.password_credential = r.string("password_credential", false).value_or("");
  if (relay.password_credential.find('/') != std::string::npos)
    r.problem(r.key_path("password_credential"), "is a credential name (LoadCredential=NAME:...), not a path");
  if (r.child("password", false))
    r.problem(r.key_path("password"),
              "passwords are never inline: use password_file, password_env or password_credential");
  int sources = !relay.password_file.empty() + !relay.password_env.empty() + !relay.password_credential.empty();
  if (sources > 1) r.problem(r.key_path("username"), "give one of password_file, password_env and password_credential");
  if (!relay.username.empty() && sources == 0)
    r.problem(r.key_path("username"), "needs password_file, password_env or password_credential");
  bool loopback = relay.url.find("://127.") != std::string::npos ||
                  relay.url.find("://localhost") != std::string::npos ||
                  relay.url.find("://[::1]") != std::string::npos;
  if (!relay.username.empty() && relay.tls != TlsMode::required && relay.url.rfind("smtps://", 0) != 0 && !loopback)
    r.problem(r.key_path("username"),
              "AUTH needs tls: required (or an smtps:// url): the password must never "
              "cross the network in clear");
  if (relay.username.empty() && sources > 0) r.problem(r.key_path("username"), "is required when a password is given");
  if (auto ca = r.string("ca_file", false)) relay.ca_file = resolve(base, *ca);
  relay.helo_name = r.string("helo_name", false).value_or("");
  if (relay.helo_name.find_first_of(" \t\r\n/") != std::string::npos)
    r.problem(r.key_path("helo_name"), "must be a host name");
  if (auto n = r.positive("connections", 64)) relay.connections = static_cast<int>(*n);
  if (auto t = r.duration("timeout")) relay.timeout = *t;
  relay.rate = read_rate(r, "rate");
  r.finish();
}

// campaigns.NAME.window or a letter's: days, hours and holidays in a named time zone.
std::optional<SendingWindow> read_window(MapReader& parent, const fs::path& base) {
  YAML::Node node = parent.child("window", false);
  if (!node) return std::nullopt;
  MapReader r(node, parent.key_path("window"), parent.problems());
  if (!r.ok()) return std::nullopt;
  SendingWindow w;
  if (auto days = r.string("days", false)) {
    if (auto parsed = parse_days(*days))
      w.days = *parsed;
    else
      r.problem(r.key_path("days"), "'" + *days + "' is not days of the week (Mon-Fri, or Mon,Wed,Fri)");
  }
  if (auto hours = r.string("hours", false)) {
    if (auto parsed = parse_hours(*hours))
      std::tie(w.opens, w.closes) = *parsed;
    else
      r.problem(r.key_path("hours"), "'" + *hours + "' is not opening hours (09:00-17:30)");
  }
  if (auto zone = r.string("timezone", true)) {
    w.zone_name = *zone;
    w.zone = find_zone(*zone);
    if (!w.zone)
      r.problem(r.key_path("timezone"), "'" + *zone + "' is no time zone in the tz database (Europe/London)");
  }
  if (auto holidays = r.string("holidays", false)) w.holidays_path = resolve(base, *holidays);
  r.finish();
  return w;
}

void read_letter(MapReader& r, LetterConfig& letter, const fs::path& base) {
  if (auto file = r.string("template", true)) letter.template_path = resolve(base, *file);
  if (YAML::Node to = r.child("to", true)) {
    MapReader t(to, r.key_path("to"), r.problems());
    auto by = t.choice("by", {"constituency", "postcode"});
    auto target = t.string("target", false);
    t.finish();
    if (by && target) {
      t.problem(r.key_path("to"), "give by or target, not both");
    } else if (by) {
      letter.route = *by == "postcode" ? LetterConfig::Route::postcode : LetterConfig::Route::constituency;
    } else if (target) {
      letter.target_id = *target;
    } else if (t.ok()) {
      t.problem(r.key_path("to"), "needs by: constituency, by: postcode or target: ID");
    }
  }
  letter.window = read_window(r, base);
  if (YAML::Node digest = r.child("digest", false)) {
    MapReader d(digest, r.key_path("digest"), r.problems());
    DigestConfig config;
    if (auto at = d.string("at", true)) {
      // "08:00" is read as a window's hours are: a window that opens then.
      if (auto hours = parse_hours(*at + "-24:00"); hours && at->size() >= 5)
        config.at = hours->first;
      else
        d.problem(d.key_path("at"), "'" + *at + "' is not a time of day (08:00)");
    }
    if (auto n = d.positive("max_letters", 100'000)) config.max_letters = static_cast<int>(*n);
    d.finish();
    if (d.ok()) letter.digest = config;
  }
  r.finish();
}

void read_campaign(MapReader& r, CampaignConfig& c, const Config& config, const fs::path& base) {
  if (auto relay = r.string("relay", true)) {
    c.relay = *relay;
    if (!config.relays.count(*relay)) r.problem(r.key_path("relay"), "no relay named '" + *relay + "'");
  }
  if (YAML::Node from = r.child("from", true)) {
    MapReader f(from, r.key_path("from"), r.problems());
    if (auto address = f.string("address", true)) {
      c.from_address = *address;
      if (!is_valid_address(*address)) f.problem(f.key_path("address"), "not a valid address");
    }
    auto name = f.string("name", false).value_or("");
    if (auto t = Template::parse(name, f.key_path("name"), 1, r.problems())) {
      c.from_name = std::make_shared<const Template>(std::move(*t));
    }
    f.finish();
  }
  if (auto return_path = r.string("return_path", false)) {
    c.return_path = *return_path;
    auto at = return_path->rfind('@');
    if (!is_valid_address(*return_path))
      r.problem(r.key_path("return_path"), "not a valid address");
    else if (at > kMaxReturnPathLocal)
      r.problem(r.key_path("return_path"), "its local part is longer than " + std::to_string(kMaxReturnPathLocal) +
                                               " characters: with a letter's token it would pass SMTP's 64");
  }
  if (YAML::Node notify = r.child("notify_supporter", false)) {
    MapReader n(notify, r.key_path("notify_supporter"), r.problems());
    SupporterNotice notice;
    if (auto file = n.string("template", true)) notice.template_path = resolve(base, *file);
    if (YAML::Node on = n.child("on", false)) {
      notice.on.clear();
      if (!on.IsSequence()) n.problem(n.key_path("on"), "must be a list: [failed, bounced]");
      for (const auto& item : on) {
        std::string word = item.IsScalar() ? item.Scalar() : "";
        if (word == "failed")
          notice.on.insert(MessageStatus::failed);
        else if (word == "bounced")
          notice.on.insert(MessageStatus::bounced);
        else
          n.problem(n.key_path("on"), "'" + word + "' is not failed or bounced");
      }
    }
    n.finish();
    c.notify = std::move(notice);
  }
  if (auto v = r.choice("reply_to", {"supporter", "none"})) c.reply_to_supporter = *v == "supporter";
  if (auto v = r.choice("copy_to_supporter", {"bcc", "none"})) c.copy_to_supporter = *v == "bcc";
  if (auto v = r.boolean("require_authorisation")) c.require_authorisation = *v;
  if (auto v = r.boolean("allow_repeat")) c.allow_repeat = *v;
  if (auto v = r.choice("mode", {"live", "reflect"}))
    c.mode = *v == "live" ? CampaignMode::live : CampaignMode::reflect;
  if (YAML::Node require = r.child("require", false)) {
    if (!require.IsSequence()) {
      r.problem(r.key_path("require"), "must be a list (postcode, address)");
    } else {
      for (const auto& item : require) {
        std::string field = item.IsScalar() ? item.Scalar() : "";
        if (field != "postcode" && field != "address")
          r.problem(r.key_path("require"), "'" + field + "' is not postcode or address");
        else
          c.require.insert(field);
      }
    }
  }
  if (auto targets = r.string("targets", true)) {
    c.targets_path = resolve(base, *targets);
    if (!c.targets_path.ends_with(".csv") && !c.targets_path.ends_with(".yaml") && !c.targets_path.ends_with(".yml"))
      r.problem(r.key_path("targets"), "must be a .csv, .yaml or .yml file");
  }
  c.per_target = read_rate(r, "per_target");
  c.window = read_window(r, base);
  if (YAML::Node review = r.child("review", false)) {
    MapReader rv(review, r.key_path("review"), r.problems());
    ReviewRules rules;
    if (auto n = rv.positive("same_note", 1'000'000)) rules.same_note = static_cast<int>(*n);
    if (YAML::Node similar = rv.child("similar_note", false)) {
      double value = 0;
      if (!similar.IsScalar() || !YAML::convert<double>::decode(similar, value) || value <= 0 || value > 1)
        rv.problem(rv.key_path("similar_note"), "must be a number above 0 and at most 1 (0.8: 80 % alike)");
      else
        rules.similar_note = value;
    }
    if (auto n = rv.positive("per_postcode_day", 1'000'000)) rules.per_postcode_day = static_cast<int>(*n);
    rv.finish();
    if (rv.ok()) c.review = rules;
  }
  if (c.from_name) {
    // One From for every letter of a submission: it cannot name a target.
    NameRules rules = template_names_for(c);
    std::erase_if(rules.exact, [](const std::string& n) { return n.starts_with("target."); });
    Problems name_problems;
    c.from_name->check_names(rules, name_problems);
    for (auto& p : name_problems) r.problem(p.where, p.what);
  }
  if (YAML::Node letters = r.child("letters", true)) {
    MapReader l(letters, r.key_path("letters"), r.problems());
    if (l.ok()) {
      for (const auto& kv : letters) {
        LetterConfig letter;
        letter.name = kv.first.Scalar();
        MapReader one(kv.second, l.key_path(letter.name), r.problems());
        if (one.ok()) read_letter(one, letter, base);
        c.letters.push_back(std::move(letter));
      }
      if (c.letters.empty()) l.problem(r.key_path("letters"), "a campaign needs at least one letter");
    }
  }
  r.finish();
}

// The config's one YAML document, or nullopt with a problem naming the file and line.
std::optional<YAML::Node> read_root(const std::string& text, const std::string& path, Problems& problems) {
  try {
    // Settings after a "---" would otherwise be ignored without a word.
    YamlDocument read = read_one_yaml_document(text);
    if (read.second_document_line) {
      problems.push_back({path + ":" + std::to_string(*read.second_document_line),
                          "a second YAML document (after ---): a config is one document"});
      return std::nullopt;
    }
    return read.root;
  } catch (const YAML::Exception& e) {
    problems.push_back({path + ":" + std::to_string(e.mark.line + 1), e.msg});
    return std::nullopt;
  }
}

}  // namespace

const LetterConfig* CampaignConfig::letter(std::string_view name) const {
  for (const auto& l : letters)
    if (l.name == name) return &l;
  return nullptr;
}

const SendingWindow* CampaignConfig::window_for(std::string_view letter_name) const {
  if (const LetterConfig* l = letter(letter_name); l && l->window) return &*l->window;
  return window ? &*window : nullptr;
}

NameRules notice_names() {
  return {.exact = {"supporter.name", "supporter.email", "campaign.name", "target.name", "target.id", "letter.name",
                    "notice.reason", "notice.status", "submission.id"}};
}

std::set<std::string, std::less<>> CampaignConfig::fields_used() const {
  std::set<std::string, std::less<>> names;
  auto collect = [&names](const Template& t) {
    for (const auto& use : t.names())
      if (use.name.starts_with("fields.")) names.insert(use.name.substr(7));
  };
  if (from_name) collect(*from_name);
  for (const auto& l : letters)
    if (l.templ) {
      collect(l.templ->subject);
      collect(l.templ->body);
    }
  return names;
}

const CampaignConfig* Config::campaign(std::string_view name) const {
  auto it = campaigns.find(std::string(name));
  return it == campaigns.end() ? nullptr : &it->second;
}

NameRules template_names_for(const CampaignConfig& campaign) {
  NameRules rules;
  rules.exact = {"supporter.name", "supporter.email", "supporter.postcode", "supporter.address",
                 "campaign.name",  "personal_note",   "submission.id"};
  if (campaign.targets)
    for (const auto& column : campaign.targets->columns()) rules.exact.insert("target." + column);
  rules.open_prefixes = {"fields."};
  return rules;
}

std::vector<NamedFile> Config::files() const {
  std::vector<NamedFile> out;
  for (const auto& [name, relay] : relays) {
    const std::string key = "relays." + name + ".";
    if (!relay.password_file.empty())
      out.push_back({key + "password_file", relay.password_file, NamedFile::Kind::password});
    if (!relay.ca_file.empty()) out.push_back({key + "ca_file", relay.ca_file, NamedFile::Kind::ca});
  }
  for (const auto& [name, campaign] : campaigns)
    if (campaign.notify && !campaign.notify->template_path.empty())
      out.push_back({"campaigns." + name + ".notify_supporter.template", campaign.notify->template_path,
                     NamedFile::Kind::letter_template});
  if (!bounces.password_file.empty())
    out.push_back({"bounces.password_file", bounces.password_file, NamedFile::Kind::password});
  if (!bounces.ca_file.empty()) out.push_back({"bounces.ca_file", bounces.ca_file, NamedFile::Kind::ca});
  for (const auto& [name, campaign] : campaigns) {
    const std::string key = "campaigns." + name + ".";
    if (!campaign.targets_path.empty())
      out.push_back({key + "targets", campaign.targets_path, NamedFile::Kind::targets});
    for (const auto& letter : campaign.letters)
      if (!letter.template_path.empty())
        out.push_back(
            {key + "letters." + letter.name + ".template", letter.template_path, NamedFile::Kind::letter_template});
    if (campaign.window && !campaign.window->holidays_path.empty())
      out.push_back({key + "window.holidays", campaign.window->holidays_path, NamedFile::Kind::holidays});
    for (const auto& letter : campaign.letters)
      if (letter.window && !letter.window->holidays_path.empty())
        out.push_back({key + "letters." + letter.name + ".window.holidays", letter.window->holidays_path,
                       NamedFile::Kind::holidays});
  }
  return out;
}

Config parse_config_partial(const std::string& text, const std::string& path, Problems& problems) {
  Config config;
  config.path = path;
  auto root = read_root(text, path, problems);
  if (!root) return config;
  fs::path base = fs::path(path).parent_path();
  MapReader r(*root, "", problems);
  if (!r.ok()) return config;

  if (auto q = r.string("queue_dir", true)) config.queue_dir = resolve(base, *q);
  if (auto d = r.string("database", true)) config.database = resolve(base, *d);
  if (auto p = r.string("postcodes", false)) {
    config.postcodes = resolve(base, *p);
    // An import renames a new lookup over this path: the delivery log must never be there.
    if (config.postcodes == config.database)
      r.problem("postcodes", "is the database's file: give the postcode lookup a file of its own");
  }
  if (auto level = r.choice("log_level", {"trace", "debug", "info", "warn", "error"})) config.log_level = *level;
  if (YAML::Node queue = r.child("queue", false)) {
    MapReader q(queue, "queue", problems);
    if (auto keep = q.boolean("keep_accepted")) config.keep_accepted = *keep;
    if (auto rescan = q.duration("rescan")) config.rescan_interval = *rescan;
    q.finish();
  }
  if (YAML::Node relays = r.child("relays", true)) {
    MapReader all(relays, "relays", problems);
    if (all.ok())
      for (const auto& kv : relays) {
        RelayConfig relay;
        relay.name = kv.first.Scalar();
        MapReader one(kv.second, all.key_path(relay.name), problems);
        if (one.ok()) read_relay(one, relay, base);
        config.relays.emplace(relay.name, std::move(relay));
      }
  }
  if (YAML::Node retry = r.child("retry", false)) {
    MapReader rr(retry, "retry", problems);
    if (auto d = rr.duration("first")) config.retry.first = *d;
    if (auto d = rr.duration("max")) config.retry.max = *d;
    if (auto d = rr.duration("lifetime")) config.retry.lifetime = *d;
    rr.finish();
    if (config.retry.max < config.retry.first) rr.problem("retry.max", "is shorter than retry.first");
  }
  if (YAML::Node campaigns = r.child("campaigns", true)) {
    MapReader all(campaigns, "campaigns", problems);
    if (all.ok())
      for (const auto& kv : campaigns) {
        CampaignConfig campaign;
        campaign.name = kv.first.Scalar();
        MapReader one(kv.second, all.key_path(campaign.name), problems);
        if (one.ok()) read_campaign(one, campaign, config, base);
        config.campaigns.emplace(campaign.name, std::move(campaign));
      }
  }
  if (YAML::Node bounces = r.child("bounces", false)) {
    MapReader b(bounces, "bounces", problems);
    BounceConfig& c = config.bounces;
    if (auto dir = b.string("maildir", false)) c.maildir = resolve(base, *dir);
    if (auto url = b.string("url", false)) {
      c.url = *url;
      bool tls = url->rfind("imaps://", 0) == 0 || url->rfind("imap://", 0) == 0;
      if (!tls)
        b.problem("bounces.url", "must be imaps://HOST/MAILBOX (or imap:// with STARTTLS)");
      else if (url->find('/', url->find("://") + 3) == std::string::npos)
        b.problem("bounces.url", "names no mailbox: imaps://HOST/INBOX");
      if (url->find('@') != std::string::npos)
        b.problem("bounces.url", "carries a user name: give username and password_file instead");
    }
    if (!c.url.empty() && !c.maildir.empty()) b.problem("bounces", "give url or maildir, not both");
    if (c.url.empty() && c.maildir.empty() && b.ok())
      b.problem("bounces", "needs url (an IMAP mailbox) or maildir (a Maildir folder)");
    c.username = b.string("username", false).value_or("");
    if (auto file = b.string("password_file", false)) c.password_file = resolve(base, *file);
    c.password_env = b.string("password_env", false).value_or("");
    c.password_credential = b.string("password_credential", false).value_or("");
    if (b.child("password", false))
      b.problem("bounces.password",
                "passwords are never inline: use password_file, password_env or password_credential");
    int sources = !c.password_file.empty() + !c.password_env.empty() + !c.password_credential.empty();
    if (!c.url.empty() && (c.username.empty() || sources != 1))
      b.problem("bounces.username",
                "an IMAP mailbox needs username and one of password_file, password_env and "
                "password_credential");
    if (auto ca = b.string("ca_file", false)) c.ca_file = resolve(base, *ca);
    if (auto d = b.duration("poll")) c.poll = *d;
    if (auto n = b.positive("hold_target_after", 1000)) c.hold_target_after = static_cast<int>(*n);
    b.finish();
  }
  if (YAML::Node retention = r.child("retention", false)) {
    MapReader rr(retention, "retention", problems);
    if (auto d = rr.duration("bodies")) config.retention_bodies = *d;
    rr.finish();
  }
  for (const auto& [name, campaign] : config.campaigns)
    for (const auto& letter : campaign.letters)
      if (letter.route == LetterConfig::Route::postcode && config.postcodes.empty())
        r.problem("campaigns." + name + ".letters." + letter.name + ".to.by",
                  "postcode needs the lookup: set postcodes: (the file letterd postcodes import builds)");
  r.finish();
  return config;
}

std::optional<Config> parse_config(const std::string& text, const std::string& path, Problems& problems) {
  const std::size_t before = problems.size();
  Config config = parse_config_partial(text, path, problems);
  if (problems.size() != before) return std::nullopt;
  return config;
}

}  // namespace letterd
