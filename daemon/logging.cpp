#include "logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "message.h"

namespace letterd {

namespace {

// %* writes sd-daemon(3)'s <N> prefix for the message's level.
class PriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr const char* kPrefix[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    const char* prefix = kPrefix[static_cast<int>(msg.level)];
    dest.append(prefix, prefix + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<PriorityFlag>(); }
};

// Takes the place of spdlog's own %v: the message, escaped. Done here once,
// rather than at each call site, so no value that reaches a log line is missed.
class EscapedMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped = escape_for_log(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<EscapedMessageFlag>(); }
};

// Characters that end a line, move the cursor or reorder what a reader
// sees, without showing themselves.
bool needs_escape(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061C || cp == 0xFEFF;
}

void append_escape(std::string& out, char32_t cp) {
  char buffer[12];
  switch (cp) {
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (cp <= 0x7F)
    std::snprintf(buffer, sizeof buffer, "\\x%02x", static_cast<unsigned>(cp));
  else
    std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(cp));
  out += buffer;
}

}  // namespace

std::string escape_for_log(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp;
    const std::size_t len = utf8_char(text, i, &cp);
    if (len == 0) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02x", static_cast<unsigned char>(text[i]));
      out += buffer;
      ++i;
      continue;
    }
    if (needs_escape(cp))
      append_escape(out, cp);
    else
      out.append(text, i, len);
    i += len;
  }
  return out;
}

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  return ::fstat(2, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

std::shared_ptr<spdlog::logger> make_logger(spdlog::sink_ptr sink, bool journal) {
  auto log = std::make_shared<spdlog::logger>("letterd", std::move(sink));
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  // A custom 'v' replaces spdlog's: every pattern's message is escaped.
  formatter->add_flag<EscapedMessageFlag>('v');
  if (journal)
    formatter->add_flag<PriorityFlag>('*').set_pattern("%*%v");
  else
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  log->set_formatter(std::move(formatter));
  log->flush_on(spdlog::level::trace);
  return log;
}

std::shared_ptr<spdlog::logger> make_logger() {
  return make_logger(std::make_shared<spdlog::sinks::stderr_sink_mt>(), stderr_is_journal());
}

}  // namespace letterd
