#include "service.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <map>
#include <memory>

#include "config.h"
#include "delivery.h"
#include "intake.h"
#include "queue.h"
#include "store.h"

namespace letterd {

namespace {

constexpr std::size_t kIntakeBatch = 500;

// SIGTERM, SIGINT and SIGHUP arrive on a descriptor the loop polls, so a
// signal never interrupts a send half-way.
class Signals {
 public:
  Signals() {
    sigemptyset(&mask_);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask_, s);
    sigprocmask(SIG_BLOCK, &mask_, nullptr);
    fd_ = signalfd(-1, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~Signals() {
    if (fd_ >= 0) ::close(fd_);
    sigprocmask(SIG_UNBLOCK, &mask_, nullptr);
  }
  int fd() const { return fd_; }

  // Reads pending signals; remembers a stop or a reload.
  void read() {
    signalfd_siginfo info;
    while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGHUP) reload = true;
      else stop = true;
    }
  }

  bool stop = false;
  bool reload = false;

 private:
  sigset_t mask_;
  int fd_ = -1;
};

struct Engine {
  std::unique_ptr<Config> config;
  std::map<std::string, std::unique_ptr<RelayWorker>> workers;

  void start(std::unique_ptr<Config> c, Store& store, spdlog::logger& log) {
    for (auto& [name, w] : workers) w->close();
    workers.clear();
    config = std::move(c);
    for (const auto& [name, relay] : config->relays)
      workers.emplace(name, std::make_unique<RelayWorker>(relay, *config, store, log));
  }
};

spdlog::level::level_enum level_of(const std::string& name) { return spdlog::level::from_str(name); }

}  // namespace

int run_service(const RunOptions& options, std::shared_ptr<spdlog::logger> log) {
  Problems problems;
  auto loaded = load_config(options.config_path, problems);
  if (!loaded) {
    for (const auto& p : problems) log->error("config: {}", p.text());
    return 2;
  }
  log->set_level(level_of(loaded->log_level));

  Signals signals;
  std::unique_ptr<Store> store;
  std::unique_ptr<QueueDir> queue;
  std::unique_ptr<QueueWatch> watch;
  try {
    store = std::make_unique<Store>(loaded->database);
    queue = std::make_unique<QueueDir>(loaded->queue_dir);
    queue->ensure_layout();
    watch = std::make_unique<QueueWatch>(queue->new_dir());
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  if (int n = store->requeue_interrupted(now_ms()))
    log->warn("{} message(s) were being sent when letterd last stopped; they will be sent again", n);

  Engine engine;
  engine.start(std::make_unique<Config>(std::move(*loaded)), *store, *log);
  log->info("letterd started: queue {}, database {}", engine.config->queue_dir, engine.config->database);

  auto stop_requested = [&] {
    signals.read();
    return signals.stop;
  };
  bool scan = true;
  bool ready = false;
  bool intake_progress = true;
  TimePoint next_rescan = now_ms();
  for (;;) {
    try {
      if (scan || now_ms() >= next_rescan) {
        Intake intake(*engine.config, *store, *queue, *log);
        intake_progress = false;
        while (!stop_requested()) {
          IntakeCounts counts = intake.run(kIntakeBatch);
          intake_progress = intake_progress || counts.files() > 0;
          if (counts.files() < static_cast<int>(kIntakeBatch)) break;
        }
        scan = false;
        next_rescan = now_ms() + engine.config->rescan_interval;
        if (!ready) {
          // systemd (Type=notify) starts dependants only once the database is
          // open and what waited in new/ has been taken in.
          sd_notify(0, "READY=1");
          ready = true;
        }
      }
      TimePoint wake = next_rescan;
      for (auto& [name, worker] : engine.workers) {
        if (auto when = worker->run(stop_requested)) wake = std::min(wake, *when);
      }
      if (signals.stop) break;

      if (options.once) {
        // Files that arrived meanwhile are taken too; a file intake could not
        // move (it stays in new/) must not keep --once running for ever.
        bool files = intake_progress && !queue->waiting(1).empty();
        bool more = files;
        for (auto& [name, worker] : engine.workers) more = more || worker->has_due(now_ms());
        if (!more) break;
        if (!files) {
          // Only rate limits hold the rest back: wait for the next slot.
          auto wait = std::max<long long>(0, (wake - now_ms()).count());
          pollfd fds[] = {{signals.fd(), POLLIN, 0}};
          ::poll(fds, 1, static_cast<int>(std::min<long long>(wait, 1000)));
        } else {
          scan = true;
        }
        continue;
      }

      auto wait = std::clamp<long long>((wake - now_ms()).count(), 0, 60'000);
      pollfd fds[] = {{watch->fd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
      ::poll(fds, 2, static_cast<int>(wait));
      if (watch->drain()) scan = true;
      signals.read();
      if (signals.stop) break;
      if (signals.reload) {
        signals.reload = false;
        sd_notify(0, "RELOADING=1");
        Problems reload_problems;
        if (auto fresh = load_config(options.config_path, reload_problems)) {
          log->set_level(level_of(fresh->log_level));
          engine.start(std::make_unique<Config>(std::move(*fresh)), *store, *log);
          scan = true;
          log->info("config reloaded from {}", options.config_path);
        } else {
          for (const auto& p : reload_problems) log->error("reload: {}", p.text());
          log->error("reload refused: the config has {} problem(s); the previous config stays in force",
                     reload_problems.size());
        }
        sd_notify(0, "READY=1");
      }
    } catch (const std::exception& e) {
      // One bad moment (a full disk, a locked database) must not end the daemon.
      log->error("{}; trying again in 5s", e.what());
      pollfd fds[] = {{signals.fd(), POLLIN, 0}};
      ::poll(fds, 1, 5000);
      signals.read();
      if (signals.stop) break;
    }
  }
  sd_notify(0, "STOPPING=1");
  for (auto& [name, worker] : engine.workers) worker->close();
  log->info("letterd stopped");
  return 0;
}

}  // namespace letterd
