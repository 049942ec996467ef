#include "intake.h"

#include <cstdint>
#include <cstdio>
#include <random>
#include <set>

#include "bounce_intake.h"
#include "postcode.h"

namespace letterd {

std::string new_message_id(const std::string& from_address) {
  static thread_local std::random_device device;
  static constexpr char kHex[] = "0123456789abcdef";
  // The time first, in fixed-width hex: each new id sorts after the last,
  // so the log's unique index on message_id grows at its end instead of
  // touching a random page of a million-row index at every insert. The
  // 128 random bits after it keep ids unguessable and unique.
  std::string id;
  auto ms = static_cast<unsigned long long>(now_ms().time_since_epoch().count());
  for (int shift = 44; shift >= 0; shift -= 4) id += kHex[(ms >> shift) & 0xF];
  id += '.';
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

Intake::Intake(const Config& config, Store& store, const QueueDir& queue, spdlog::logger& log, LogOnce& quiet,
               TimePoint now, PostcodeFinder postcodes)
    : config_(config),
      store_(store),
      queue_(queue),
      log_(log),
      now_(now),
      postcodes_(std::move(postcodes)),
      quiet_(quiet) {}

void Intake::cannot_take_now(const std::string& what, const std::string& why) {
  long long repeats = 0;
  if (!quiet_.due(why, now_ms(), repeats)) return;
  log_.error(
      "cannot take {} now: {}; it stays in new/ for the next scan{}", what, why,
      repeats ? " (" + std::to_string(repeats) + " more file(s) or scan(s) hit the same since it was last said)" : "");
}

namespace {

std::string joined(const std::vector<std::string>& reasons) {
  std::string out;
  for (const auto& r : reasons) out += (out.empty() ? "" : "; ") + r;
  return out;
}

// Files a commit: enough that the disk's sync is shared widely, few enough
// that the write lock is never held long from the sessions recording sends.
constexpr std::size_t kFilesPerCommit = 64;

}  // namespace

struct Intake::Checked {
  std::string name, digest;
  TimePoint received_at;
  CheckedSubmission checked;
  // Set by commit(): what the log says once the commit holds, or why the
  // file is moved to rejected/ once it holds.
  std::size_t accepted_messages = 0, duplicates = 0;
  std::vector<std::string> rejection;
};

IntakeCounts Intake::run(const std::vector<std::string>& names) {
  IntakeCounts total;
  for (std::size_t first = 0; first < names.size(); first += kFilesPerCommit) {
    std::vector<Checked> group;
    for (std::size_t i = first; i < std::min(names.size(), first + kFilesPerCommit); ++i) {
      try {
        if (auto checked = check(names[i], total)) group.push_back(std::move(*checked));
      } catch (const std::exception& e) {
        cannot_take_now(names[i], e.what());
      }
    }
    if (group.empty()) continue;
    IntakeCounts counts;
    std::vector<std::string> done;
    try {
      done = commit(group, counts);
    } catch (const std::exception& e) {
      cannot_take_now(std::to_string(group.size()) + " file(s)", e.what());
      continue;
    }
    // A commit into a database deleted or replaced meanwhile is read by no
    // one: the files stay in new/ for a daemon with a database to take.
    if (auto problem = store_.identity_problem(); !problem.empty()) throw DatabaseGone(problem);
    total.accepted += counts.accepted;
    total.messages += counts.messages;
    for (const auto& file : group) {
      if (!file.rejection.empty()) {
        try {
          move_rejected(file.name, file.rejection, total);
        } catch (const std::exception& e) {
          log_.error("cannot move {} to rejected/ now: {}; it stays in new/ for the next scan", file.name, e.what());
        }
      }
      if (!file.accepted_messages) continue;
      log_.info("accepted {}: submission {} of {}, {} message(s){}", file.name, file.checked.submission.id,
                file.checked.submission.campaign, file.accepted_messages,
                file.duplicates ? ", " + std::to_string(file.duplicates) + " duplicate(s) skipped" : "");
    }
    try {
      finish_accepted(done);
    } catch (const std::exception& e) {
      // Committed: when read again the file is known by its name and bytes, and removed then.
      log_.error("{}; accepted files left in new/ are removed at the next scan", e.what());
    }
  }
  return total;
}

void Intake::reject(const std::string& name, const std::vector<std::string>& reasons, IntakeCounts& counts) {
  // The database row first: if the move fails the file is read again, and
  // a second row for it is better than none.
  store_.add_rejection(name, now_ms(), joined(reasons));
  move_rejected(name, reasons, counts);
}

void Intake::move_rejected(const std::string& name, const std::vector<std::string>& reasons, IntakeCounts& counts) {
  std::string moved;
  try {
    moved = queue_.reject(name, reasons);
  } catch (const MoveNotDurable& e) {
    // In rejected/ now: said so, and rejected again should a crash bring it back.
    log_.error("{}", e.what());
    moved = e.name;
  }
  // The reasons can quote what the supporter wrote: they stay in the .error
  // file and the database, and the log says only how many there are.
  log_.warn("rejected {}: {} problem(s), listed in {}/rejected/{}.error", name, reasons.size(), queue_.root(), moved);
  ++counts.rejected;
}

void Intake::finish_accepted(const std::vector<std::string>& names) {
  try {
    queue_.finish_accepted(names, config_.keep_accepted);
  } catch (const MoveNotDurable& e) {
    // Out of new/ now: said so, and finished again should a crash bring them back.
    log_.error("{}", e.what());
  }
}

std::optional<Intake::Checked> Intake::check(const std::string& name, IntakeCounts& counts) {
  WaitingFile waiting = queue_.read(name, kMaxSubmissionBytes);
  // What a writer did wrong, for every file it wrote in new/ itself.
  const std::string in_place = "written in place: write to tmp/ and rename into new/";
  switch (waiting.state) {
    case WaitingFile::State::readable:
      break;
    case WaitingFile::State::gone:
      return std::nullopt;  // taken away meanwhile: nothing to do
    case WaitingFile::State::being_written:
      // Read again once its writer closes it (inotify wakes the daemon), never rejected half-written.
      if (waiting.first_report)
        log_.info("{} is being written in new/; it is read once its writer closes it ({})", name, in_place);
      return std::nullopt;
    case WaitingFile::State::directory:
      // Left where it is: letterd moves only what it could have read. Said once a run, not at every scan.
      if (waiting.first_report)
        log_.warn("new/{} is {}; it is left there for the operator to remove", name, waiting.error);
      return std::nullopt;
    case WaitingFile::State::unreadable: {
      std::vector<std::string> reasons{waiting.error};
      if (waiting.written_in_place) reasons.insert(reasons.begin(), in_place);
      reject(name, reasons, counts);
      return std::nullopt;
    }
  }
  const std::string& text = waiting.text;

  std::string digest = content_digest(text);
  if (store_.already_accepted(name, digest)) {
    // Committed before a crash kept us from removing the file: finish that.
    log_.info("{} was already accepted; removing it", name);
    finish_accepted({name});
    return std::nullopt;
  }

  const TimePoint now = now_;
  Problems problems;
  std::optional<CheckedSubmission> checked;
  try {
    checked = check_submission(text, name, now, config_, problems, postcodes_);
  } catch (const PostcodeLookupUnavailable& e) {
    // The lookup is letterd's to have: the file waits in new/ for it.
    cannot_take_now(name, e.what());
    return std::nullopt;
  } catch (const std::exception& e) {
    // A file the checks could not handle is rejected visibly, never left
    // in new/ to fail at every scan. What the exception quotes after its
    // first ':' (yaml-cpp names a key there) may be the supporter's words.
    std::string what = e.what();
    problems.push_back({"", "letterd could not check this file: " + what.substr(0, what.find(':'))});
  }
  if (!checked) {
    std::vector<std::string> reasons;
    // First: it may be why the rest is wrong (letterd read it half-written).
    if (waiting.written_in_place) reasons.push_back(in_place);
    for (const auto& p : problems) reasons.push_back(p.text());
    reject(name, reasons, counts);
    return std::nullopt;
  }
  if (waiting.written_in_place) log_.warn("{} was {}: letterd could have read it half-written", name, in_place);
  Checked file;
  file.name = name;
  file.digest = std::move(digest);
  file.received_at = now;
  file.checked = std::move(*checked);
  return file;
}

// The review rules, against the letters to the same target before it: a
// letter that trips one waits as `held` for an organiser to read.
void Intake::review(const CampaignConfig& campaign, const Submission& submission, Store::NewMessage& message,
                    TimePoint now) {
  message.note = sketch_note(submission.personal_note.value_or(""));
  if (submission.postcode) message.postcode = canonical_postcode(*submission.postcode).value_or(*submission.postcode);
  // Judged even when it is held already (a vacant seat, a bouncing address):
  // those holds end by themselves, a review's only by an organiser.
  ReviewEvidence evidence = store_.review_evidence(campaign.name, message.planned.target_id, *message.note,
                                                   message.postcode, now, *campaign.review);
  if (auto verdict = review_verdict(*campaign.review, evidence)) {
    message.planned.hold_reason = verdict->reason;
    message.review_rule = verdict->rule;
  }
}

bool Intake::commit_one(Checked& file, IntakeCounts& counts) {
  Submission& submission = file.checked.submission;
  if (auto source = store_.submission_source(submission.campaign, submission.id)) {
    file.rejection = {"duplicate: submission id " + submission.id + " was already accepted from " + *source};
    store_.add_rejection(file.name, now_ms(), joined(file.rejection));
    return false;
  }
  const CampaignConfig& campaign = *config_.campaign(submission.campaign);
  std::vector<Store::NewMessage> messages;
  std::vector<std::string> duplicates;
  std::set<std::string> targets_planned;
  for (auto& p : file.checked.messages) {
    bool again = !targets_planned.insert(p.target_id).second;
    if (!campaign.allow_repeat &&
        (again || store_.supporter_wrote_to(campaign.name, submission.supporter_email, p.target_id))) {
      duplicates.push_back("duplicate: this supporter already wrote to " + p.target_id + " (letter " + p.letter + ")");
      continue;
    }
    // An address that keeps bouncing gets no more letters until it is corrected.
    if (p.hold_reason.empty() && !p.reflect &&
        address_bounces(store_, config_, campaign.name, p.target_id, p.to.address))
      p.hold_reason = bouncing_reason(p.target_id);
    Store::NewMessage message{std::move(p), new_message_id(campaign.from_address), campaign.relay};
    if (campaign.review && !message.planned.reflect) review(campaign, submission, message, file.received_at);
    if (const LetterConfig* letter = campaign.letter(message.planned.letter);
        letter && letter->digest && !message.planned.reflect) {
      const SendingWindow* window = campaign.window_for(letter->name);
      message.collect_until = next_digest_time(*letter->digest, window, file.received_at);
    }
    messages.push_back(std::move(message));
  }
  if (messages.empty()) {
    file.rejection = duplicates;
    store_.add_rejection(file.name, now_ms(), joined(file.rejection));
    return false;
  }
  // The log keeps what a letter may be rendered from again, and no more.
  std::erase_if(submission.fields,
                [used = campaign.fields_used()](const auto& field) { return !used.count(field.first); });
  store_.accept(submission, file.name, file.digest, file.received_at, messages, joined(duplicates));
  file.accepted_messages = messages.size();
  file.duplicates = duplicates.size();
  ++counts.accepted;
  counts.messages += static_cast<int>(messages.size());
  return true;
}

std::vector<std::string> Intake::commit(std::vector<Checked>& files, IntakeCounts& counts) {
  std::vector<std::string> done;
  // Duplicates are judged inside the transaction: it sees the files of its
  // own group that went before.
  Store::Batch batch(store_);
  for (auto& file : files) {
    try {
      if (commit_one(file, counts)) done.push_back(file.name);
    } catch (const std::exception& e) {
      // Some errors (a full disk) end the whole transaction: then the group stays in new/.
      if (!batch.open()) throw;
      // accept() rolled back its own rows; the rest of the group goes on.
      file.rejection.clear();
      cannot_take_now(file.name, e.what());
    }
  }
  batch.commit();
  return done;
}

}  // namespace letterd
