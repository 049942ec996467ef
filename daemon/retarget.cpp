#include "retarget.h"

#include <set>

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

std::map<std::string, TargetRow> rows_of(const Targets& targets) {
  std::map<std::string, TargetRow> rows;
  for (const auto& id : targets.ids()) rows[id] = targets.by_id(id)->columns;
  return rows;
}

}  // namespace

std::string why_resolve_again(const LetterConfig& letter, const std::string& target_id, const TargetRow* known,
                              const Target* now) {
  if (!now) return "it is no longer in the campaign's targets";
  if (letter.route == LetterConfig::Route::target && letter.target_id != target_id)
    return "letter " + letter.name + " now goes to target " + letter.target_id;
  if (!known) return "its row is new to letterd";
  if (*known == now->columns) return {};
  bool was_vacant = is_vacant(*known), vacant = is_vacant(now->columns);
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

LetterFate fate_of(const Store::WaitingLetter& waiting, const Replanned& replanned) {
  const StoredMessage& was = waiting.message;
  const bool held_by_letterd = was.status == MessageStatus::held && !waiting.organiser_hold;
  const std::string& reason = replanned.message ? replanned.message->hold_reason : replanned.hold_reason;
  const bool rewritten = replanned.message && !same_letter(*replanned.message, was.planned());

  LetterFate fate;
  Store::Readdress change{.id = was.id};
  if (rewritten) change.planned = replanned.message;
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
    if (replanned.message->target_id != was.target_id) fate.new_target = replanned.message->target_id;
    change.planned = replanned.message;  // the store releases a letter it is given
    fate.change = std::move(change);
    return fate;
  }
  if (!rewritten) return fate;
  if (replanned.message->target_id != was.target_id) {
    fate.kind = LetterFate::Kind::moved;
    fate.new_target = replanned.message->target_id;
  } else {
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
    if (parts.empty()) continue;
    out.push_back({.warning = !c.held.empty() || !c.still.empty(),
                   .text = "campaign " + key.first + ", target " + key.second + ": " + c.why + "; " + parts});
  }
  return out;
}

void retarget_waiting_letters(Store& store, const Config& config, const PostcodeFinder& postcodes, spdlog::logger& log,
                              TimePoint now) {
  std::map<std::string, std::map<std::string, TargetRow>> known;
  auto known_of = [&](const std::string& campaign) -> const std::map<std::string, TargetRow>& {
    auto it = known.find(campaign);
    if (it == known.end()) it = known.emplace(campaign, store.known_targets(campaign)).first;
    return it->second;
  };
  RetargetTally tally;
  for (const auto& group : store.waiting_groups()) {
    const CampaignConfig* campaign = config.campaign(group.campaign);
    const LetterConfig* letter = campaign ? campaign->letter(group.letter) : nullptr;
    // A campaign no longer configured waits (the engine says so); a letter
    // no longer configured goes as written.
    if (!letter) continue;
    const auto& rows = known_of(group.campaign);
    auto row = rows.find(group.target_id);
    const TargetRow* was = row == rows.end() ? nullptr : &row->second;
    std::string why = why_resolve_again(*letter, group.target_id, was, campaign->targets->by_id(group.target_id));
    if (why.empty()) continue;
    LetterToReplan replan{.letter = group.letter, .target_id = group.target_id, .former_row = was};
    for (long long after = 0;;) {
      auto slice = store.waiting_letters(group, after, kSlice);
      std::vector<Store::Readdress> changes;
      for (const auto& waiting : slice) {
        after = waiting.message.id;
        replan.reflect = waiting.message.reflect;
        replan.fields_known = waiting.fields_known;
        LetterFate fate = fate_of(waiting, replan_letter(waiting.submission, config, replan, postcodes));
        tally.count(group.campaign, group.target_id, why, fate);
        if (fate.change) changes.push_back(std::move(*fate.change));
      }
      store.readdress(changes, now);
      if (slice.size() < static_cast<std::size_t>(kSlice)) break;
    }
  }
  for (const auto& line : tally.lines()) {
    if (line.warning)
      log.warn("{}", line.text);
    else
      log.info("{}", line.text);
  }
  // Recorded last: a crash before this leaves the targets unrecorded, and
  // the next start resolves their letters again, which changes nothing twice.
  for (const auto& [name, campaign] : config.campaigns) {
    auto rows = rows_of(*campaign.targets);
    if (rows == known_of(name)) continue;
    std::vector<TargetRow> list;
    for (auto& [id, columns] : rows) list.push_back(std::move(columns));
    store.remember_targets(name, list);
  }
}

}  // namespace letterd
