#include "delivery.h"

#include <algorithm>
#include <set>

#include "delivery_detail.h"
#include "retarget.h"

namespace letterd {

namespace {

// How many due messages one query brings beyond the room for them, per
// session: enough to skip those held back by their target's limit without
// a query each.
constexpr int kDuePerSession = 8;

std::vector<std::string> campaigns_through(const Config& config, const std::string& relay) {
  std::vector<std::string> names;
  for (const auto& [name, campaign] : config.campaigns)
    if (campaign.relay == relay) names.push_back(name);
  return names;
}

std::map<std::string, RateLimits> per_target_limits(const Config& config, const std::string& relay) {
  std::map<std::string, RateLimits> limits;
  for (const auto& [name, campaign] : config.campaigns)
    if (campaign.relay == relay) limits.emplace(name, campaign.per_target);
  return limits;
}

// The sending windows of the campaigns through `relay`: each letter's own, else its campaign's.
Windows windows_of(const Config& config, const std::string& relay) {
  Windows windows;
  for (const auto& [name, campaign] : config.campaigns) {
    if (campaign.relay != relay) continue;
    for (const auto& letter : campaign.letters)
      if (const SendingWindow* w = campaign.window_for(letter.name)) {
        windows.emplace(std::pair{name, letter.name}, *w);
        // A digest of the letter goes in the letter's window too.
        if (letter.digest) windows.emplace(std::pair{name, digest_letter_name(letter.name)}, *w);
      }
  }
  return windows;
}

}  // namespace

Relay::Relay(const RelayConfig& relay, const Config& config, Store& store, const std::string& database,
             spdlog::logger& log, int wake_fd, const ReturnPathKey& key)
    : relay_(relay),
      retry_(config.retry),
      config_(&config),
      campaigns_(campaigns_through(config, relay.name)),
      store_(store),
      log_(log),
      key_(key),
      shared_(std::make_shared<Shared>(relay, config.retry, database, log, wake_fd)) {
  shared_->scheduler.use_target_limits(per_target_limits(config, relay.name));
  shared_->scheduler.use_windows(windows_of(config, relay.name));
  try {
    recorder_ = std::thread(run_recorder, shared_);
    for (int i = 0; i < relay.connections; ++i) sessions_.emplace_back(run_session, shared_);
  } catch (...) {
    stop();  // a joinable std::thread must never be destroyed
    throw;
  }
}

Relay::~Relay() {
  stop();
}

void Relay::use(const Config& config) {
  std::deque<Job> unstarted;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->scheduler.use_target_limits(per_target_limits(config, relay_.name));
    shared_->scheduler.use_windows(windows_of(config, relay_.name));
    // Letters claimed ahead and not yet begun go back to the queue: the
    // new config's targets may readdress them before they go.
    unstarted.swap(shared_->jobs);
    for (const auto& job : unstarted) shared_->scheduler.give_back(due_letter(job), job.claimed_at);
  }
  config_ = &config;
  campaigns_ = campaigns_through(config, relay_.name);
  return_to_queue(unstarted);
}

std::vector<std::string> Relay::copy_apart_campaigns() const {
  std::vector<std::string> out;
  for (const auto& name : campaigns_) {
    const CampaignConfig* campaign = config_->campaign(name);
    if (campaign && !campaign->return_path.empty() && campaign->copy_to_supporter) out.push_back(name);
  }
  return out;
}

Relay::Job Relay::job_for(StoredMessage m, TimePoint claimed_at) const {
  const CampaignConfig* campaign = config_->campaign(m.campaign);
  if (!campaign || campaign->return_path.empty()) {
    std::string from = m.from.address;
    return {std::move(m), claimed_at, std::move(from), {}};
  }
  // The supporter's copy shows its envelope sender as Return-Path: sent
  // with the letter's token, it would let its supporter make a bounce of
  // the letter that the check accepts, and enough of them hold the target.
  std::string mail_from = verp_address(campaign->return_path, m.id, key_);
  std::string copy_mail_from = m.copy_to.empty() ? std::string() : campaign->return_path;
  return {std::move(m), claimed_at, std::move(mail_from), std::move(copy_mail_from)};
}

bool Relay::has_due(TimePoint now) {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->scheduler.paused(now)) return false;
  }
  auto next = store_.next_due(relay_.name, campaigns_);
  return next && *next <= now;
}

bool Relay::busy() {
  std::lock_guard lock(shared_->mutex);
  return shared_->in_hand() > 0 || !shared_->unrecorded.empty() || shared_->recording > 0;
}

// The windows start from the log: the relay's at its first dispatch, each
// campaign's per_target ones before its letters are first planned. The
// reads run outside the lock, so the sessions never wait on them.
void Relay::seed(TimePoint now, const std::vector<StoredMessage>& due) {
  auto& scheduler = shared_->scheduler;
  std::unique_lock lock(shared_->mutex);
  if (scheduler.needs_relay_seeds()) {
    std::size_t count = scheduler.relay_seed_count();
    TimePoint since = scheduler.relay_seed_since(now);
    lock.unlock();
    auto sends = store_.recent_sends(relay_.name, count, since, copy_apart_campaigns());
    lock.lock();
    scheduler.seed_relay(sends);
  }
  std::set<std::string> campaigns;
  for (const auto& m : due) campaigns.insert(m.campaign);
  for (const auto& campaign : campaigns) {
    if (!scheduler.needs_target_seeds(campaign)) continue;
    TimePoint since = scheduler.target_seed_since(campaign, now);
    lock.unlock();
    auto sends = store_.recent_campaign_sends(campaign, since);
    lock.lock();
    scheduler.seed_targets(campaign, sends);
  }
}

std::optional<TimePoint> Relay::dispatch(TimePoint now) {
  // A hold lasts until its time, across dispatches that see nothing due.
  if (rate_hold_ && *rate_hold_ <= now) rate_hold_.reset();
  seed(now, {});
  for (;;) {
    int room;
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->stopping) return std::nullopt;
      if (shared_->scheduler.paused(now)) return shared_->scheduler.paused_until();
      room = shared_->scheduler.room(shared_->in_hand());
    }
    if (room == 0) return std::nullopt;  // a session finishing wakes the loop
    auto due = store_.due(relay_.name, campaigns_, now, room + kDuePerSession * relay_.connections);
    if (due.empty()) return store_.next_due(relay_.name, campaigns_);
    // A letter rendered for a row its target no longer has (retried, or
    // deferred by a try in flight across a reload) never goes as it is:
    // the loop resolves it again first. The others go on.
    if (std::erase_if(due, [this](const StoredMessage& m) { return !rendered_for_current_row(m, *config_); })) {
      stale_ = true;
      if (due.empty()) return std::nullopt;
    }
    seed(now, due);
    std::vector<Job> candidates;
    std::vector<DueLetter> letters;
    for (auto& m : due) {
      candidates.push_back(job_for(std::move(m), now));
      letters.push_back(due_letter(candidates.back()));
    }
    Plan plan;
    {
      std::lock_guard lock(shared_->mutex);
      plan = shared_->scheduler.plan(now, letters, room);
    }
    std::vector<Job> picked;
    for (long long id : plan.send) {
      auto job = std::find_if(candidates.begin(), candidates.end(), [id](const Job& j) { return j.message.id == id; });
      picked.push_back(std::move(*job));
    }
    // A claim counts in the limits until settled: one left behind by an
    // exception here would hold the relay back for good.
    try {
      for (const auto& hold : plan.hold) {
        store_.hold_target(hold.campaign, hold.target_id, hold.until);
        hold_until(hold.until);
      }
      if (!plan.outside.empty()) {
        std::vector<std::pair<long long, TimePoint>> waits;
        for (const auto& w : plan.outside) waits.emplace_back(w.id, w.until);
        store_.wait_for_window(waits);
      }
    } catch (...) {
      give_back(picked, {});
      throw;
    }
    hand_over(picked);
    if (plan.relay_slot) {
      hold_until(*plan.relay_slot);
      return plan.relay_slot;
    }
    if (plan.filled) return std::nullopt;
    if (plan.hold.empty() && plan.send.empty()) return store_.next_due(relay_.name, campaigns_);
  }
}

void Relay::hand_over(std::vector<Job>& picked) {
  if (picked.empty()) return;
  std::vector<long long> ids;
  for (const auto& job : picked) ids.push_back(job.message.id);
  std::vector<long long> claimed;
  try {
    claimed = store_.mark_sending(ids, picked.back().claimed_at);
  } catch (...) {
    give_back(picked, {});
    throw;
  }
  give_back(picked, claimed);
  {
    std::lock_guard lock(shared_->mutex);
    for (auto& job : picked)
      if (std::find(claimed.begin(), claimed.end(), job.message.id) != claimed.end())
        shared_->jobs.push_back(std::move(job));
  }
  if (claimed.size() == 1)
    shared_->work.notify_one();
  else if (!claimed.empty())
    shared_->work.notify_all();
}

// The rate slots of picked messages that were not claimed (another process
// took them, or the database refused) are free again.
void Relay::give_back(const std::vector<Job>& picked, const std::vector<long long>& claimed) {
  std::lock_guard lock(shared_->mutex);
  for (const auto& job : picked)
    if (std::find(claimed.begin(), claimed.end(), job.message.id) == claimed.end())
      shared_->scheduler.give_back(due_letter(job), job.claimed_at);
}

void Relay::begin_stop() {
  std::deque<Job> unstarted;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping) return;
    shared_->stopping = true;
    unstarted.swap(shared_->jobs);
  }
  shared_->work.notify_all();
  return_to_queue(unstarted);
}

void Relay::return_to_queue(const std::deque<Job>& unstarted) {
  if (unstarted.empty()) return;
  try {
    Store::Batch batch(store_);
    for (const auto& job : unstarted) store_.release(job.message.id, now_ms());
    batch.commit();
  } catch (const std::exception& e) {
    log_.error("{} claimed message(s): {}; they are queued again when letterd restarts", unstarted.size(), e.what());
  }
}

void Relay::stop() {
  begin_stop();
  {
    std::lock_guard lock(shared_->mutex);
    shared_->final_stop = true;
  }
  for (auto& t : sessions_)
    if (t.joinable()) t.join();
  sessions_.clear();
  // The sessions are done: what they finished is recorded before the recorder ends.
  {
    std::lock_guard lock(shared_->mutex);
    shared_->recorder_stopping = true;
  }
  shared_->record_work.notify_all();
  if (recorder_.joinable()) recorder_.join();
}

}  // namespace letterd
