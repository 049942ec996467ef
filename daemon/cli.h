// The `letterd` command line: run, check, preview, enqueue, status, log,
// report, retry, purge, postcodes import, lookup.
// Exit codes: 0 done, 1 runtime failure, 2 bad usage or bad config.
#pragma once

#include <string>
#include <vector>

namespace letterd {

constexpr const char* kDefaultConfig = "/etc/letterd/letterd.yaml";

// Runs the command line `args` (without the program name).
int run_cli(const std::vector<std::string>& args);

// Field quoting for `letterd log --format csv` (RFC 4180).
std::string csv_field(const std::string& value);

}  // namespace letterd
