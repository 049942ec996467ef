// The config the config tests share: a text exercising every section, and
// the files it names held in memory, so that no test needs a disk.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "config.h"
#include "config_files.h"
#include "test_support.h"

namespace letterd::testing {

inline constexpr std::string_view kMpTemplate =
    "---\n"
    "subject: Please support legal advocacy, {{target.name}}\n"
    "---\n"
    "Dear {{target.name}},\n"
    "\n"
    "I live in {{target.constituency}}.\n"
    "{{#personal_note}}\n"
    "\n"
    "{{personal_note}}\n"
    "{{/personal_note}}\n"
    "\n"
    "{{supporter.name}}\n";

inline constexpr std::string_view kJusticeTemplate =
    "---\n"
    "subject: Free and independent legal advocacy\n"
    "---\n"
    "Dear {{target.name}},\n"
    "\n"
    "{{supporter.name}}\n";

// A config exercising every section; each bad case below changes one thing.
inline constexpr std::string_view kGoodConfig = R"(queue_dir: spool
database: /var/lib/letterd/letterd.db
log_level: debug
queue:
  keep_accepted: true
  rescan: 10s
relays:
  main:
    url: smtp://smtp.example.org:587
    tls: required
    username: letters@example.org
    password_file: secrets/main.secret
    connections: 3
    timeout: 45s
    rate: { per_second: 5, per_minute: 200, per_hour: 2000, per_day: 10000 }
  backup:
    url: smtps://smtp2.example.org:465
    tls: opportunistic
    username: letters@example.org
    password_env: LETTERD_BACKUP_PASSWORD
retry: { first: 30s, max: 2h, lifetime: 5d }
campaigns:
  c:
    relay: main
    from: { address: letters@example.org, name: "{{supporter.name}} via Example Campaign" }
    reply_to: none
    copy_to_supporter: bcc
    require_authorisation: false
    allow_repeat: true
    mode: reflect
    require: [postcode, address]
    targets: targets/mps.csv
    per_target: { per_hour: 30 }
    letters:
      mp: { template: templates/mp.txt, to: { by: constituency } }
      justice-secretary: { template: templates/justice-secretary.txt, to: { target: justice-secretary } }
  d:
    relay: backup
    from: { address: other@example.org }
    targets: targets/mps.csv
    letters:
      only: { template: templates/justice-secretary.txt, to: { target: justice-secretary } }
retention:
  bodies: 7d
)";

// The config's folder. Nothing is read from it: its files live in files_.
inline constexpr std::string_view kRoot = "/test/letterd";

// The config with its targets, templates, secret and environment in memory.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write("targets/mps.csv", kTargetsCsv);
    write("templates/mp.txt", kMpTemplate);
    write("templates/justice-secretary.txt", kJusticeTemplate);
    write("secrets/main.secret", "not-a-real-password\n");
    files_.env["LETTERD_BACKUP_PASSWORD"] = "backup-password";
  }
  void write(const std::string& relative, std::string_view text) { files_.texts[path(relative)] = text; }
  std::string path(const std::string& relative) const { return std::string(kRoot) + "/" + relative; }
  std::string config_path() const { return path("letterd.yaml"); }

  // The text alone, as parse_config sees it: nothing in files_ is read.
  Config parse_ok(const std::string& text) {
    Problems problems;
    auto config = parse_config(text, config_path(), problems);
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
    if (!config) throw std::runtime_error("config did not parse");
    return std::move(*config);
  }

  Problems parse_bad(const std::string& text) {
    Problems problems;
    EXPECT_FALSE(parse_config(text, config_path(), problems).has_value());
    EXPECT_FALSE(problems.empty());
    return problems;
  }

  // The text and the files it names, as the service loads them.
  Config load_ok(const std::string& text, Passwords passwords = Passwords::read) {
    Problems problems;
    auto config = load_config_text(text, config_path(), files_.source(), passwords, problems);
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
    if (!config) throw std::runtime_error("config did not load");
    return std::move(*config);
  }

  Problems load_bad(const std::string& text, Passwords passwords = Passwords::read) {
    Problems problems;
    EXPECT_FALSE(load_config_text(text, config_path(), files_.source(), passwords, problems).has_value());
    EXPECT_FALSE(problems.empty());
    return problems;
  }

  MemoryFiles files_;
};

}  // namespace letterd::testing
