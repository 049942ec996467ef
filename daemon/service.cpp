#include "service.h"

#include <poll.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <deque>
#include <future>
#include <memory>

#include "bounce_intake.h"
#include "config.h"
#include "engine.h"
#include "housekeeping.h"
#include "intake.h"
#include "log_once.h"
#include "notice.h"
#include "process.h"
#include "queue.h"
#include "retarget.h"
#include "store.h"
#include "store_postcodes.h"

namespace letterd {

namespace {

// Files taken in a turn of the loop: few enough that the sessions' queues
// of claimed letters outlast it. Names are listed further ahead, since each
// listing reads new/ from its start, past the entries of files taken.
constexpr std::size_t kIntakeBatch = 64;
constexpr std::size_t kListAhead = 4096;
// --once waits for rate-limit slots this near; a later one ends the run.
constexpr auto kOnceLongestWait = std::chrono::seconds(60);
// How often a sleeping daemon looks whether another connection changed
// the database: the organiser's hold, release, cancel and retry speak to
// it through the database alone, and are heard within a second.
constexpr auto kLookEvery = std::chrono::milliseconds(500);
// After letters could not be resolved against the targets (an unreadable
// row), how long before trying again: they wait, unsent, meanwhile.
constexpr auto kResolveAgainAfter = std::chrono::seconds(60);

spdlog::level::level_enum level_of(const std::string& name) {
  return spdlog::level::from_str(name);
}

std::unique_ptr<Store> open_store(const std::string& database) {
  StartupKeepAlive alive;
  return std::make_unique<Store>(database);
}

// The running daemon. Its loop reads the time once a turn, takes one
// step, and waits until the earliest timer or an event.
class Daemon {
 public:
  // Opens the database and the queue and starts the relays; throws when
  // it cannot, having started nothing.
  Daemon(const RunOptions& options, spdlog::logger& log, std::unique_ptr<Config> config);
  // Whether or not finish() ran: the loop's commits while the relays stop
  // must not call into a housekeeping thread already gone.
  ~Daemon();

  // One turn at `now`: a batch of files, the holds, notices and digests
  // due, the letters due handed out. Returns when the next turn is wanted.
  TimePoint step(TimePoint now);
  // Asked by --once after a step: is all that this run can send sent?
  // Otherwise `wake` may come nearer, to a rate slot worth waiting for.
  bool drained(TimePoint now, TimePoint& wake);
  // Sleeps until `wake` or an event: a file, a signal, a session done,
  // another connection's commit to the database (an organiser's command).
  // A SIGHUP is answered here.
  void wait(TimePoint wake);
  bool stopping() const { return stop_ || signals_.stop; }
  // The sends in flight finish; returns the exit code.
  int finish();

 private:
  void take_files(TimePoint now);
  PostcodeFinder postcodes();
  void tell_systemd(TimePoint now);
  void end_holds(TimePoint now);
  void poll_bounces(TimePoint now);
  void decide_notices(TimePoint now);
  void assemble_digests(TimePoint now);
  bool retarget();
  TimePoint dispatch(TimePoint now);
  bool changed_elsewhere();
  void reload();

  const RunOptions& options_;
  spdlog::logger& log_;
  // The database and queue stay those of the start: a reload cannot move them.
  const std::string database_, queue_dir_;
  Signals signals_;
  WakeFd wake_fd_;
  InstanceLock lock_;
  std::unique_ptr<Store> store_;
  QueueDir queue_;
  std::unique_ptr<QueueWatch> watch_;
  Engine engine_;
  Notifier notifier_;
  std::unique_ptr<Housekeeping> housekeeping_;  // its own thread and connection; started last
  TurnClock turns_;
  LogOnce scan_trouble_, intake_trouble_, housekeeping_trouble_, delivery_trouble_, status_trouble_;
  TimePoint next_bounce_poll_{};  // when the bounce mailbox is read next
  std::future<void> bounce_job_;  // the read in progress, on its own thread
  // Set at stop: the read ends after the batch in hand rather than read a large mailbox to its end.
  std::shared_ptr<std::atomic<bool>> bounce_stop_ = std::make_shared<std::atomic<bool>>(false);

  bool stop_ = false;
  int exit_code_ = 0;
  bool ready_ = false;
  bool scan_ = true;
  TimePoint next_rescan_{};
  std::deque<std::string> listed_;  // names in new/ not yet taken
  bool listing_full_ = false;       // the last listing stopped at kListAhead: more may wait
  bool intake_progress_ = true;
  bool digests_pending_ = false;        // more digests are due than a turn assembles
  TimePoint digests_after_{};           // after a failure to assemble, not before this
  bool notices_pending_ = false;        // more failed or bounced letters wait for their notice to be decided
  bool notices_failing_ = false;        // the last try to decide notices failed
  bool resolve_targets_ = false;        // a due letter was rendered for a row its target no longer has
  TimePoint resolve_after_{};           // not before: the last try could not resolve some letters
  std::optional<TimePoint> rate_hold_;  // the earliest a rate limit holds a due letter to
  std::optional<TimePoint> hold_ends_;  // the earliest `letterd hold --until` still to come
  std::unique_ptr<PostcodeLookup> postcode_lookup_;
  std::string postcode_lookup_path_;
};

Daemon::Daemon(const RunOptions& options, spdlog::logger& log, std::unique_ptr<Config> config)
    : options_(options),
      log_(log),
      database_(config->database),
      queue_dir_(config->queue_dir),
      lock_(database_),
      store_(open_store(database_)),
      queue_(queue_dir_),
      engine_(*store_, database_, log, wake_fd_.fd()),
      turns_(log) {
  queue_.ensure_layout();
  watch_ = std::make_unique<QueueWatch>(queue_.new_dir());
  if (int n = store_->requeue_interrupted(now_ms()))
    log_.warn("{} message(s) were being sent when letterd last stopped; they will be sent again", n);
  engine_.start(std::move(config));
  {
    StartupKeepAlive alive;
    resolve_targets_ = !retarget();
  }
  if (resolve_targets_) resolve_after_ = now_ms() + kResolveAgainAfter;
  log_.info("letterd started: queue {}, database {}", queue_dir_, database_);
  housekeeping_ = std::make_unique<Housekeeping>(database_, queue_dir_, engine_.config().retention_bodies, log_);
  store_->leave_checkpoints_to([housekeeping = housekeeping_.get()] { housekeeping->copy_log_back_soon(); });
}

Daemon::~Daemon() {
  store_->leave_checkpoints_to(nullptr);
}

// Letters not yet sent follow their targets as the config now has them,
// before anything more is sent.
bool Daemon::retarget() {
  try {
    return retarget_waiting_letters(*store_, engine_.config(), postcodes(), log_, now_ms()) == 0;
  } catch (const std::exception& e) {
    log_.error(
        "resolving waiting letters against the targets: {}; letters rendered for a row that is no longer "
        "their target's wait, and letterd tries again in {}",
        e.what(), format_duration(kResolveAgainAfter));
    return false;
  }
}

TimePoint Daemon::step(TimePoint now) {
  turns_.begin();
  // What other connections commit from here on wakes the next wait: this
  // turn reads what they committed before.
  changed_elsewhere();
  std::string database_gone;
  try {
    take_files(now);
  } catch (const DatabaseGone& e) {
    database_gone = e.what();
  }
  turns_.lap("intake");
  // Checked before anything is sent: what was committed into a database
  // deleted or replaced meanwhile must not go out, since its files stay
  // in new/ and a letterd with a database sends them.
  if (database_gone.empty()) database_gone = store_->identity_problem();
  if (!database_gone.empty()) {
    log_.error(
        "{}: letterd stops taking files and exits; the files waiting stay in new/ for a letterd with a "
        "database to take",
        database_gone);
    exit_code_ = 1;
    stop_ = true;
    return now;
  }
  if (!ready_) {
    // systemd (Type=notify) starts dependants once the database is open
    // and the queue has been read; a long backlog is taken in afterwards.
    sd_notify(0, "READY=1");
    ready_ = true;
  }
  tell_systemd(now);
  end_holds(now);
  poll_bounces(now);
  turns_.lap("holds and bounces");
  decide_notices(now);
  turns_.lap("notices");
  assemble_digests(now);
  turns_.lap("digests");
  if (resolve_targets_ && now >= resolve_after_) {
    resolve_targets_ = false;
    if (!retarget()) resolve_after_ = now + kResolveAgainAfter;
  }
  turns_.lap("resolving targets");
  TimePoint wake = dispatch(now);
  if (hold_ends_) wake = std::min(wake, *hold_ends_);
  turns_.lap("delivery");
  turns_.end();
  // More files, notices or digests: at once.
  if (scan_ || notices_pending_ || digests_pending_) return now;
  try {
    if (auto digest = store_->next_digest_at()) wake = std::min(wake, std::max({now, *digest, digests_after_}));
  } catch (const std::exception&) {  // the next turn meets the trouble and says it
  }
  if (engine_.config().bounces.configured()) wake = std::min(wake, next_bounce_poll_);
  return resolve_targets_ ? std::min(wake, std::max(now, resolve_after_)) : wake;
}

// One batch a turn: letters already accepted go out between batches, and
// signals and the watchdog are heard however many files wait.
void Daemon::take_files(TimePoint now) {
  if (!scan_ && now < next_rescan_) return;
  try {
    scan_ = false;
    next_rescan_ = now + engine_.config().rescan_interval;
    if (listed_.empty()) {
      auto names = queue_.waiting(kListAhead);
      listed_.assign(std::make_move_iterator(names.begin()), std::make_move_iterator(names.end()));
      listing_full_ = names.size() == kListAhead;
    }
    std::vector<std::string> batch;
    while (!listed_.empty() && batch.size() < kIntakeBatch) {
      batch.push_back(std::move(listed_.front()));
      listed_.pop_front();
    }
    Intake intake(engine_.config(), *store_, queue_, log_, intake_trouble_, now, postcodes());
    intake_progress_ = intake.run(batch).files() > 0;
    // More waits: the next turn takes it. A full listing that took nothing
    // (the database refusing) waits for the rescan rather than spin.
    if (!listed_.empty() || (listing_full_ && intake_progress_)) scan_ = true;
    scan_trouble_.clear();
  } catch (const DatabaseGone&) {
    throw;
  } catch (const std::exception& e) {
    // new/ unreadable, the database locked: delivery goes on regardless.
    long long repeats = 0;
    if (scan_trouble_.due(e.what(), now, repeats))
      log_.error("queue scan failed: {}; trying again at the next rescan{}", e.what(), repeated(repeats));
    if (options_.once) exit_code_ = 1;
  }
}

// The config's postcode lookup, opened when a letter first needs it and
// again once an import has replaced it: a new lookup is taken without a
// restart. Without one, files that need it wait in new/.
PostcodeFinder Daemon::postcodes() {
  const std::string& path = engine_.config().postcodes;
  if (path.empty()) return {};
  if (postcode_lookup_ && (postcode_lookup_path_ != path || postcode_lookup_->replaced())) postcode_lookup_.reset();
  return [this, path](std::string_view postcode) {
    if (!postcode_lookup_) {
      try {
        postcode_lookup_ = std::make_unique<PostcodeLookup>(path);
        postcode_lookup_path_ = path;
      } catch (const std::exception& e) {
        throw PostcodeLookupUnavailable(std::string(e.what()) + " (letterd postcodes import FILE builds it)");
      }
    }
    try {
      return look_up_postcode(*postcode_lookup_, postcode);
    } catch (const std::exception& e) {
      // A damaged or unreadable lookup is letterd's trouble, not the
      // supporter's: the file waits, and the lookup is opened afresh.
      postcode_lookup_.reset();
      throw PostcodeLookupUnavailable("the postcode lookup: " + std::string(e.what()));
    }
  };
}

void Daemon::tell_systemd(TimePoint now) {
  try {
    notifier_.tick(now, *store_);
    status_trouble_.clear();
  } catch (const std::exception& e) {
    long long repeats = 0;
    if (status_trouble_.due(e.what(), now, repeats)) log_.warn("status: {}{}", e.what(), repeated(repeats));
  }
  turns_.lap("the status count");
}

// Holds whose --until has come release their letters before this turn's
// dispatch sends them.
void Daemon::end_holds(TimePoint now) {
  try {
    auto ended = store_->expire_holds(now);
    if (ended.holds)
      log_.info("{} hold(s) reached their end: {} letter(s) released, to send now", ended.holds, ended.letters);
    hold_ends_ = ended.next;
  } catch (const std::exception& e) {
    long long repeats = 0;
    if (housekeeping_trouble_.due(e.what(), now, repeats))
      log_.warn("holds: {}; trying again in 5s{}", e.what(), repeated(repeats));
    hold_ends_ = now + std::chrono::seconds(5);
  }
}

// The bounce mailbox, every bounces.poll, on a thread of its own with its
// own connection: an IMAP server slow to answer never holds up sending.
void Daemon::poll_bounces(TimePoint now) {
  const Config& config = engine_.config();
  if (!config.bounces.configured() || now < next_bounce_poll_) return;
  next_bounce_poll_ = now + config.bounces.poll;
  if (bounce_job_.valid() && bounce_job_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  // A copy: a reload may replace the config while the thread reads.
  auto snapshot = std::make_shared<const Config>(config);
  bounce_job_ = std::async(std::launch::async, [snapshot, stop = bounce_stop_, database = database_, &log = log_] {
    try {
      Store store(database, Store::Access::existing);
      BounceIntake intake(store, *snapshot, store.return_path_key(), log);
      BounceCounts total = intake.read_all(64, stop.get());
      if (total.read || total.unreadable) log.info("bounce mailbox: {}", total.summary());
    } catch (const std::exception& e) {
      log.warn("bounce mailbox {}: {}; read again in {}",
               snapshot->bounces.url.empty() ? snapshot->bounces.maildir : snapshot->bounces.url, e.what(),
               format_duration(snapshot->bounces.poll));
    }
  });
}

// A failed or bounced letter's supporter hears of it, once, when the
// campaign asks for it: the notice is queued like a letter, and goes
// through the campaign's relay within its limits. A batch a turn.
void Daemon::decide_notices(TimePoint now) {
  constexpr int kBatch = 32;
  try {
    auto due = store_->notices_due(kBatch);
    notices_pending_ = due.size() == static_cast<std::size_t>(kBatch);
    notices_failing_ = false;
    for (const auto& letter : due) {
      const CampaignConfig* campaign = engine_.config().campaign(letter.campaign);
      std::optional<Store::NewMessage> notice;
      if (campaign && wants_notice(letter, *campaign)) {
        Problems problems;
        if (auto planned = plan_notice(letter, *campaign, problems))
          notice = Store::NewMessage{std::move(*planned), new_message_id(campaign->from_address), campaign->relay};
        else
          log_.warn("message {} {}: no notice to its supporter: {}", letter.id, to_string(letter.status),
                    problems.front().text());
      }
      store_->decide_notice(letter.id, notice, now);
      if (notice) log_.info("message {} {}: a notice to its supporter is queued", letter.id, to_string(letter.status));
    }
  } catch (const std::exception& e) {
    long long repeats = 0;
    if (housekeeping_trouble_.due(e.what(), now, repeats))
      log_.warn("notices to supporters: {}; trying again in a turn{}", e.what(), repeated(repeats));
    notices_pending_ = false;
    notices_failing_ = true;  // --once does not wait on notices it cannot decide
  }
}

// The digests whose time has come: each a target's collecting letters as
// one email, queued like a letter, a few a turn.
void Daemon::assemble_digests(TimePoint now) {
  constexpr int kPerTurn = 8;
  digests_pending_ = false;
  if (now < digests_after_) return;
  try {
    for (int n = 0; n < kPerTurn; ++n) {
      auto group = store_->digest_due(now);
      if (!group) return;
      const CampaignConfig* campaign = engine_.config().campaign(group->campaign);
      const LetterConfig* letter = campaign ? campaign->letter(group->letter) : nullptr;
      const int max_letters = letter && letter->digest ? letter->digest->max_letters : DigestConfig{}.max_letters;
      auto make = [&](const std::vector<DigestLetter>& letters) {
        PlannedMessage p;
        p.letter = digest_letter_name(group->letter);
        p.target_id = group->target_id;
        // The target's address as the targets file now has it, else as the letters were written for.
        const Target* target = campaign && campaign->targets ? campaign->targets->by_id(group->target_id) : nullptr;
        p.to = target ? Mailbox{target->name(), target->email()}
                      : Mailbox{letters.front().recipient_name, letters.front().recipient};
        const std::string from = campaign ? campaign->from_address : "";
        p.from = Mailbox{"", from};
        DigestText text = render_digest(letters, p.to.display_name.empty() ? p.to.address : p.to.display_name);
        p.subject = text.subject;
        p.body = text.body;
        return Store::NewMessage{std::move(p), new_message_id(from), campaign ? campaign->relay : ""};
      };
      int in = store_->assemble_digest(*group, max_letters, now, make);
      if (in == 0) break;
      log_.info("campaign {}, letter {}, target {}: a digest of {} letter(s) is queued", group->campaign, group->letter,
                group->target_id, in);
    }
    digests_pending_ = true;
  } catch (const std::exception& e) {
    long long repeats = 0;
    if (housekeeping_trouble_.due(e.what(), now, repeats))
      log_.warn("daily digests: {}; trying again in a minute{}", e.what(), repeated(repeats));
    digests_after_ = now + std::chrono::minutes(1);
  }
}

bool Daemon::changed_elsewhere() {
  try {
    return store_->changed_elsewhere();
  } catch (const std::exception&) {
    return true;  // the next turn meets the trouble and says it
  }
}

TimePoint Daemon::dispatch(TimePoint now) {
  try {
    Engine::Wake wake = engine_.dispatch(now);
    rate_hold_ = wake.rate_hold;
    if (wake.resolve_targets) resolve_targets_ = true;
    delivery_trouble_.clear();
    return wake.at ? std::min(*wake.at, next_rescan_) : next_rescan_;
  } catch (const std::exception& e) {
    // One bad moment (a full disk, a locked database) must not end the daemon.
    long long repeats = 0;
    if (delivery_trouble_.due(e.what(), now, repeats))
      log_.error("delivery: {}; trying again in 5s{}", e.what(), repeated(repeats));
    if (options_.once) {
      exit_code_ = 1;
      stop_ = true;
    }
    return std::min(next_rescan_, now + std::chrono::seconds(5));
  }
}

bool Daemon::drained(TimePoint now, TimePoint& wake) {
  try {
    // Files that arrived meanwhile are taken too; a file intake could not
    // take (it stays in new/) must not keep --once running for ever.
    // Names still listed are known to wait: new/ is read only when none are.
    if (intake_progress_ && (!listed_.empty() || !queue_.waiting(1).empty())) {
      scan_ = true;
      wake = now;
      return false;
    }
    // A read of the bounce mailbox in progress may yet bounce a letter
    // whose supporter then has a notice to send.
    if (bounce_job_.valid()) {
      if (bounce_job_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        // It ended since the step decided notices: one more step decides those of what it read.
        bounce_job_.get();
        wake = now;
        return false;
      }
      wake = std::min(wake, now + std::chrono::milliseconds(50));
      return false;
    }
    if (notices_pending_ || digests_pending_ || engine_.busy() || engine_.has_due(now)) return false;
    // A letter whose session ended it failed after this step decided
    // notices (nothing was busy by the check above, so all is recorded):
    // one more step decides its notice, and sends it.
    if (!notices_failing_ && !store_->notices_due(1).empty()) {
      wake = now;
      return false;
    }
    // What is left waits for a retry, a paused relay, or a rate slot: a
    // near slot is waited for, a far one left to the daemon.
    if (!rate_hold_) return true;
    if (*rate_hold_ - now > kOnceLongestWait) {
      log_.info("rate limits hold the remaining letters back for more than {}; letterd run sends them later",
                format_duration(kOnceLongestWait));
      return true;
    }
    wake = std::min(wake, *rate_hold_);
    return false;
  } catch (const std::exception& e) {
    log_.error("{}", e.what());
    exit_code_ = 1;
    return true;
  }
}

void Daemon::wait(TimePoint wake) {
  TimePoint now = now_ms();
  if (signals_.reload || scan_) wake = now;  // a SIGHUP read during the step: at once
  TimePoint until = std::min(wake, now + notifier_.longest_sleep(now));
  pollfd fds[] = {{watch_->fd(), POLLIN, 0}, {signals_.fd(), POLLIN, 0}, {wake_fd_.fd(), POLLIN, 0}};
  // In slices, between which a read of PRAGMA data_version tells whether
  // another connection committed: cheaper than a turn, and no signal needed.
  for (;;) {
    auto ms = std::clamp<long long>((until - now).count(), 0, kLookEvery.count());
    if (::poll(fds, 3, static_cast<int>(ms)) != 0) break;
    now = now_ms();
    if (now >= until || changed_elsewhere()) break;
  }
  wake_fd_.drain();
  if (watch_->drain()) scan_ = true;
  signals_.read();
  if (signals_.reload && !signals_.stop) reload();
}

void Daemon::reload() {
  signals_.reload = false;
  sd_notify(0, "RELOADING=1");
  Problems problems;
  auto fresh = load_config(options_.config_path, problems);
  if (!fresh) {
    for (const auto& p : problems) log_.error("reload: {}", p.text());
    log_.error("reload refused: the config has {} problem(s); the previous config stays in force", problems.size());
    sd_notify(0, "READY=1");
    return;
  }
  if (fresh->database != database_ || fresh->queue_dir != queue_dir_) {
    log_.warn("reload: a new database or queue_dir takes effect only when letterd restarts");
    fresh->database = database_;
    fresh->queue_dir = queue_dir_;
  }
  log_.set_level(level_of(fresh->log_level));
  try {
    engine_.start(std::make_unique<Config>(std::move(*fresh)));
    housekeeping_->use(engine_.config().retention_bodies);
    log_.info("config reloaded from {}", options_.config_path);
    StartupKeepAlive alive;
    if (!retarget()) {
      resolve_targets_ = true;
      resolve_after_ = now_ms() + kResolveAgainAfter;
    }
  } catch (const std::exception& e) {
    log_.error("reload: {}", e.what());
  }
  scan_ = true;
  sd_notify(0, "READY=1");
}

int Daemon::finish() {
  sd_notify(0, "STOPPING=1");
  bounce_stop_->store(true);
  store_->leave_checkpoints_to(nullptr);
  housekeeping_.reset();  // once its slice in hand ends: what is left is erased at the next start
  engine_.stop();         // the sends in flight finish; the rest wait for the next start
  log_.info("letterd stopped; the longest turn of the loop took {} ms", turns_.longest().count());
  return exit_code_;
}

}  // namespace

int run_service(const RunOptions& options, std::shared_ptr<spdlog::logger> log) {
  Problems problems;
  auto loaded = load_config(options.config_path, problems);
  if (!loaded) {
    for (const auto& p : problems) log->error("config: {}", p.text());
    return 2;
  }
  log->set_level(level_of(loaded->log_level));
  std::unique_ptr<Daemon> daemon;
  try {
    daemon = std::make_unique<Daemon>(options, *log, std::make_unique<Config>(std::move(*loaded)));
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  while (!daemon->stopping()) {
    TimePoint now = now_ms();
    TimePoint wake = daemon->step(now);
    if (daemon->stopping()) break;
    if (options.once && daemon->drained(now_ms(), wake)) break;  // a pause or retry may have come due in the step
    daemon->wait(wake);
  }
  return daemon->finish();
}

}  // namespace letterd
