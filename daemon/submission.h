// One supporter's submission file, as SPEC "The submission file" fixes it.
//
// parse_submission checks what the file alone can tell (shape, types, sizes,
// addresses, times); plan_messages then checks it against the campaign and
// renders its letters. Both report every problem, each naming its key.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "message.h"
#include "postcode.h"
#include "problem.h"
#include "timefmt.h"

namespace letterd {

constexpr std::size_t kMaxSubmissionBytes = 64 * 1024;

struct Authorisation {
  bool given = false;
  std::string at;  // as written, RFC 3339
  std::string statement;
};

struct Submission {
  std::string id;
  std::string campaign;
  std::vector<std::string> letters;  // empty: all of the campaign's letters
  std::string supporter_name;
  std::string supporter_email;
  std::optional<std::string> postcode, address;
  std::optional<std::string> constituency, target;
  std::optional<std::string> personal_note;
  std::optional<Authorisation> authorisation;
  std::map<std::string, std::string, std::less<>> fields;
};

// Parses a submission. `file_name` is the queue file's name: its extension
// picks JSON or YAML and its stem is the default id. `now` bounds
// authorisation.at. nullopt when there is any problem.
std::optional<Submission> parse_submission(std::string_view text, std::string_view file_name, TimePoint now,
                                           Problems& problems);

// One message a submission yields, rendered and ready to store.
struct PlannedMessage {
  std::string letter;
  std::string target_id;
  Mailbox to;  // the target (or the supporter, in reflect mode)
  Mailbox from;
  std::optional<Mailbox> reply_to;
  std::string copy_to;  // the supporter's address for the envelope copy, or empty
  std::string subject;
  std::string body;
  bool reflect = false;
  // The fingerprint of the target's row it was rendered for.
  std::string target_row;
  // Set when the letter must wait as `held` from the start: its target's
  // `status` column says the seat is vacant.
  std::string hold_reason;
};

// The letter as the relay gets it: what `letterd run` sends and `letterd
// preview` shows are built here and nowhere else. `date` is the Date
// header, the same on every retry.
OutgoingMessage outgoing_letter(const PlannedMessage& planned, const std::string& message_id, TimePoint date);

// What the postcode lookup (store_postcodes.h) gives for a supporter's
// postcode. The caller opens the lookup and passes this in, so planning
// reads no file; it throws PostcodeLookupUnavailable when there is no
// lookup to ask, and the file waits for one rather than be rejected.
using PostcodeFinder = std::function<PostcodeAnswer(std::string_view postcode)>;
struct PostcodeLookupUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Checks the submission against its campaign and renders every letter.
// nullopt (with every problem) when the campaign, a letter, a required
// field, the authorisation, the target or a template value is wrong.
// `postcodes` is asked only for letters that go `by: postcode`.
std::optional<std::vector<PlannedMessage>> plan_messages(const Submission& submission, const Config& config,
                                                         Problems& problems, const PostcodeFinder& postcodes = {});

// A letter not yet sent, as the log keeps it, to be resolved again against
// the targets as they are now (SPEC "Targets that change").
struct LetterToReplan {
  std::string letter;
  std::string target_id;                  // the target it goes to now
  const TargetRow* former_row = nullptr;  // that target's row when the letter was rendered, if known
  bool reflect = false;                   // a test stays a test, whatever the campaign's mode now
  bool fields_known = true;               // false: accepted before the log kept a submission's fields
};

struct Replanned {
  // The letter rendered for the target that takes it now; its hold_reason
  // is set when that target's seat is vacant.
  std::optional<PlannedMessage> message;
  // Without a message: why no target can take the letter now.
  std::string hold_reason;
};

// Where the letter goes now and what it says. A fixed-target letter goes
// to the target its letter names now. A by-postcode letter goes where the
// lookup places the supporter's postcode (no target there: it waits); a
// by-constituency one to the constituency or target the supporter gave.
// Failing those, it follows the seat of its former row; with that row
// unknown, its former target id. Checks of the submission itself
// (authorisation, required fields) are not made again: it was accepted.
Replanned replan_letter(const Submission& submission, const Config& config, const LetterToReplan& letter,
                        const PostcodeFinder& postcodes = {});

struct CheckedSubmission {
  Submission submission;
  std::vector<PlannedMessage> messages;
};

// parse_submission and plan_messages together, reporting the problems of
// both even when the file alone already has some.
std::optional<CheckedSubmission> check_submission(std::string_view text, std::string_view file_name, TimePoint now,
                                                  const Config& config, Problems& problems,
                                                  const PostcodeFinder& postcodes = {});

// The lower-cased address used to tell whether a supporter already wrote.
std::string supporter_key(std::string_view email);

}  // namespace letterd
