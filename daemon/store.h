// The delivery log and queue of record: SQLite, WAL, schema in
// PRAGMA user_version. The only module that writes SQL. Every change of a
// message's status is committed before the step it guards: `sending` before
// the SMTP dialogue, `sent` only after the relay's 2xx.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bounce.h"
#include "digest.h"
#include "notice.h"
#include "return_path.h"
#include "review.h"
#include "status.h"
#include "submission.h"
#include "timefmt.h"

namespace letterd {

// A message as stored: everything needed to rebuild its exact bytes.
struct StoredMessage {
  long long id = 0;
  std::string submission_id, campaign, letter, target_id;
  Mailbox to;
  Mailbox from;
  std::optional<Mailbox> reply_to;
  std::string copy_to;
  std::string subject, body, message_id, relay;
  // The fingerprint of the target's row it was rendered for; empty: not
  // known (accepted before letterd kept it); kReleasedAsWritten: an
  // organiser released it from letterd's hold, to go as it is.
  std::string target_row;
  MessageStatus status = MessageStatus::queued;
  bool reflect = false;
  int attempts = 0;
  TimePoint created_at;     // also the Date header: the same on every retry
  TimePoint lifetime_from;  // retry.lifetime counts from here: acceptance, or a `letterd retry`

  // The letter as rendered at intake, to be built again byte for byte.
  PlannedMessage planned() const {
    return {.letter = letter,
            .target_id = target_id,
            .to = to,
            .from = from,
            .reply_to = reply_to,
            .copy_to = copy_to,
            .subject = subject,
            .body = body,
            .reflect = reflect,
            .target_row = target_row};
  }
};

inline constexpr const char* kReleasedAsWritten = "as-written";

// One row of the delivery log as organisers read it.
struct LogRow {
  long long id = 0;
  std::string created_at, campaign, submission_id, letter, target_id, recipient;
  MessageStatus status = MessageStatus::queued;
  int attempts = 0;
  std::string next_attempt_at, sent_at, relay, message_id, smtp_response;
  int smtp_code = 0;
  std::string hold_reason;  // why a held letter waits
  std::string bounce_status, bounce_diagnostic, acknowledged_at;
};

struct LogFilter {
  std::optional<MessageStatus> status;
  std::optional<std::string> campaign, target, since;
};

struct StatusCount {
  std::string campaign;
  MessageStatus status = MessageStatus::queued;
  long long count = 0;
};

// Letters of one campaign per target (scope "target", key the target id)
// or per day (scope "day", key YYYY-MM-DD of the letter's end, or of its
// acceptance while it waits). Tests in reflect mode are not counted.
struct ReportRow {
  std::string scope, key, name;
  long long waiting = 0, deferred = 0, sent = 0, failed = 0, held = 0, cancelled = 0, bounced = 0;
  long long acknowledged = 0;  // sent, and answered by the recipient's system
};

// Which letters a hold or a cancel takes: each field set narrows it.
struct LetterFilter {
  std::optional<std::string> campaign, letter, target;
};

// One hold as `letterd holds` shows it.
struct HoldRow {
  long long id = 0;
  LetterFilter filter;
  std::string reason, created_at, until, released_at;  // until, released_at: empty when none
  long long letters = 0;                               // the letters it holds now
};

struct RecentError {
  std::string at, relay;
  Outcome outcome = Outcome::deferred;
  std::string smtp_response;
  int smtp_code = 0;
};

class Store {
 public:
  enum class Access {
    daemon,     // creates and migrates the database: letterd run
    existing,   // writes to it as it is, never creates or migrates: retry, purge, the daemon's sessions
    read_only,  // reads it as it is: status, log, report
  };

  // Opens the database. Throws std::runtime_error naming the file when it
  // cannot, or (existing, read_only) when it is missing or of another schema version.
  explicit Store(const std::string& path, Access access = Access::daemon);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Empty while the database file (and its write-ahead log) at the path
  // is still the one this Store opened; else says what happened. A daemon
  // whose database was deleted or replaced must stop: what it commits
  // there is read by no one.
  std::string identity_problem();

  // --- intake ---

  // One transaction around many accept() and add_rejection() calls, so a
  // burst of files costs one sync of the disk. Takes the write lock at
  // once; rolled back unless committed.
  class Batch {
   public:
    explicit Batch(Store& store);
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    void commit();
    // False once an error (a full disk, no memory) has ended the transaction.
    bool open() const;

   private:
    Store& store_;
    bool open_ = true;
  };

  // The file name a submission id was accepted from, if it was.
  std::optional<std::string> submission_source(const std::string& campaign, const std::string& id);

  // Whether a file of this name and these exact bytes was already accepted:
  // letterd stopped between the commit and the file's removal.
  bool already_accepted(const std::string& source_file, const std::string& digest);

  // Whether this supporter already has a live message, not failed, to this
  // target in this campaign (tests in reflect mode do not count).
  bool supporter_wrote_to(const std::string& campaign, const std::string& supporter_email,
                          const std::string& target_id);

  // Commits the submission and its messages (status queued, due now) in one
  // transaction, plus a rejection row when `duplicates` is not empty. Inside
  // a Batch, a failure takes back this submission's rows only.
  struct NewMessage {
    PlannedMessage planned;
    std::string message_id;
    std::string relay;
    // For a campaign with review rules: what they compare, kept for the
    // letters after it, and the rule it tripped (its planned.hold_reason says it).
    std::optional<NoteSketch> note;
    std::string postcode;
    std::string review_rule;
    // For a letter with `digest`: it waits as `collecting` for its digest, at this time.
    std::optional<TimePoint> collect_until;
  };
  void accept(const Submission& submission, const std::string& source_file, const std::string& digest,
              TimePoint received_at, const std::vector<NewMessage>& messages, const std::string& duplicates);

  void add_rejection(const std::string& file, TimePoint at, const std::string& reasons);

  // --- daily digests (store_digests.cpp) ---

  // Letters collecting for one target's digest.
  struct DigestGroup {
    std::string campaign, letter, target_id;
  };
  // A group whose digest time has come, or nullopt; and when the next one comes.
  std::optional<DigestGroup> digest_due(TimePoint now);
  std::optional<TimePoint> next_digest_at();
  // In one commit: the group's letters due at `now`, at most `max_letters`,
  // oldest first, go to `make`, and the digest it returns is queued, each
  // of them naming its Message-ID. Returns how many went in.
  using MakeDigest = std::function<NewMessage(const std::vector<DigestLetter>& letters)>;
  int assemble_digest(const DigestGroup& group, int max_letters, TimePoint now, const MakeDigest& make);

  // What the review rules compare a new letter's note and postcode with:
  // the letters to the same target before it (those held included). Reads
  // only the notes sharing a run with this one, at most kReviewRunReads a run.
  // Counts go no further than `rules` need, so a note every supporter left
  // as suggested costs no more to count at the ten-thousandth letter.
  ReviewEvidence review_evidence(const std::string& campaign, const std::string& target_id, const NoteSketch& note,
                                 const std::string& postcode, TimePoint now, const ReviewRules& rules);
  static constexpr int kReviewRunReads = 500;

  // The letters held for review, by rule, then target, with their notes.
  struct ReviewRow {
    long long id = 0;
    std::string campaign, letter, target_id, rule, reason, supporter_name, postcode, note, created_at;
  };
  std::vector<ReviewRow> held_for_review(const std::string& campaign);

  // --- delivery ---

  // Messages of `campaigns` through `relay` due at `now` (queued, or
  // deferred and due), oldest first. A campaign the config no longer has
  // is in no list, so its letters wait.
  std::vector<StoredMessage> due(const std::string& relay, const std::vector<std::string>& campaigns, TimePoint now,
                                 int limit);
  // When the next of them falls due.
  std::optional<TimePoint> next_due(const std::string& relay, const std::vector<std::string>& campaigns);

  // Claims due messages for sending, in one transaction; returns those
  // claimed (one no longer queued or deferred was taken meanwhile).
  std::vector<long long> mark_sending(const std::vector<long long>& ids, TimePoint now);

  // Whether a claimed message is still to be sent: `purge --supporter`
  // cancels claimed messages too.
  bool still_sending(long long id);

  // A try: one attempts row, and the message's new status.
  struct AttemptRecord {
    long long message = 0;
    TimePoint at;  // when the try began; at + duration_ms, when the relay had it
    std::string relay;
    int smtp_code = 0;
    std::string smtp_response;
    long long duration_ms = 0;
    Outcome outcome = Outcome::deferred;
    MessageStatus status = MessageStatus::deferred;  // the message's new status
    std::optional<TimePoint> next_attempt_at;        // for deferred
    bool counts_as_attempt = true;                   // a relay fault costs the message no attempt
  };
  // Many tries are recorded in one transaction: one sync of the disk for them all.
  void record_attempts(const std::vector<AttemptRecord>& records);

  // Puts a claimed message that was never sent back in the queue, due at
  // `at`, without counting an attempt: `deferred` if it was tried before,
  // else `queued`.
  void release(long long id, TimePoint at);

  // Makes every waiting letter to one target due no earlier than `at` (its
  // per_target limit holds them), in one statement; returns how many.
  int hold_target(const std::string& campaign, const std::string& target_id, TimePoint at);

  // Makes each letter, due outside its sending window, due at the window's
  // opening instead, as it is (`queued` or `deferred`), in one commit.
  // (Message id, the opening) pairs.
  void wait_for_window(const std::vector<std::pair<long long, TimePoint>>& waits);
  // Makes the campaign's `queued` letters due later than `now` due now,
  // for a new config's windows and limits to plan them again.
  void make_queued_due(const std::string& campaign, TimePoint now);

  // Puts messages left `sending` by a crash back in the queue; returns how many.
  int requeue_interrupted(TimePoint now);

  // Moves a campaign's waiting messages to the relay the config now names
  // for it (after a reload or restart); returns how many moved.
  int rehome_waiting(const std::string& campaign, const std::string& relay);

  // Waiting messages per campaign, for campaigns the config no longer has.
  std::vector<StatusCount> waiting_outside(const std::vector<std::string>& campaigns);

  // When the relay had each of the latest `count` tries that reached it
  // (`at` plus `duration_ms`), oldest first: rate windows are counted from
  // the log, so a restart cannot exceed them. A letter of one of
  // `copy_apart` (the campaigns whose supporter's copy goes as a message of
  // its own) that went with a copy counts twice.
  std::vector<TimePoint> recent_sends(const std::string& relay, std::size_t count, TimePoint since,
                                      const std::vector<std::string>& copy_apart = {});
  // When the relay had each try of one campaign since `since`, with its
  // target, in one read: seeds every per_target limiter of the campaign.
  std::vector<std::pair<std::string, TimePoint>> recent_campaign_sends(const std::string& campaign, TimePoint since);
  // The same for one target of one campaign, for per_target limits.
  std::vector<TimePoint> recent_target_sends(const std::string& campaign, const std::string& target_id,
                                             std::size_t count, TimePoint since);

  // The key of the campaigns' return paths: made (from the kernel's
  // random source) the first time it is asked for, then the same for the
  // life of the database, so a bounce days later still names its letter.
  ReturnPathKey return_path_key();

  // --- the organiser's commands ---

  enum class RetryResult { queued, no_such_message, not_failed, body_erased };
  // Puts a failed or bounced message back in the queue, due now;
  // retry.lifetime starts again.
  RetryResult retry(long long id, TimePoint now);
  std::vector<long long> failed_messages();

  // Erases the bodies of up to `limit` letters that ended (sent or failed)
  // before `ended_before`, and the personal notes and fields no waiting letter still
  // needs, in one short transaction: retention runs in slices, never
  // holding the write lock for long.
  struct PurgeCounts {
    int bodies = 0, notes = 0;
    bool more = false;  // letters past retention still have bodies
  };
  PurgeCounts purge_bodies(TimePoint ended_before, int limit);

  // Space: the database's size, and its free pages returned to the
  // filesystem a slice at a time (incremental auto-vacuum).
  struct SpaceUse {
    long long file_bytes = 0, free_bytes = 0;
    bool returns_free_pages = false;  // false for a database made before letterd kept auto_vacuum
  };
  SpaceUse space_use();
  // Returns up to `pages` free pages to the filesystem; false once none is left.
  bool return_free_pages(int pages);

  // Erases one supporter's personal data on request: name, addresses,
  // postcode, constituency, note, letters' bodies and subjects, and their
  // name and address in relay replies. Letters still waiting are cancelled
  // (failed). What stays is anonymous: which target got how many letters,
  // and when. `files` are the queue file names their submissions came
  // from, for the caller to remove from accepted/ and rejected/.
  // A queue file's rejection rows, known by name and by when they were written.
  struct RejectionRef {
    std::string file;
    TimePoint from, to;
  };
  struct ErasureCounts {
    int submissions = 0, letters = 0, cancelled = 0;
    std::vector<RejectionRef> files;  // each file, and when it was taken in
  };
  ErasureCounts erase_supporter(const std::string& email, TimePoint now);

  // Forgets the rejection rows of these queue files, each written between
  // `from` and `to` (erasure of a supporter).
  void forget_rejections(const std::vector<RejectionRef>& rejections);

  std::vector<ReportRow> report(const std::string& campaign);

  // --- holds and cancelling (store_holds.cpp) ---

  // Holds every waiting letter that matches (queued or deferred; one being
  // sent goes on), and every matching letter accepted while the hold
  // stands, until release_hold() or `until`. Returns the hold's id and how
  // many letters it took.
  struct NewHold {
    long long id = 0;
    int letters = 0;
  };
  NewHold hold(const LetterFilter& filter, const std::string& reason, std::optional<TimePoint> until, TimePoint now);
  // Every hold, oldest first, with the letters each holds now.
  std::vector<HoldRow> holds();
  // Ends a hold: its letters that no other standing hold matches are due
  // now, retry.lifetime counting afresh. nullopt: no such hold, or it had
  // already ended.
  std::optional<int> release_hold(long long id, TimePoint now);
  // Ends the holds whose `until` has passed, as release_hold() does; cheap
  // when none has (the daemon calls it every turn). `next` is the earliest
  // `until` still to come.
  struct Expiry {
    int holds = 0, letters = 0;
    std::optional<TimePoint> next;
  };
  Expiry expire_holds(TimePoint now);

  enum class ReleaseResult { released, no_such_message, not_held };
  // Makes one held letter due now, whatever holds it. One letterd held (its
  // target vacant or gone) goes as written: the organiser has decided.
  ReleaseResult release_held(long long id, TimePoint now);

  enum class CancelResult { cancelled, no_such_message, already_ended };
  // Cancels a letter not yet sent (queued, deferred, held, or claimed and
  // not yet handed to the relay): `cancelled`, its body erased, ended.
  CancelResult cancel(long long id, const std::string& reason, TimePoint now);
  // The same for every letter not yet sent that matches; returns how many.
  int cancel_matching(const LetterFilter& filter, const std::string& reason, TimePoint now);

  // --- targets that change (store_retarget.cpp) ---

  // Which rows of which targets of which letters have letters not yet sent
  // (queued, deferred or held), with how many: read from an index of the
  // waiting letters, never the log. target_row is the fingerprint of the
  // row they were rendered for; empty for letters accepted before letterd
  // kept it.
  struct WaitingGroup {
    std::string campaign, letter, target_id, target_row;
    long long letters = 0;
  };
  std::vector<WaitingGroup> waiting_groups();

  // A letter not yet sent, with the submission it is rendered from.
  struct WaitingLetter {
    StoredMessage message;
    bool organiser_hold = false;  // held by a `letterd hold`, not by letterd
    std::string hold_reason;
    Submission submission;
    bool fields_known = true;  // false: accepted before the log kept a submission's fields
    std::string problem;       // set: its submission cannot be read back (and says why)
  };
  // Up to `limit` letters of one group whose id is above `after`, by id.
  std::vector<WaitingLetter> waiting_letters(const WaitingGroup& group, long long after, int limit);

  // Keeps each row under its fingerprint (once), so a letter rendered for
  // a row can later say what changed; and the row a fingerprint names.
  void remember_target_rows(const std::vector<const Target*>& targets);
  std::optional<TargetRow> target_row(const std::string& fingerprint);

  // Letters of a group accepted before letterd kept fingerprints, rendered
  // for the target's name and address as they are now (or tests in reflect
  // mode): they take the row's fingerprint as they are, their words kept.
  // Letters letterd holds are left, to be resolved again.
  void adopt_target_row(const WaitingGroup& group, const Target& target);

  // A waiting letter resolved again: rendered for the target that takes it
  // now (the whole of `planned`, its fingerprint included), or held by
  // letterd with `hold_reason`.
  struct Readdress {
    long long id = 0;
    std::optional<PlannedMessage> planned;  // nullopt: keep the letter as written
    std::string hold_reason;                // set: letterd holds it (a vacant or missing target)
    bool moved = false;                     // to another target: due now, and standing holds for it apply
  };
  // Applies them in one transaction, to letters still waiting. A letter
  // letterd held that may go now is due now (retry.lifetime counting
  // afresh), as is one that moved to another target; either is held
  // instead by a standing organiser's hold that matches it. Returns the
  // ids such a hold took.
  std::vector<long long> readdress(const std::vector<Readdress>& letters, TimePoint now);

  // --- delivery truth (store_bounces.cpp) ---

  // A letter a returned mail is about: by its id (a return path's token)
  // or its Message-ID (without brackets).
  struct ReturnedLetter {
    long long id = 0;
    std::string campaign, target_id, recipient;
    MessageStatus status = MessageStatus::sent;
    bool with_copy = false;  // it had a supporter's copy (in its own transaction when it went with a token)
  };
  std::optional<ReturnedLetter> returned_letter(long long id);
  std::optional<ReturnedLetter> returned_letter(const std::string& message_id);

  // One mail read from the bounce mailbox. `marks` says what it does to
  // its letter: a hard bounce of the letter's own recipient makes a sent
  // letter `bounced`; an automatic reply acknowledges it.
  struct BounceRecord {
    std::optional<long long> letter;
    TimePoint received_at;
    BounceReport::Kind kind = BounceReport::Kind::unparsed;
    std::string status, diagnostic;
    std::string source;  // the mail itself, by its SHA-256: recorded once however it comes again
    bool marks = false;
  };
  // In one transaction; false when that source was already recorded (a
  // mail read again after a crash counts once).
  bool record_bounce(const BounceRecord& bounce);

  // Failed or bounced letters whose supporter's notice is not yet decided,
  // oldest first: read from an index that holds only them.
  std::vector<UndeliveredLetter> notices_due(int limit);
  // Decides one: the notice (queued, through `relay`) when there is one,
  // and the letter marked as decided, in one transaction.
  void decide_notice(long long letter, const std::optional<NewMessage>& notice, TimePoint now);

  // Where reading an IMAP bounce mailbox got to: its UIDVALIDITY and the
  // last UID read (both 0 before the first read).
  struct MailboxState {
    long long uidvalidity = 0, last_uid = 0;
  };
  MailboxState mailbox_state(const std::string& mailbox);
  void remember_mailbox(const std::string& mailbox, const MailboxState& state);

  // How many of a campaign's letters to one target at one address bounced,
  // counted up to kMaxBouncesCounted: enough to compare with hold_target_after.
  static constexpr int kMaxBouncesCounted = 1000;
  long long bounces_of(const std::string& campaign, const std::string& target_id, const std::string& address);
  // Holds (letterd's own hold, with `reason`) the waiting letters of one
  // target at one address; returns how many.
  int hold_bouncing(const std::string& campaign, const std::string& target_id, const std::string& address,
                    const std::string& reason);

  // Whether another connection (an organiser's command, a session) has
  // committed since the last call: PRAGMA data_version, a read of memory.
  bool changed_elsewhere();

  // Moves the write-ahead log into the database file and empties it, so
  // erased data is gone from both (secure_delete zeroes freed space).
  // Waits at most `longest_wait` for other connections' writes; false
  // when they kept it from finishing.
  bool checkpoint(std::chrono::milliseconds longest_wait = std::chrono::seconds(5));
  // Copies what the write-ahead log holds into the database file, as far
  // as readers allow, waiting for no one. Retention does it after each
  // slice, so the slice's own turn pays for copying its pages, rather than
  // whichever commit next brings the log to SQLite's automatic checkpoint
  // (a thousand pages from several slices at once).
  void copy_log_back();
  // From now on this connection's commits leave copying the write-ahead
  // log back to whoever `due` tells (the daemon's housekeeping thread),
  // called after a commit that leaves a thousand pages or more in the log,
  // once the write lock is released. Without it, SQLite's automatic
  // checkpoint runs inside that commit: on a log of a million letters it
  // writes those pages all over a file of gigabytes and syncs it, and the
  // daemon's loop waited 70 to 150 ms on it. A log ten times that long
  // means `due` is not being acted on, and the commit copies it back
  // itself. An empty `due` gives the commits back to SQLite's automatic
  // checkpoint.
  void leave_checkpoints_to(std::function<void()> due);

  // --- reading ---
  // Calls `row` for each row of the log, oldest first, holding one at a time.
  void log(const LogFilter& filter, const std::function<void(const LogRow&)>& row);
  // Messages per campaign and status, from counts kept as rows change.
  std::vector<StatusCount> status_counts();
  std::vector<RecentError> recent_errors(int limit);
  // Each named relay's latest try: how it went tells whether the relay is healthy.
  std::vector<RecentError> last_try_per_relay(const std::vector<std::string>& relays);
  long long sent_since(TimePoint since);

  // SQLite's plan for every statement this connection has prepared to
  // repeat (the daemon's per-turn, per-tick and hourly statements), one
  // "statement => plan" text each: how a test proves none of them scans a
  // table that grows with the campaign.
  std::vector<std::string> query_plans();

 private:
  void insert_submission(const Submission& submission, const std::string& source_file, const std::string& digest,
                         const std::string& now, const std::vector<NewMessage>& messages,
                         const std::string& duplicates);
  // Keeps what the review rules compare of a new letter, and the rule it tripped.
  void remember_review(long long message_id, const std::string& campaign, const NewMessage& m, const std::string& at);
  void hold_if_held(long long message_id, const std::string& campaign, const PlannedMessage& planned,
                    const std::string& now);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterd
