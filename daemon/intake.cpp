#include "intake.h"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <set>

namespace letterd {

std::string new_message_id(const std::string& from_address) {
  static thread_local std::random_device device;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; ++i) {
    unsigned word = device();
    for (int j = 0; j < 8; ++j, word >>= 4) id += kHex[word & 0xF];
  }
  return id + ".letterd@" + address_domain(from_address);
}

std::string content_digest(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

Intake::Intake(const Config& config, Store& store, const QueueDir& queue, spdlog::logger& log)
    : config_(config), store_(store), queue_(queue), log_(log) {}

IntakeCounts Intake::run(std::size_t batch) {
  IntakeCounts total;
  for (const auto& name : queue_.waiting(batch)) {
    IntakeCounts one;
    try {
      one = take(name);
    } catch (const std::exception& e) {
      log_.error("cannot take {} now: {}; it stays in new/ for the next scan", name, e.what());
      continue;
    }
    total.accepted += one.accepted;
    total.rejected += one.rejected;
    total.messages += one.messages;
  }
  return total;
}

void Intake::reject(const std::string& name, const std::vector<std::string>& reasons, IntakeCounts& counts) {
  std::string joined;
  for (const auto& r : reasons) joined += (joined.empty() ? "" : "; ") + r;
  // The database row first: if the move fails the file is read again, and
  // a second row for it is better than none.
  store_.add_rejection(name, now_ms(), joined);
  std::string moved = queue_.reject(name, reasons);
  // The reasons can quote what the supporter wrote: they stay in the .error
  // file and the database, and the log says only how many there are.
  log_.warn("rejected {}: {} problem(s), listed in {}/rejected/{}.error", name, reasons.size(), queue_.root(), moved);
  ++counts.rejected;
}

IntakeCounts Intake::take(const std::string& name) {
  IntakeCounts counts;
  std::string error;
  auto text = queue_.read(name, kMaxSubmissionBytes, error);
  if (!text) {
    if (error.empty()) return counts;  // taken away meanwhile: nothing to do
    reject(name, {error}, counts);
    return counts;
  }

  std::string digest = content_digest(*text);
  if (store_.already_accepted(name, digest)) {
    // Committed before a crash kept us from removing the file: finish that.
    log_.info("{} was already accepted; removing it", name);
    queue_.finish_accepted(name, config_.keep_accepted);
    return counts;
  }

  TimePoint now = now_ms();
  Problems problems;
  std::optional<CheckedSubmission> checked;
  try {
    checked = check_submission(*text, name, now, config_, problems);
  } catch (const std::exception& e) {
    // A file the checks could not handle is rejected visibly, never left
    // in new/ to fail at every scan.
    problems.push_back({"", std::string("letterd could not check this file: ") + e.what()});
  }
  if (!checked) {
    std::vector<std::string> reasons;
    for (const auto& p : problems) reasons.push_back(p.text());
    reject(name, reasons, counts);
    return counts;
  }
  Submission* submission = &checked->submission;
  std::vector<PlannedMessage>* planned = &checked->messages;

  if (auto source = store_.submission_source(submission->campaign, submission->id)) {
    reject(name, {"duplicate: submission id " + submission->id + " was already accepted from " + *source}, counts);
    return counts;
  }

  const CampaignConfig& campaign = *config_.campaign(submission->campaign);
  std::vector<Store::NewMessage> messages;
  std::vector<std::string> duplicates;
  std::set<std::string> targets_planned;
  for (auto& p : *planned) {
    bool again = !targets_planned.insert(p.target_id).second;
    if (!campaign.allow_repeat &&
        (again || store_.supporter_wrote_to(campaign.name, submission->supporter_email, p.target_id))) {
      duplicates.push_back("duplicate: this supporter already wrote to " + p.target_id + " (letter " + p.letter + ")");
      continue;
    }
    messages.push_back({std::move(p), new_message_id(campaign.from_address), campaign.relay});
  }
  if (messages.empty()) {
    reject(name, duplicates, counts);
    return counts;
  }
  std::string duplicate_text;
  for (const auto& d : duplicates) duplicate_text += (duplicate_text.empty() ? "" : "; ") + d;
  store_.accept(*submission, name, digest, now, messages, duplicate_text);
  queue_.finish_accepted(name, config_.keep_accepted);
  log_.info("accepted {}: submission {} of {}, {} message(s){}", name, submission->id, campaign.name,
            messages.size(), duplicates.empty() ? "" : ", " + std::to_string(duplicates.size()) + " duplicate(s) skipped");
  ++counts.accepted;
  counts.messages += static_cast<int>(messages.size());
  return counts;
}

}  // namespace letterd
