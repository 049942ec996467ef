// `letterd run`: the daemon's loop. Takes files from the queue as they
// arrive (inotify, and a rescan timer for what it missed), hands due
// messages to one worker per relay, and answers SIGTERM (finish the send in
// flight, exit 0) and SIGHUP (reload; a bad config leaves the old in force).
#pragma once

#include <spdlog/logger.h>

#include <string>

namespace letterd {

struct RunOptions {
  std::string config_path;
  bool once = false;  // drain what is due now, then exit
};

// Returns the process exit code.
int run_service(const RunOptions& options, std::shared_ptr<spdlog::logger> log);

}  // namespace letterd
