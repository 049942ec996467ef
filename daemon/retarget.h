// Targets that change (SPEC "Targets that change"). On start and on
// reload, every letter not yet sent (queued, deferred, held) whose target
// changed is resolved and rendered again against the targets as they are
// now: a reshuffle's new minister is greeted and written to, a vacant or
// departed target holds its letters, a new member for the seat releases
// them. A sent letter is never touched.
//
// Only the letters of targets that changed are read: the database keeps
// each target's row as letters were last rendered for it (known_targets),
// and the waiting letters' targets come from an index. The pure parts
// (why a target's letters need another look, what becomes of one letter,
// the log line per target) are here for tests; retarget_waiting_letters
// is the edge that reads and writes the store.
#pragma once

#include <spdlog/logger.h>

#include <map>
#include <string>
#include <vector>

#include "config.h"
#include "store.h"
#include "submission.h"

namespace letterd {

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
  enum class Kind { unchanged, rendered_again, moved, held, released, still_held } kind = Kind::unchanged;
  std::string new_target;   // moved, or released to another target
  std::string hold_reason;  // held, still_held
  std::optional<Store::Readdress> change;
};
LetterFate fate_of(const Store::WaitingLetter& waiting, const Replanned& replanned);

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
  };
  std::map<std::pair<std::string, std::string>, Counts> targets_;
};

// Resolves again the waiting letters of every target that changed since
// they were rendered, in slices each committed on its own (a crash part
// way leaves the rest for the next start), logs one line per target, and
// records the targets as they are now.
void retarget_waiting_letters(Store& store, const Config& config, const PostcodeFinder& postcodes, spdlog::logger& log,
                              TimePoint now);

}  // namespace letterd
