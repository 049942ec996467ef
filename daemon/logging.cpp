#include "logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

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

}  // namespace

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  return ::fstat(2, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

std::shared_ptr<spdlog::logger> make_logger() {
  auto log = std::make_shared<spdlog::logger>("letterd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (stderr_is_journal()) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<PriorityFlag>('*').set_pattern("%*%v");
    log->set_formatter(std::move(formatter));
  } else {
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  }
  log->flush_on(spdlog::level::trace);
  return log;
}

}  // namespace letterd
