// The organiser's YAML config: relays, retry policy, campaigns with their
// letters, targets and templates. Parsing reads only the config's text and
// reports every problem it alone shows, with its key path; the files it
// names are read by config_files.h, and load_config does both.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "digest.h"
#include "duration.h"
#include "problem.h"
#include "review.h"
#include "status.h"
#include "targets.h"
#include "template.h"
#include "window.h"

namespace letterd {

enum class TlsMode { required, opportunistic, none };
enum class CampaignMode { live, reflect };

// Sends allowed in each window; nullopt means no limit for that window.
struct RateLimits {
  std::optional<long> per_second, per_minute, per_hour, per_day;

  bool any() const { return per_second || per_minute || per_hour || per_day; }
  bool operator==(const RateLimits&) const = default;
};

struct RelayConfig {
  std::string name;
  std::string url;  // smtp://host:port or smtps://host:port
  TlsMode tls = TlsMode::required;
  std::string username;
  std::string password_file;        // absolute path, or empty
  std::string password_env;         // environment variable name, or empty
  std::string password_credential;  // a systemd credential's name: $CREDENTIALS_DIRECTORY/NAME
  std::string ca_file;              // absolute path, or empty for the system store
  std::string helo_name;            // the EHLO name; empty: this machine's fully qualified name
  int connections = 1;
  Duration timeout = std::chrono::seconds(60);
  RateLimits rate;
  // The password itself, read when the config loads (config_files.h), never
  // from the config's text; empty until then, or when there is no username.
  // It lives here rather than in a struct of its own so that operator== sees
  // it (a reload with a new password starts new sessions) and so that it goes
  // wherever the relay's settings go. Never log or print a RelayConfig whole.
  std::string password;

  bool operator==(const RelayConfig&) const = default;
};

struct RetryPolicy {
  Duration first = std::chrono::minutes(1);
  Duration max = std::chrono::hours(1);
  Duration lifetime = std::chrono::hours(72);

  bool operator==(const RetryPolicy&) const = default;
};

struct LetterConfig {
  std::string name;
  std::string template_path;  // absolute
  // Where the letter goes: one fixed target, or the supporter's MP found
  // by the constituency they give or by their postcode.
  enum class Route { target, constituency, postcode } route = Route::target;
  std::string target_id;                        // with Route::target
  std::shared_ptr<const LetterTemplate> templ;  // set when the template file is read
  std::optional<SendingWindow> window;          // its own; else the campaign's
  std::optional<DigestConfig> digest;           // its letters to one target go as one email a day
};

// A short notice to the supporter when a letter of theirs did not arrive:
// failed for good, or returned by the recipient's system. Its template may
// name the supporter, the campaign, the target and why, never the letter.
struct SupporterNotice {
  std::set<MessageStatus> on = {MessageStatus::failed, MessageStatus::bounced};
  std::string template_path;                    // absolute
  std::shared_ptr<const LetterTemplate> templ;  // set when the file is read
};

// The names a notice's template may use.
NameRules notice_names();

struct CampaignConfig {
  std::string name;
  std::string relay;
  std::string from_address;
  // The envelope sender's mailbox, where bounces go: each letter's own is
  // LOCAL+TOKEN@DOMAIN (return_path.h). Empty: the envelope sender is from_address.
  std::string return_path;
  std::shared_ptr<const Template> from_name;  // a template: "{{supporter.name}} via Example Campaign"
  bool reply_to_supporter = true;
  bool copy_to_supporter = false;
  bool require_authorisation = true;
  bool allow_repeat = false;
  CampaignMode mode = CampaignMode::live;
  std::set<std::string> require;           // supporter fields: postcode, address
  std::string targets_path;                // absolute
  std::shared_ptr<const Targets> targets;  // set when the targets file is read
  RateLimits per_target;
  std::optional<SendingWindow> window;  // when its letters may go; none: any time
  std::optional<ReviewRules> review;    // none: no letter waits for review
  std::vector<LetterConfig> letters;    // in config order
  std::optional<SupporterNotice> notify;

  const LetterConfig* letter(std::string_view name) const;
  // The window a letter goes in: its own, else the campaign's; nullptr: any time.
  const SendingWindow* window_for(std::string_view letter) const;
  // The names of the submission fields its templates use ("story" for
  // {{fields.story}}): all of a submission's fields the log keeps.
  std::set<std::string, std::less<>> fields_used() const;
};

// A file the config names, with the key that names it.
struct NamedFile {
  enum class Kind { letter_template, targets, password, ca, holidays };
  std::string key;   // "campaigns.c.letters.mp.template"
  std::string path;  // absolute
  Kind kind;
};

// Where bounces to the campaigns' return paths are read (SPEC "Delivery
// truth"): an IMAP mailbox over TLS, or a Maildir.
struct BounceConfig {
  std::string url;  // imaps://host[:port]/MAILBOX (or imap:// with STARTTLS); empty: maildir
  std::string username;
  std::string password_file;        // absolute path, or empty
  std::string password_env;         // environment variable name, or empty
  std::string password_credential;  // a systemd credential's name
  std::string password;             // read when the config loads, as a relay's
  std::string ca_file;              // absolute, or empty: the system's
  std::string maildir;              // absolute; empty: the IMAP mailbox, or none
  bool configured() const { return !url.empty() || !maildir.empty(); }
  Duration poll = std::chrono::minutes(5);
  int hold_target_after = 2;  // hard bounces from one target's address before its waiting letters are held
};

struct Config {
  std::string path;  // the file it came from
  std::string queue_dir;
  std::string database;
  std::string postcodes;  // the postcode lookup (store_postcodes.h), absolute; empty when the config names none
  std::string log_level = "info";
  bool keep_accepted = false;
  Duration rescan_interval = std::chrono::seconds(30);
  std::map<std::string, RelayConfig> relays;
  RetryPolicy retry;
  std::map<std::string, CampaignConfig> campaigns;
  Duration retention_bodies = std::chrono::hours(24 * 30);
  BounceConfig bounces;

  const CampaignConfig* campaign(std::string_view name) const;
  // Every file the config names, relays' then campaigns', in the config's order.
  // A credential is not among them: where it is depends on how letterd runs.
  std::vector<NamedFile> files() const;
};

// What loading a config does with relay passwords.
enum class Passwords {
  read,        // the service, at start and reload: every relay's password is read into its config
  check_only,  // the organiser's commands: no secret is read; a password file's mode is checked, and a
               // credential's presence where $CREDENTIALS_DIRECTORY is set
};

// Reads and checks the config at `path`, then every file it names
// (read_config_files in config_files.h, where this is defined). Relative
// paths are resolved against the config file's folder. nullopt when anything
// is wrong; `problems` then lists every problem.
std::optional<Config> load_config(const std::string& path, Problems& problems, Passwords passwords = Passwords::read);

// The config in `text`, read from `path`, which anchors relative paths.
// Reads nothing: templates and targets stay unset and passwords empty.
// nullopt when the text has any problem.
std::optional<Config> parse_config(const std::string& text, const std::string& path, Problems& problems);

// parse_config's config as far as the text gives it, even when that appended
// problems: load_config still reads the files a flawed config names, so that
// one run lists every problem.
Config parse_config_partial(const std::string& text, const std::string& path, Problems& problems);

// The names a campaign's templates may use.
NameRules template_names_for(const CampaignConfig& campaign);

}  // namespace letterd
