// The queue directory protocol (SPEC "The queue directory"):
//
//   QUEUE/tmp/       writers create and write files here
//   QUEUE/new/       writers rename finished files here (atomic on one filesystem)
//   QUEUE/rejected/  files letterd cannot accept, each with NAME.error beside it
//   QUEUE/accepted/  accepted files, when queue.keep_accepted is true
//
// Every move is a rename or link on one filesystem followed by an fsync of
// the directory, so a crash leaves each file in exactly one place.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "unique_fd.h"

namespace letterd {

// Thrown when a file was moved but the directory sync that makes the move
// last failed: the file is in its new place now, and after a crash may be
// back in its old one. It is not moved back: that move would be no surer
// to last, and the daemon may already have read the file. what() names the
// file, both places, and what becomes of it.
struct MoveNotDurable : std::runtime_error {
  MoveNotDurable(std::string name, const std::string& what) : std::runtime_error(what), name(std::move(name)) {}
  std::string name;  // its name in its new place
};

// What QueueDir::read found at new/NAME.
struct WaitingFile {
  enum class State {
    readable,       // `text` holds the file
    gone,           // taken away meanwhile: nothing to do
    being_written,  // its writer is still writing it in new/: read it again once it is closed
    directory,      // a directory: letterd reads only regular files, and leaves it where it is
    unreadable,     // never readable (a symlink, too large...): `error` says why
  };
  State state = State::gone;
  std::string text;
  std::string error;
  // Created or written in new/ itself rather than in tmp/ and renamed in,
  // so letterd may read it half-written.
  bool written_in_place = false;
  // First time this QueueDir reports it being_written or a directory: the
  // log says so once, not at every scan.
  bool first_report = false;
};

class QueueDir {
 public:
  explicit QueueDir(std::string root);
  ~QueueDir();

  const std::string& root() const { return root_; }

  // Creates tmp/, new/, rejected/ and accepted/ where missing, and gives
  // them the modes letterd promises (systemd/letterd.tmpfiles): rejected/
  // and accepted/ 0750, nothing for others anywhere. Throws when a
  // directory is more open than that and letterd cannot change it.
  void ensure_layout() const;

  // Up to `limit` names waiting in new/, in directory order; names
  // starting with '.' are left alone. From the first call on, writes in
  // new/ itself are watched (see WaitingFile::written_in_place).
  std::vector<std::string> waiting(std::size_t limit) const;

  // new/NAME, read whole if it is a finished regular file of at most
  // `max_bytes`. Throws on trouble that is letterd's own.
  WaitingFile read(const std::string& name, std::size_t max_bytes) const;

  // Moves new/NAME to rejected/ and writes rejected/NAME.error, one line a
  // problem; both end up mode 0640, whoever wrote the file. Returns the
  // name it has in rejected/ (suffixed if taken). Throws std::runtime_error
  // with the file still in new/, or MoveNotDurable once it is in rejected/.
  std::string reject(const std::string& name, const std::vector<std::string>& problems) const;

  // Removes each new/NAME, or moves it to accepted/ (mode 0640) when
  // `keep`; one sync of the directories for them all. Stops at the first
  // file it cannot move, throwing std::runtime_error once the files before
  // it are synced; throws MoveNotDurable when only the sync failed.
  void finish_accepted(const std::vector<std::string>& names, bool keep) const;

  // The tmp -> new protocol for `letterd enqueue`: copy to tmp/, fsync,
  // link into new/ under the file's own name (never replacing a waiting
  // file), fsync new/. Returns the name in new/; throws std::runtime_error
  // when the file is not queued, MoveNotDurable when it is in new/ but the
  // sync of new/ failed.
  std::string enqueue(const std::string& source_path) const;

  std::string new_dir() const { return root_ + "/new"; }

 private:
  class InPlaceWrites;  // inotify on new/, telling renamed files from files written there

  std::string root_;
  mutable std::unique_ptr<InPlaceWrites> in_place_;
  mutable std::set<std::string, std::less<>> directories_reported_;
};

// Reads a regular file (never through a symlink) of at most `max_bytes`.
// nullopt with `error` saying why the file cannot be read, or with `error`
// empty when it does not exist. Throws on trouble that is letterd's own
// (out of descriptors or memory), so the file is tried again later.
std::optional<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes, std::string& error);

// inotify on new/: tells the daemon a file arrived, within milliseconds.
class QueueWatch {
 public:
  explicit QueueWatch(const std::string& new_dir);  // throws std::runtime_error
  QueueWatch(const QueueWatch&) = delete;
  QueueWatch& operator=(const QueueWatch&) = delete;

  int fd() const { return fd_.get(); }
  // Reads every pending event; true when any could mean a new file.
  bool drain();

 private:
  UniqueFd fd_;
};

}  // namespace letterd
