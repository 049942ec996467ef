// Turns files waiting in the queue into committed messages: read, check,
// render, drop duplicates, commit, and only then remove the file. A bad file
// goes to rejected/ with its reasons; nothing stops the daemon. Files are
// committed a group at a time, one sync of the disk for many files; a file
// is removed only after its group's commit.
#pragma once

#include <spdlog/logger.h>

#include <stdexcept>
#include <string>

#include "config.h"
#include "log_once.h"
#include "queue.h"
#include "store.h"

namespace letterd {

// Thrown by Intake::run when the database was deleted or replaced under
// it: the daemon must stop before it sends what it committed there.
struct DatabaseGone : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct IntakeCounts {
  int accepted = 0;
  int rejected = 0;
  int messages = 0;

  int files() const { return accepted + rejected; }
};

class Intake {
 public:
  // `quiet` remembers, across turns, the trouble already logged: a file that
  // cannot be taken for the same reason at every scan is logged once.
  // `now` is the loop's turn: files taken in it are received then, and
  // due then, so the same turn's dispatch sends them.
  // `postcodes` answers for letters that go by postcode (see plan_messages).
  Intake(const Config& config, Store& store, const QueueDir& queue, spdlog::logger& log, LogOnce& quiet, TimePoint now,
         PostcodeFinder postcodes = {});

  // Takes these files from new/ (names QueueDir::waiting listed; one gone
  // meanwhile is skipped). A file that cannot be taken for a reason of
  // letterd's own (a full disk, a locked database) is logged and left in
  // new/ for the next scan; the others go on. Throws, leaving the files of
  // the group in new/, when the database was deleted or replaced: a commit
  // there is no reason to remove a file.
  IntakeCounts run(const std::vector<std::string>& names);

 private:
  struct Checked;  // a file read, checked and rendered, not yet committed

  // Reads and checks one file; a bad one is rejected here. Throws when
  // letterd itself is in trouble.
  std::optional<Checked> check(const std::string& name, IntakeCounts& counts);
  // Commits a group of checked files in one transaction, dropping
  // duplicates; returns the names to remove from new/ once it is committed.
  std::vector<std::string> commit(std::vector<Checked>& files, IntakeCounts& counts);
  // One file of that group: false when it turned out a duplicate (its
  // rejection recorded, the move left until the commit holds).
  bool commit_one(Checked& file, IntakeCounts& counts);
  void review(const CampaignConfig& campaign, const Submission& submission, Store::NewMessage& message, TimePoint now);
  // Logs trouble of letterd's own that keeps a file in new/, once per condition.
  void cannot_take_now(const std::string& what, const std::string& why);
  // Records the rejection and moves the file to rejected/ with its reasons.
  void reject(const std::string& name, const std::vector<std::string>& reasons, IntakeCounts& counts);
  // The move alone, for a rejection already in a committed transaction.
  void move_rejected(const std::string& name, const std::vector<std::string>& reasons, IntakeCounts& counts);
  // Removes committed files from new/ (or keeps them in accepted/). Throws
  // when a file is still in new/; a move made but not synced is only logged.
  void finish_accepted(const std::vector<std::string>& names);

  const Config& config_;
  Store& store_;
  const QueueDir& queue_;
  spdlog::logger& log_;
  const TimePoint now_;
  const PostcodeFinder postcodes_;
  LogOnce& quiet_;
};

// A new Message-ID's left and right parts: the time in milliseconds and
// 128 random bits, @ the sender's domain.
std::string new_message_id(const std::string& from_address);

// A digest of a file's bytes (64-bit FNV-1a, hex): tells a file read again
// after a crash from a new file that reuses its name.
std::string content_digest(std::string_view bytes);

}  // namespace letterd
