#include "service.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "config.h"
#include "delivery.h"
#include "housekeeping.h"
#include "intake.h"
#include "log_once.h"
#include "queue.h"
#include "store.h"

namespace letterd {

namespace {

// Files taken in a turn of the loop: few enough that the sessions' queues
// of claimed letters outlast it. Names are listed further ahead, since each
// listing reads new/ from its start, past the entries of files taken.
constexpr std::size_t kIntakeBatch = 64;
constexpr std::size_t kListAhead = 4096;
// --once waits for rate-limit slots this near; a later one ends the run.
constexpr auto kOnceLongestWait = std::chrono::seconds(60);

// SIGTERM, SIGINT and SIGHUP arrive on a descriptor the loop polls, so a
// signal never interrupts a send half-way. They stay blocked to the end:
// one arriving during the last QUIT must not kill the process.
class Signals {
 public:
  Signals() {
    sigemptyset(&mask_);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask_, s);
    sigprocmask(SIG_BLOCK, &mask_, nullptr);
    fd_ = signalfd(-1, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
  }
  ~Signals() { ::close(fd_); }
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

// One letterd per database: a second would put the first's in-flight
// messages back in the queue and send them again. The lock is on the
// directory that holds the database, not on the file: a database deleted
// or replaced under a running daemon takes a lock on its inode with it,
// and a second daemon would then start beside the first.
class InstanceLock {
 public:
  explicit InstanceLock(const std::string& database) {
    std::string dir = std::filesystem::path(database).parent_path().string();
    if (dir.empty()) dir = ".";
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("cannot open " + dir + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int error = errno;
      ::close(fd_);
      if (error != EWOULDBLOCK)
        throw std::runtime_error("cannot lock " + dir + " (letterd takes one lock per database directory): " +
                                 std::strerror(error));
      throw std::runtime_error("another letterd is running on a database in " + dir +
                               " (one letterd per database directory)");
    }
  }
  ~InstanceLock() { ::close(fd_); }
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

 private:
  int fd_ = -1;
};

// While the database opens: a first start of this letterd on a long
// campaign's database migrates it (indexes over a million letters), a
// one-time job of seconds to minutes. systemd hears that letterd is alive
// and still starting, rather than kill it for a missing READY.
class StartupKeepAlive {
 public:
  StartupKeepAlive() {
    thread_ = std::thread([this] {
      // systemd's watchdog starts once READY is sent: the start timeout
      // alone needs extending, and only for a start that is slow.
      std::unique_lock lock(mutex_);
      while (!wake_.wait_for(lock, std::chrono::seconds(5), [this] { return done_; }))
        sd_notify(0, "EXTEND_TIMEOUT_USEC=30000000");
    });
  }
  ~StartupKeepAlive() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  StartupKeepAlive(const StartupKeepAlive&) = delete;
  StartupKeepAlive& operator=(const StartupKeepAlive&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// An eventfd the relays' sessions write when they finish a message.
class WakeFd {
 public:
  WakeFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  }
  ~WakeFd() { ::close(fd_); }
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  int fd() const { return fd_; }
  void drain() {
    std::uint64_t n;
    [[maybe_unused]] auto r = ::read(fd_, &n, sizeof n);
  }

 private:
  int fd_;
};

// The config in force and a Relay for each of its relays. A reload keeps
// the relays whose settings did not change (their connections carry on)
// and retires the others without waiting for their sends in flight, so
// the loop, the watchdog and signals never stall behind a slow relay.
struct Engine {
  std::unique_ptr<Config> config;
  std::map<std::string, std::unique_ptr<Relay>> relays;
  std::vector<std::unique_ptr<Relay>> retiring;

  // Builds everything new first: if that fails, the old engine stays whole.
  void start(std::unique_ptr<Config> next, Store& store, const std::string& database, spdlog::logger& log,
             int wake_fd) {
    std::map<std::string, std::unique_ptr<Relay>> fresh;
    std::vector<std::string> kept;
    for (const auto& [name, relay] : next->relays) {
      auto old = relays.find(name);
      if (old != relays.end() && old->second->relay_config() == relay && old->second->retry_policy() == next->retry) {
        kept.push_back(name);
        continue;
      }
      fresh.emplace(name, std::make_unique<Relay>(relay, *next, store, database, log, wake_fd));
    }
    for (auto& name : kept) {
      fresh.emplace(name, std::move(relays[name]));
      fresh[name]->use(*next);
    }
    for (auto& [name, relay] : relays) {
      if (!relay) continue;  // kept
      relay->begin_stop();
      retiring.push_back(std::move(relay));
    }
    relays = std::move(fresh);
    config = std::move(next);

    // A campaign moved to another relay takes its waiting letters along;
    // letters of a campaign no longer configured wait, and say so.
    std::vector<std::string> names;
    for (const auto& [name, campaign] : config->campaigns) {
      names.push_back(name);
      if (int moved = store.rehome_waiting(name, campaign.relay))
        log.warn("{} waiting message(s) of campaign {} now go through relay {}", moved, name, campaign.relay);
    }
    for (const auto& orphan : store.waiting_outside(names))
      log.error("{} {} message(s) of campaign {} wait, but the config has no such campaign; they are not sent",
                orphan.count, orphan.status, orphan.campaign);
  }

  // Ends retired relays whose last sends have finished.
  void reap() {
    std::erase_if(retiring, [](const std::unique_ptr<Relay>& r) {
      if (r->busy()) return false;
      r->stop();
      return true;
    });
  }

  // Whether a relay of this name retired by a reload still has sends to
  // finish: its successor waits, so the limits count them from the log.
  bool retiring_as(const std::string& name) const {
    for (const auto& relay : retiring)
      if (relay->relay_config().name == name) return true;
    return false;
  }

  bool busy() {
    for (auto& [name, relay] : relays)
      if (relay->busy()) return true;
    for (auto& relay : retiring)
      if (relay->busy()) return true;
    return false;
  }

  void stop() {
    for (auto& [name, relay] : relays) relay->begin_stop();
    for (auto& [name, relay] : relays) relay->stop();
    for (auto& relay : retiring) relay->stop();
    relays.clear();
    retiring.clear();
  }
};

// The tail of a line said again after LogOnce kept it quiet for a while.
std::string repeated(long long times) {
  return times ? " (" + std::to_string(times) + " time(s) more since it was last logged)" : "";
}

spdlog::level::level_enum level_of(const std::string& name) { return spdlog::level::from_str(name); }

// What systemd hears besides READY and STOPPING: a STATUS line for
// `systemctl status`, and the watchdog's keep-alive at half its interval.
class Notifier {
 public:
  Notifier() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0) watchdog_every_ = Duration(static_cast<long long>(usec / 2000));
  }

  // The longest the loop may sleep and still keep the watchdog fed.
  Duration longest_sleep() const {
    if (watchdog_every_.count() == 0) return Duration(60'000);
    return std::max(Duration(0), std::min(watchdog_every_, next_watchdog_ - now_ms()));
  }

  void tick(Store& store) {
    TimePoint now = now_ms();
    if (now >= next_status_) {
      long long waiting = 0, deferred = 0;
      for (const auto& c : store.status_counts()) {
        if (c.status == "queued" || c.status == "sending") waiting += c.count;
        if (c.status == "deferred") deferred += c.count;
      }
      long long sent = store.sent_since(now - std::chrono::minutes(1));
      sd_notifyf(0, "STATUS=%lld letter(s) to send, %lld deferred, %lld sent in the last minute", waiting, deferred,
                 sent);
      next_status_ = now + std::chrono::seconds(5);
    }
    if (watchdog_every_.count() > 0 && now >= next_watchdog_) {
      sd_notify(0, "WATCHDOG=1");
      next_watchdog_ = now + watchdog_every_;
    }
  }

 private:
  Duration watchdog_every_{0};  // 0: no watchdog
  TimePoint next_watchdog_{};
  TimePoint next_status_{};
};

// How long each turn of the loop works (not how long it sleeps): a turn
// over 100 ms holds up signals, the watchdog and every session waiting for
// new work, so it is logged with the part that took longest.
class TurnClock {
 public:
  explicit TurnClock(spdlog::logger& log) : log_(log) {}

  void begin() {
    start_ = lap_start_ = std::chrono::steady_clock::now();
    slowest_part_ = {};
    slowest_ = {};
  }
  // The part of the turn that ended now.
  void lap(const char* part) {
    auto now = std::chrono::steady_clock::now();
    if (now - lap_start_ > slowest_) {
      slowest_ = now - lap_start_;
      slowest_part_ = part;
    }
    lap_start_ = now;
  }
  void end() {
    using std::chrono::duration_cast;
    auto took = duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
    longest_ = std::max(longest_, took);
    if (took <= kSlowTurn) return;
    long long repeats = 0;
    if (slow_.due(slowest_part_, now_ms(), repeats))
      log_.warn("a turn of the loop took {} ms, {} ms of it in {}{}", took.count(),
                duration_cast<std::chrono::milliseconds>(slowest_).count(), slowest_part_, repeated(repeats));
  }
  std::chrono::milliseconds longest() const { return longest_; }

 private:
  static constexpr auto kSlowTurn = std::chrono::milliseconds(100);
  spdlog::logger& log_;
  std::chrono::steady_clock::time_point start_, lap_start_;
  std::chrono::steady_clock::duration slowest_{};
  const char* slowest_part_ = "";
  std::chrono::milliseconds longest_{0};
  LogOnce slow_;
};

}  // namespace

int run_service(const RunOptions& options, std::shared_ptr<spdlog::logger> log) {
  Problems problems;
  auto loaded = load_config(options.config_path, problems);
  if (!loaded) {
    for (const auto& p : problems) log->error("config: {}", p.text());
    return 2;
  }
  log->set_level(level_of(loaded->log_level));

  // The database and queue stay those of the start: a reload cannot move them.
  const std::string database = loaded->database;
  const std::string queue_dir = loaded->queue_dir;
  std::unique_ptr<Signals> signals;
  std::unique_ptr<Store> store;
  std::unique_ptr<InstanceLock> lock;
  std::unique_ptr<QueueDir> queue;
  std::unique_ptr<QueueWatch> watch;
  std::unique_ptr<WakeFd> wake_fd;
  Engine engine;
  try {
    signals = std::make_unique<Signals>();
    wake_fd = std::make_unique<WakeFd>();
    lock = std::make_unique<InstanceLock>(loaded->database);
    {
      StartupKeepAlive alive;
      store = std::make_unique<Store>(loaded->database);
    }
    queue = std::make_unique<QueueDir>(loaded->queue_dir);
    queue->ensure_layout();
    watch = std::make_unique<QueueWatch>(queue->new_dir());
    if (int n = store->requeue_interrupted(now_ms()))
      log->warn("{} message(s) were being sent when letterd last stopped; they will be sent again", n);
    engine.start(std::make_unique<Config>(std::move(*loaded)), *store, database, *log, wake_fd->fd());
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  log->info("letterd started: queue {}, database {}", engine.config->queue_dir, engine.config->database);

  Notifier notifier;
  Housekeeping housekeeping(*store, *log);
  TurnClock turns(*log);
  LogOnce scan_trouble, intake_trouble, housekeeping_trouble, delivery_trouble;
  bool housekeeping_pending = false;
  bool scan = true;
  std::deque<std::string> listed;  // names in new/ not yet taken
  bool listing_full = false;       // the last listing stopped at kListAhead: more may wait
  bool ready = false;
  bool intake_progress = true;
  int exit_code = 0;
  TimePoint next_rescan = now_ms();
  for (;;) {
    turns.begin();
    std::string database_gone;
    try {
      if (scan || now_ms() >= next_rescan) {
        scan = false;
        next_rescan = now_ms() + engine.config->rescan_interval;
        // One batch a turn: letters already accepted go out between batches,
        // and signals and the watchdog are heard however many files wait.
        if (listed.empty()) {
          auto names = queue->waiting(kListAhead);
          listed.assign(std::make_move_iterator(names.begin()), std::make_move_iterator(names.end()));
          listing_full = names.size() == kListAhead;
        }
        std::vector<std::string> batch;
        while (!listed.empty() && batch.size() < kIntakeBatch) {
          batch.push_back(std::move(listed.front()));
          listed.pop_front();
        }
        Intake intake(*engine.config, *store, *queue, *log, intake_trouble);
        IntakeCounts counts = intake.run(batch);
        intake_progress = counts.files() > 0;
        // More waits: the next turn takes it. A full listing that took nothing
        // (the database refusing) waits for the rescan rather than spin.
        if (!listed.empty() || (listing_full && intake_progress)) scan = true;
        scan_trouble.clear();
      }
    } catch (const DatabaseGone& e) {
      database_gone = e.what();
    } catch (const std::exception& e) {
      // new/ unreadable, the database locked: delivery goes on regardless.
      long long repeats = 0;
      if (scan_trouble.due(e.what(), now_ms(), repeats))
        log->error("queue scan failed: {}; trying again at the next rescan{}", e.what(), repeated(repeats));
      if (options.once) exit_code = 1;
    }
    turns.lap("intake");
    // Checked before anything is sent: what was committed into a database
    // deleted or replaced meanwhile must not go out, since its files stay
    // in new/ and a letterd with a database sends them.
    if (database_gone.empty()) database_gone = store->identity_problem();
    if (!database_gone.empty()) {
      log->error("{}: letterd stops taking files and exits; the files waiting stay in new/ for a letterd with a "
                 "database to take",
                 database_gone);
      exit_code = 1;
      break;
    }
    if (!ready) {
      // systemd (Type=notify) starts dependants once the database is open
      // and the queue has been read; a long backlog is taken in afterwards.
      sd_notify(0, "READY=1");
      ready = true;
    }
    try {
      notifier.tick(*store);
      housekeeping_pending = housekeeping.step(now_ms(), *engine.config);
      housekeeping_trouble.clear();
    } catch (const std::exception& e) {
      long long repeats = 0;
      if (housekeeping_trouble.due(e.what(), now_ms(), repeats))
        log->warn("housekeeping: {}{}", e.what(), repeated(repeats));
      housekeeping_pending = false;
    }
    turns.lap("housekeeping");

    TimePoint wake = next_rescan;
    std::optional<TimePoint> rate_hold;  // the earliest a rate limit holds a due letter to
    try {
      engine.reap();
      for (auto& [name, relay] : engine.relays) {
        if (engine.retiring_as(name)) continue;  // a session finishing there wakes the loop
        if (auto when = relay->dispatch()) wake = std::min(wake, *when);
        if (auto hold = relay->rate_hold()) rate_hold = rate_hold ? std::min(*rate_hold, *hold) : *hold;
      }
      delivery_trouble.clear();
    } catch (const std::exception& e) {
      // One bad moment (a full disk, a locked database) must not end the daemon.
      long long repeats = 0;
      if (delivery_trouble.due(e.what(), now_ms(), repeats))
        log->error("delivery: {}; trying again in 5s{}", e.what(), repeated(repeats));
      wake = std::min(wake, now_ms() + std::chrono::seconds(5));
      if (options.once) {
        exit_code = 1;
        break;
      }
    }
    if (signals->stop) break;

    if (options.once) {
      try {
        // Files that arrived meanwhile are taken too; a file intake could not
        // take (it stays in new/) must not keep --once running for ever.
        // Names still listed are known to wait: new/ is read only when none are.
        if (intake_progress && (!listed.empty() || !queue->waiting(1).empty())) {
          scan = true;
          continue;
        }
        bool due = false;
        for (auto& [name, relay] : engine.relays) due = due || relay->has_due(now_ms());
        if (!engine.busy() && !due) {
          // What is left waits for a retry, a paused relay, or a rate slot:
          // a near slot is waited for, a far one left to the daemon.
          if (!rate_hold) break;
          if (*rate_hold - now_ms() > kOnceLongestWait) {
            log->info("rate limits hold the remaining letters back for more than {}; letterd run sends them later",
                      format_duration(kOnceLongestWait));
            break;
          }
          wake = std::min(wake, *rate_hold);
        }
      } catch (const std::exception& e) {
        log->error("{}", e.what());
        exit_code = 1;
        break;
      }
    }

    turns.lap("delivery");
    turns.end();
    // A SIGHUP read during intake, more files, or more housekeeping slices: at once.
    if (signals->reload || scan || housekeeping_pending) wake = now_ms();
    auto wait = std::clamp<long long>((wake - now_ms()).count(), 0, notifier.longest_sleep().count());
    pollfd fds[] = {{watch->fd(), POLLIN, 0}, {signals->fd(), POLLIN, 0}, {wake_fd->fd(), POLLIN, 0}};
    ::poll(fds, 3, static_cast<int>(wait));
    wake_fd->drain();
    if (watch->drain()) scan = true;
    signals->read();
    if (signals->stop) break;
    if (signals->reload) {
      signals->reload = false;
      sd_notify(0, "RELOADING=1");
      Problems reload_problems;
      auto fresh = load_config(options.config_path, reload_problems);
      if (fresh && (fresh->database != database || fresh->queue_dir != queue_dir)) {
        log->warn("reload: a new database or queue_dir takes effect only when letterd restarts");
        fresh->database = database;
        fresh->queue_dir = queue_dir;
      }
      if (fresh) {
        log->set_level(level_of(fresh->log_level));
        try {
          engine.start(std::make_unique<Config>(std::move(*fresh)), *store, database, *log, wake_fd->fd());
          log->info("config reloaded from {}", options.config_path);
        } catch (const std::exception& e) {
          log->error("reload: {}", e.what());
        }
        scan = true;
      } else {
        for (const auto& p : reload_problems) log->error("reload: {}", p.text());
        log->error("reload refused: the config has {} problem(s); the previous config stays in force",
                   reload_problems.size());
      }
      sd_notify(0, "READY=1");
    }
  }
  sd_notify(0, "STOPPING=1");
  engine.stop();  // the sends in flight finish; the rest wait for the next start
  log->info("letterd stopped; the longest turn of the loop took {} ms", turns.longest().count());
  return exit_code;
}

}  // namespace letterd
