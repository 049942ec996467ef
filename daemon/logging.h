// The daemon's logger: spdlog to stderr. Under systemd (stderr is the
// journal's stream, JOURNAL_STREAM) each line starts with its syslog
// priority, <3> for errors and so on, and carries no timestamp, so
// journald keeps levels and times; elsewhere, a timestamp and the level.
#pragma once

#include <spdlog/logger.h>

#include <memory>

namespace letterd {

std::shared_ptr<spdlog::logger> make_logger();

// True when stderr is the journal's stream (JOURNAL_STREAM names its device and inode).
bool stderr_is_journal();

}  // namespace letterd
