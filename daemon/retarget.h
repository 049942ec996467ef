// Targets that change (SPEC "Targets that change"). On start and on
// reload, every letter not yet sent (queued, deferred, held) whose target
// changed is resolved and rendered again against the targets as they are
// now: a reshuffle's new minister is greeted and written to, a vacant or
// departed target holds its letters, a new member for the seat releases
// them. A sent letter is never touched.
//
// Each letter keeps the fingerprint of the row it was rendered for, and an
// index of the waiting letters says which rows they were: only the letters
// of rows that are no longer current are read. A letter that becomes due
// with an old row (a `letterd retry` after the targets changed, a try
// that was in flight during a reload) is not sent: dispatch asks for
// another resolution first. The pure parts (whether a letter is rendered
// for its target's current row, why a target's letters need another look,
// what becomes of one letter, the log line per target) are here for
// tests; retarget_waiting_letters is the edge that reads and writes the store.
#pragma once

#include <spdlog/logger.h>

#include <map>
#include <string>
#include <vector>

#include "config.h"
#include "store.h"
#include "submission.h"

namespace letterd {

// Whether a letter is rendered for its target's row as the config has it
// now. True for one whose row is not known (accepted before letterd kept
// it, or released as written by an organiser) and for a letter the config
// no longer has: those go as written.
bool rendered_for_current_row(const StoredMessage& message, const Config& config);

// Why the letters of one letter to one target must be resolved again, in
// words for the log ("its row changed: email, name"), or empty when they
// need not. `known` is the target's row when they were rendered (nullptr:
// letterd has no record of it), `now` the row in the targets file as it is
// (nullptr: gone).
std::string why_resolve_again(const LetterConfig& letter, const std::string& target_id, const TargetRow* known,
                              const Target* now);

// Whether two renderings of a letter would put the same bytes on the wire.
bool same_letter(const PlannedMessage& a, const PlannedMessage& b);

// What becomes of one waiting letter, and the change the store must make
// (nullopt: none).
struct LetterFate {
  enum class Kind {
    unchanged,       // the same bytes (its fingerprint may still be brought up to date)
    rendered_again,  // for the same target
    moved,           // to another target
    held,            // by letterd: no target takes it now
    released,        // from letterd's hold: a target takes it now
    still_held,      // as before
    organiser_held,  // moved or released, and taken by a standing `letterd hold`
  } kind = Kind::unchanged;
  std::string new_target;   // moved, or released to another target
  std::string hold_reason;  // held, still_held
  std::optional<Store::Readdress> change;
};
// `already_wrote`: the supporter already has a letter to the target it
// would move to (and the campaign does not allow repeats): it is held.
LetterFate fate_of(const Store::WaitingLetter& waiting, const Replanned& replanned, bool already_wrote = false);

// The letters of one target of one campaign, counted by fate; each target's
// counts make one log line.
class RetargetTally {
 public:
  void count(const std::string& campaign, const std::string& target_id, const std::string& why, const LetterFate& fate);
  struct Line {
    bool warning = false;  // letters held: the organiser should look
    std::string text;
  };
  // One line per target whose letters changed or still wait held.
  std::vector<Line> lines() const;

 private:
  struct Counts {
    std::string why;
    long long rendered_again = 0;
    std::map<std::string, long long> moved, released;  // by new target (released: empty for the same)
    std::map<std::string, long long> held, still;      // by reason
    long long organiser_held = 0;
  };
  std::map<std::pair<std::string, std::string>, Counts> targets_;
};

// Resolves again the waiting letters rendered for a row that is no longer
// their target's, in slices each committed on its own (a crash part way
// leaves the rest, still with their old rows, for the next start), and
// logs one line per target. A letter that cannot be resolved (its
// submission unreadable) is held with the reason, never sent as it was.
// Returns how many targets' letters could not be read at all (each
// logged): they stay as they are, and are not sent while their row is old.
int retarget_waiting_letters(Store& store, const Config& config, const PostcodeFinder& postcodes, spdlog::logger& log,
                             TimePoint now);

}  // namespace letterd
