// What the command line's files (cli.cpp, cli_reports.cpp, cli_postcodes.cpp, cli_holds.cpp) share: the
// parsed arguments, the usage error, and the commands run_cli dispatches
// to. Not an interface: include it only there.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"
#include "config.h"
#include "json.h"

namespace letterd::cli_detail {

// A command line letterd cannot take: said with the usage, exit 2.
struct UsageError {
  std::string what;
};

struct Args {
  std::string config = kDefaultConfig;
  std::string command;
  std::vector<std::string> rest;
};

// Takes "--name VALUE" or "--name=VALUE" options from `rest`; positional arguments stay.
std::map<std::string, std::string> take_options(std::vector<std::string>& rest,
                                                std::initializer_list<std::string> names,
                                                std::initializer_list<std::string> flags = {});

// The config at `path` for a command that sends nothing (no password is
// read), or nullopt with every problem said on stderr.
std::optional<Config> load_or_report(const std::string& path);

int cmd_status(const Args& args);
int cmd_log(Args args);
int cmd_report(Args args);
int cmd_postcodes(Args args);
int cmd_lookup(Args args);
int cmd_hold(Args args);
int cmd_holds(Args args);
int cmd_review(Args args);
int cmd_release(Args args);
int cmd_cancel(Args args);
int cmd_bounces(Args args);

}  // namespace letterd::cli_detail
