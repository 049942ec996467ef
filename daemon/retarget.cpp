#include "retarget.h"

#include <algorithm>
#include <set>

#include "bounce_intake.h"

namespace letterd {

namespace {

// Letters read, resolved and written back at a time: each slice is one
// short transaction.
constexpr int kSlice = 256;

std::string changed_columns(const TargetRow& was, const TargetRow& is) {
  std::set<std::string> names;
  for (const auto& [column, value] : was)
    if (auto now = is.find(column); now == is.end() || now->second != value) names.insert(column);
  for (const auto& [column, value] : is)
    if (!was.count(column)) names.insert(column);
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

bool rendered_for_current_row(const StoredMessage& message, const Config& config) {
  if (message.target_row.empty() || message.target_row == kReleasedAsWritten) return true;
  const CampaignConfig* campaign = config.campaign(message.campaign);
  const LetterConfig* letter = campaign ? campaign->letter(message.letter) : nullptr;
  if (!letter) return true;
  if (letter->route == LetterConfig::Route::target && letter->target_id != message.target_id) return false;
  const Target* target = campaign->targets->by_id(message.target_id);
  return target && target->fingerprint == message.target_row;
}

std::string why_resolve_again(const LetterConfig& letter, const std::string& target_id, const TargetRow* known,
                              const Target* now) {
  if (!now) return "it is no longer in the campaign's targets";
  if (letter.route == LetterConfig::Route::target && letter.target_id != target_id)
    return "letter " + letter.name + " now goes to target " + letter.target_id;
  bool vacant = is_vacant(now->columns);
  if (!known) return vacant ? "it is vacant" : "letterd has no record of the row its letters were rendered for";
  if (*known == now->columns) return {};
  bool was_vacant = is_vacant(*known);
  if (vacant && !was_vacant) return "it is vacant";
  if (was_vacant && !vacant) return "its seat is filled";
  return "its row changed: " + changed_columns(*known, now->columns);
}

bool same_letter(const PlannedMessage& a, const PlannedMessage& b) {
  auto same_mailbox = [](const Mailbox& x, const Mailbox& y) {
    return x.display_name == y.display_name && x.address == y.address;
  };
  bool same_reply_to =
      a.reply_to.has_value() == b.reply_to.has_value() && (!a.reply_to || same_mailbox(*a.reply_to, *b.reply_to));
  return a.letter == b.letter && a.target_id == b.target_id && same_mailbox(a.to, b.to) &&
         same_mailbox(a.from, b.from) && same_reply_to && a.copy_to == b.copy_to && a.subject == b.subject &&
         a.body == b.body && a.reflect == b.reflect;
}

LetterFate fate_of(const Store::WaitingLetter& waiting, const Replanned& replanned, bool already_wrote) {
  const StoredMessage& was = waiting.message;
  const bool held_by_letterd = was.status == MessageStatus::held && !waiting.organiser_hold;
  const PlannedMessage* now = replanned.message ? &*replanned.message : nullptr;
  const bool moved = now && now->target_id != was.target_id;
  std::string reason = now ? now->hold_reason : replanned.hold_reason;
  if (reason.empty() && moved && already_wrote)
    reason = "the supporter already has a letter to target " + now->target_id;
  const bool rewritten = now && (!same_letter(*now, was.planned()) || now->target_row != was.target_row);

  LetterFate fate;
  Store::Readdress change{.id = was.id, .moved = moved};
  if (rewritten) change.planned = *now;
  if (!reason.empty()) {
    bool unchanged = held_by_letterd && waiting.hold_reason == reason;
    fate.kind = unchanged ? LetterFate::Kind::still_held : LetterFate::Kind::held;
    fate.hold_reason = reason;
    change.hold_reason = reason;
    if (!unchanged || rewritten) fate.change = std::move(change);
    return fate;
  }
  if (held_by_letterd) {
    fate.kind = LetterFate::Kind::released;
    if (moved) fate.new_target = now->target_id;
    change.planned = *now;  // the store releases a letter it is given
    fate.change = std::move(change);
    return fate;
  }
  if (!rewritten) return fate;
  if (moved) {
    fate.kind = LetterFate::Kind::moved;
    fate.new_target = now->target_id;
  } else if (!same_letter(*now, was.planned())) {
    fate.kind = LetterFate::Kind::rendered_again;
  }
  fate.change = std::move(change);
  return fate;
}

void RetargetTally::count(const std::string& campaign, const std::string& target_id, const std::string& why,
                          const LetterFate& fate) {
  Counts& c = targets_[{campaign, target_id}];
  c.why = why;
  switch (fate.kind) {
    case LetterFate::Kind::unchanged:
      break;
    case LetterFate::Kind::rendered_again:
      ++c.rendered_again;
      break;
    case LetterFate::Kind::moved:
      ++c.moved[fate.new_target];
      break;
    case LetterFate::Kind::held:
      ++c.held[fate.hold_reason];
      break;
    case LetterFate::Kind::released:
      ++c.released[fate.new_target];
      break;
    case LetterFate::Kind::still_held:
      ++c.still[fate.hold_reason];
      break;
    case LetterFate::Kind::organiser_held:
      ++c.organiser_held;
      break;
  }
}

std::vector<RetargetTally::Line> RetargetTally::lines() const {
  std::vector<Line> out;
  for (const auto& [key, c] : targets_) {
    std::string parts;
    auto add = [&parts](const std::string& part) { parts += (parts.empty() ? "" : "; ") + part; };
    if (c.rendered_again) add(std::to_string(c.rendered_again) + " letter(s) rendered again for it as it is now");
    for (const auto& [to, n] : c.moved) add(std::to_string(n) + " letter(s) now go to target " + to);
    for (const auto& [to, n] : c.released)
      add(std::to_string(n) + " letter(s) released" + (to.empty() ? "" : " to target " + to) + ", to send now");
    for (const auto& [reason, n] : c.held) add(std::to_string(n) + " letter(s) held (" + reason + ")");
    for (const auto& [reason, n] : c.still) add(std::to_string(n) + " letter(s) still held (" + reason + ")");
    if (c.organiser_held)
      add(std::to_string(c.organiser_held) + " letter(s) rendered for it wait on an organiser's hold");
    if (parts.empty()) continue;
    out.push_back({.warning = !c.held.empty() || !c.still.empty(),
                   .text = "campaign " + key.first + ", target " + key.second + ": " + c.why + "; " + parts});
  }
  return out;
}

namespace {

// The letters of one group, a slice at a time.
void resolve_group(Store& store, const Config& config, const PostcodeFinder& postcodes,
                   const Store::WaitingGroup& group, const TargetRow* former, const std::string& why,
                   RetargetTally& tally, TimePoint now) {
  const CampaignConfig& campaign = *config.campaign(group.campaign);
  LetterToReplan replan{.letter = group.letter, .target_id = group.target_id, .former_row = former};
  for (long long after = 0;;) {
    auto slice = store.waiting_letters(group, after, kSlice);
    std::vector<LetterFate> fates;
    std::vector<Store::Readdress> changes;
    for (const auto& waiting : slice) {
      after = waiting.message.id;
      Replanned replanned;
      if (!waiting.problem.empty()) {
        replanned.hold_reason = "cannot be rendered again: " + waiting.problem;
      } else {
        replan.reflect = waiting.message.reflect;
        replan.fields_known = waiting.fields_known;
        try {
          replanned = replan_letter(waiting.submission, config, replan, postcodes);
        } catch (const std::exception& e) {
          replanned = {.hold_reason = std::string("cannot be resolved again: ") + e.what()};
        }
      }
      if (replanned.message && replanned.message->hold_reason.empty() && !replanned.message->reflect &&
          address_bounces(store, config, group.campaign, replanned.message->target_id, replanned.message->to.address))
        replanned.message->hold_reason = bouncing_reason(replanned.message->target_id);
      bool already_wrote = false;
      if (replanned.message && replanned.message->target_id != waiting.message.target_id && !campaign.allow_repeat &&
          !waiting.message.reflect)
        already_wrote =
            store.supporter_wrote_to(group.campaign, waiting.submission.supporter_email, replanned.message->target_id);
      fates.push_back(fate_of(waiting, replanned, already_wrote));
      if (fates.back().change) changes.push_back(*fates.back().change);
    }
    auto taken = store.readdress(changes, now);
    for (auto& fate : fates) {
      if (fate.change && std::find(taken.begin(), taken.end(), fate.change->id) != taken.end())
        fate.kind = LetterFate::Kind::organiser_held;
      tally.count(group.campaign, group.target_id, why, fate);
    }
    if (slice.size() < static_cast<std::size_t>(kSlice)) break;
  }
}

}  // namespace

int retarget_waiting_letters(Store& store, const Config& config, const PostcodeFinder& postcodes, spdlog::logger& log,
                             TimePoint now) {
  int failed = 0;
  std::vector<const Target*> current;
  for (const auto& [name, campaign] : config.campaigns)
    for (const auto& id : campaign.targets->ids()) current.push_back(campaign.targets->by_id(id));
  store.remember_target_rows(current);

  RetargetTally tally;
  for (const auto& group : store.waiting_groups()) {
    const CampaignConfig* campaign = config.campaign(group.campaign);
    const LetterConfig* letter = campaign ? campaign->letter(group.letter) : nullptr;
    // A campaign no longer configured waits (the engine says so); a letter
    // no longer configured goes as written.
    if (!letter) continue;
    if (group.target_row == kReleasedAsWritten) continue;  // the organiser's decision
    const Target* target = campaign->targets->by_id(group.target_id);
    const bool goes_there = letter->route != LetterConfig::Route::target || letter->target_id == group.target_id;
    if (target && goes_there && group.target_row == target->fingerprint) continue;
    try {
      std::optional<TargetRow> former;
      std::string why;
      if (!group.target_row.empty()) {
        former = store.target_row(group.target_row);
      } else if (target && goes_there && !is_vacant(target->columns)) {
        // Accepted before letterd kept rows: those written for the row as it
        // is keep their words; the rest (held, or for an older name or
        // address) are resolved again.
        store.adopt_target_row(group, *target);
        why = "its row changed before letterd recorded rows";
      }
      if (why.empty()) why = why_resolve_again(*letter, group.target_id, former ? &*former : nullptr, target);
      if (why.empty()) why = "its row was recorded otherwise";
      resolve_group(store, config, postcodes, group, former ? &*former : nullptr, why, tally, now);
    } catch (const std::exception& e) {
      // One target's trouble (an unreadable row) leaves the others' letters to be resolved.
      log.error("campaign {}, target {}: its waiting letters cannot be resolved again ({}); they wait", group.campaign,
                group.target_id, e.what());
      ++failed;
    }
  }
  for (const auto& line : tally.lines()) {
    if (line.warning)
      log.warn("{}", line.text);
    else
      log.info("{}", line.text);
  }
  return failed;
}

}  // namespace letterd
