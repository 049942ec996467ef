// What came back: each mail in the bounce mailbox read once, matched to its
// letter and recorded (SPEC "Delivery truth"). A mail names its letter by
// the return path's token in the addresses it was sent to, whose keyed
// check must hold, else by the Message-ID it gives back; a token whose
// check fails is a forgery and marks nothing.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bounce.h"
#include "config.h"
#include "return_path.h"
#include "store.h"

namespace letterd {

// The letter a return path's token in the report's addresses names.
// `forged` when an address is one of the return paths with a token whose
// check fails: the mail then names no letter, whatever else it says.
struct TokenMatch {
  std::optional<long long> letter;
  bool forged = false;
};
TokenMatch letter_by_token(const BounceReport& report, const std::vector<std::string>& return_paths,
                           const ReturnPathKey& key);

// Whether a hard bounce is of the letter's own recipient, not of the
// supporter's copy sent with it: a report must name the recipient among
// those that failed; an older bounce must name it, or the letter had no copy.
bool returns_the_letter(const BounceReport& report, std::string_view recipient, bool with_copy);

// Whether an automatic reply came from the recipient's system (its From
// in the recipient's domain), not from the supporter's out-of-office.
bool answered_by_recipient(const BounceReport& report, std::string_view recipient);

// Why letterd holds the letters to an address that bounced
// bounces.hold_target_after times: until the targets file gives the target
// another address and letterd reloads (or an organiser releases them).
std::string bouncing_reason(const std::string& target_id);

// Whether letters of a campaign to `address` of `target_id` should wait
// because that address bounces.
bool address_bounces(Store& store, const Config& config, const std::string& campaign, const std::string& target_id,
                     const std::string& address);

struct BounceCounts {
  int read = 0, bounced = 0, hard = 0, delays = 0, auto_replies = 0, unparsed = 0, unmatched = 0, forged = 0;
  int unreadable = 0;  // files that could not be read or recorded: left in new/
  int looked_at = 0;   // mails taken from the mailbox, those recorded before included
  std::string summary() const;
  BounceCounts& operator+=(const BounceCounts& more);
};

class BounceIntake {
 public:
  BounceIntake(Store& store, const Config& config, const ReturnPathKey& key, spdlog::logger& log);

  // Records one mail read from `where` ("maildir:NAME", "imap:UID"), unless
  // the same mail was recorded before, wherever it was read.
  void take(const std::string& where, std::string_view raw, TimePoint now, BounceCounts& counts);

  // Reads up to `limit` mails from the Maildir's new/, oldest name first:
  // each recorded, then moved to cur/ with flag S. One that cannot be
  // recorded stays in new/ for the next poll.
  BounceCounts read_maildir(TimePoint now, std::size_t limit);

  // Reads up to `limit` new mails of the config's IMAP mailbox, each
  // recorded; then the batch is remembered as read (the last UID looked
  // at). Throws when the server cannot be read; what was recorded stays
  // recorded, and the batch is read again (each mail counted once).
  BounceCounts read_imap(TimePoint now, std::size_t limit);

  // The config's mailbox, whichever kind it is.
  BounceCounts read_mailbox(TimePoint now, std::size_t limit) {
    return config_.bounces.url.empty() ? read_maildir(now, limit) : read_imap(now, limit);
  }

  // Everything waiting in the config's mailbox, `batch` mails at a time
  // (each held whole, at most 1 MiB), each committed as it is read; when
  // `stop` is set, no further batch.
  BounceCounts read_all(std::size_t batch = 64, const std::atomic<bool>* stop = nullptr);

 private:
  Store& store_;
  const Config& config_;
  const ReturnPathKey key_;
  spdlog::logger& log_;
  std::vector<std::string> return_paths_;
};

}  // namespace letterd
