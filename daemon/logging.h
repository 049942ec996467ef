// The daemon's logger: spdlog to stderr. Under systemd (stderr is the
// journal's stream, JOURNAL_STREAM) each line starts with its syslog
// priority, <3> for errors and so on, and carries no timestamp, so
// journald keeps levels and times; elsewhere, a timestamp and the level.
//
// Every message is escaped on its way out: control characters become \n,
// \r, \x1b and the like, so a queue file's name or a relay's reply can
// never start a forged log line or drive the terminal that shows it.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

namespace letterd {

std::shared_ptr<spdlog::logger> make_logger();

// The same logger writing to `sink`, with the journal's format or the plain one.
std::shared_ptr<spdlog::logger> make_logger(spdlog::sink_ptr sink, bool journal);

// True when stderr is the journal's stream (JOURNAL_STREAM names its device and inode).
bool stderr_is_journal();

// `text` with every control character written out: C0 (\n, \r, \t, \x1b
// ...), DEL and C1 (\x7f, \u0085), the Unicode line and paragraph
// separators and the invisible bidirectional and zero-width characters
// (\u2028, \u202e ...), and bytes that are not UTF-8 (\xff). Printable
// text, backslashes included, is copied as it is.
std::string escape_for_log(std::string_view text);

}  // namespace letterd
