#include "engine.h"

namespace letterd {

Engine::Engine(Store& store, std::string database, spdlog::logger& log, int wake_fd)
    : store_(store), database_(std::move(database)), log_(log), wake_fd_(wake_fd), key_(store.return_path_key()) {}

Engine::~Engine() {
  stop();
}

void Engine::start(std::unique_ptr<Config> next) {
  // Letters waiting for a window or a target's limit that this config may
  // no longer have are due again, for its windows and limits to plan: a
  // window removed or widened lets them go now.
  for (const auto& [name, campaign] : next->campaigns) store_.make_queued_due(name, now_ms());
  std::map<std::string, std::unique_ptr<Relay>> fresh;
  std::vector<std::string> kept;
  for (const auto& [name, relay] : next->relays) {
    auto old = relays_.find(name);
    if (old != relays_.end() && old->second->relay_config() == relay && old->second->retry_policy() == next->retry) {
      kept.push_back(name);
      continue;
    }
    fresh.emplace(name, std::make_unique<Relay>(relay, *next, store_, database_, log_, wake_fd_, key_));
  }
  for (auto& name : kept) {
    fresh.emplace(name, std::move(relays_[name]));
    fresh[name]->use(*next);
  }
  for (auto& [name, relay] : relays_) {
    if (!relay) continue;  // kept
    relay->begin_stop();
    retiring_.push_back(std::move(relay));
  }
  relays_ = std::move(fresh);
  config_ = std::move(next);

  // A campaign moved to another relay takes its waiting letters along;
  // letters of a campaign no longer configured wait, and say so.
  std::vector<std::string> names;
  for (const auto& [name, campaign] : config_->campaigns) {
    names.push_back(name);
    if (int moved = store_.rehome_waiting(name, campaign.relay))
      log_.warn("{} waiting message(s) of campaign {} now go through relay {}", moved, name, campaign.relay);
  }
  for (const auto& orphan : store_.waiting_outside(names))
    log_.error("{} {} message(s) of campaign {} wait, but the config has no such campaign; they are not sent",
               orphan.count, to_string(orphan.status), orphan.campaign);
}

Engine::Wake Engine::dispatch(TimePoint now) {
  reap();
  Wake wake;
  auto earliest = [](std::optional<TimePoint>& into, TimePoint t) { into = into ? std::min(*into, t) : t; };
  for (auto& [name, relay] : relays_) {
    if (retiring_as(name)) continue;  // a session finishing there wakes the loop
    if (auto when = relay->dispatch(now)) earliest(wake.at, *when);
    if (auto hold = relay->rate_hold()) earliest(wake.rate_hold, *hold);
    if (relay->take_stale()) wake.resolve_targets = true;
  }
  return wake;
}

bool Engine::has_due(TimePoint now) {
  for (auto& [name, relay] : relays_)
    if (relay->has_due(now)) return true;
  return false;
}

void Engine::reap() {
  std::erase_if(retiring_, [](const std::unique_ptr<Relay>& r) {
    if (r->busy()) return false;
    r->stop();
    return true;
  });
}

bool Engine::retiring_as(const std::string& name) const {
  for (const auto& relay : retiring_)
    if (relay->relay_config().name == name) return true;
  return false;
}

bool Engine::busy() {
  for (auto& [name, relay] : relays_)
    if (relay->busy()) return true;
  for (auto& relay : retiring_)
    if (relay->busy()) return true;
  return false;
}

void Engine::stop() {
  for (auto& [name, relay] : relays_) relay->begin_stop();
  for (auto& [name, relay] : relays_) relay->stop();
  for (auto& relay : retiring_) relay->stop();
  relays_.clear();
  retiring_.clear();
}

}  // namespace letterd
