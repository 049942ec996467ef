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

#include <optional>
#include <string>
#include <vector>

namespace letterd {

class QueueDir {
 public:
  explicit QueueDir(std::string root);

  const std::string& root() const { return root_; }

  // Creates tmp/, new/, rejected/ and accepted/ where missing.
  void ensure_layout() const;

  // Up to `limit` names waiting in new/, in directory order; names
  // starting with '.' and directories are left alone.
  std::vector<std::string> waiting(std::size_t limit) const;

  // The contents of new/NAME, or nullopt with `error` saying why (unreadable,
  // or larger than `max_bytes`); `error` is empty when the file is gone.
  std::optional<std::string> read(const std::string& name, std::size_t max_bytes, std::string& error) const;

  // Moves new/NAME to rejected/ and writes rejected/NAME.error, one line a
  // problem. Returns the name it has in rejected/ (suffixed if taken).
  std::string reject(const std::string& name, const std::vector<std::string>& problems) const;

  // Removes each new/NAME, or moves it to accepted/ when `keep`; one sync
  // of the directories for them all.
  void finish_accepted(const std::vector<std::string>& names, bool keep) const;

  // The tmp -> new protocol for `letterd enqueue`: copy to tmp/, fsync,
  // link into new/ under the file's own name (never replacing a waiting
  // file), fsync new/. Returns the name in new/; throws std::runtime_error.
  std::string enqueue(const std::string& source_path) const;

  std::string new_dir() const { return root_ + "/new"; }

 private:
  std::string root_;
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
  ~QueueWatch();
  QueueWatch(const QueueWatch&) = delete;
  QueueWatch& operator=(const QueueWatch&) = delete;

  int fd() const { return fd_; }
  // Reads every pending event; true when any could mean a new file.
  bool drain();

 private:
  int fd_ = -1;
};

}  // namespace letterd
