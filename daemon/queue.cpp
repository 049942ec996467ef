#include "queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace letterd {

namespace {

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// What an operator can do about a sync that failed.
constexpr const char* kDiskTrouble = "the filesystem did not confirm the write (the kernel log may say why)";

// A rename or link lasts only once its directory is synced. Returns why
// that failed: the move is made by then, and what the failure means
// depends on what moved where.
std::optional<std::string> sync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return "cannot open " + dir + " to sync it: " + std::strerror(errno);
  if (::fsync(fd.get()) != 0) return "cannot sync " + dir + ": " + std::strerror(errno);
  return std::nullopt;
}

// Syncs the directory a file moved into, then the one it left: were the
// second synced alone, a crash could keep the file in neither.
std::optional<std::string> sync_move(const std::string& into, const std::string& from) {
  auto failed = sync_dir(into);
  return failed ? failed : sync_dir(from);
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw sys_error("cannot write " + path);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string unique_tmp_name(const std::string& base) {
  static unsigned counter = 0;
  return std::to_string(::getpid()) + "." + std::to_string(++counter) + "." + base;
}

}  // namespace

namespace {

// What a file's kind is, for a writer who put something else in new/.
std::string not_a_regular_file(mode_t mode) {
  const char* what = S_ISDIR(mode)                    ? "a directory"
                     : S_ISFIFO(mode)                 ? "a named pipe"
                     : S_ISSOCK(mode)                 ? "a socket"
                     : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
                                                      : "not a regular file";
  return std::string(what) + ": letterd reads only regular files";
}

bool same_stamp(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

struct RegularFile {
  enum class Outcome { read, gone, directory, unreadable } outcome = Outcome::gone;
  std::string text;
  std::string error;                // unreadable: why
  bool changed_while_read = false;  // its size or time changed under the reader: someone writes it
};

RegularFile read_regular(const std::string& path, std::size_t max_bytes) {
  RegularFile out;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    // A file that can never be read is rejected; running out of descriptors
    // or memory is letterd's trouble, not the file's: try it again later.
    if (errno != ENOENT && errno != EACCES && errno != EPERM && errno != ELOOP && errno != ENXIO)
      throw sys_error("cannot open " + path);
    if (errno == ENOENT) return out;
    out.outcome = RegularFile::Outcome::unreadable;
    if (errno == ELOOP)
      out.error = "a symlink: letterd reads only regular files (it cannot open one through a symlink)";
    else if (errno == ENXIO)
      out.error = not_a_regular_file(S_IFSOCK);
    else
      out.error = std::string("cannot open: ") + std::strerror(errno);
    return out;
  }
  struct stat before;
  if (::fstat(fd.get(), &before) != 0) throw sys_error("cannot read " + path);
  if (!S_ISREG(before.st_mode)) {
    out.outcome = S_ISDIR(before.st_mode) ? RegularFile::Outcome::directory : RegularFile::Outcome::unreadable;
    out.error = not_a_regular_file(before.st_mode);
    return out;
  }
  char buffer[16384];
  while (out.text.size() <= max_bytes) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      out.outcome = RegularFile::Outcome::unreadable;
      out.error = std::string("cannot read: ") + std::strerror(errno);
      return out;
    }
    if (n == 0) break;
    out.text.append(buffer, static_cast<std::size_t>(n));
  }
  struct stat after;
  out.changed_while_read = ::fstat(fd.get(), &after) != 0 || !same_stamp(before, after);
  if (out.text.size() > max_bytes) {
    out.outcome = RegularFile::Outcome::unreadable;
    out.error = "the file is larger than " + std::to_string(max_bytes / 1024) + " KiB";
    out.text.clear();
    return out;
  }
  out.outcome = RegularFile::Outcome::read;
  return out;
}

constexpr mode_t kPrivateFile = 0640;
constexpr mode_t kClosedDir = 0750;

// Copies what `fd` reads into tmp/, mode 0640, and renames the copy over
// `path`: letterd cannot chmod a file another user owns, but can replace it.
void replace_with_private_copy(int fd, const std::string& path, const std::string& tmp_dir) {
  std::string copy = tmp_dir + "/" + unique_tmp_name(std::filesystem::path(path).filename().string());
  UniqueFd out(::open(copy.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFile));
  if (!out) return;
  bool ok = ::fchmod(out.get(), kPrivateFile) == 0 && ::lseek(fd, 0, SEEK_SET) == 0;
  char buffer[16384];
  while (ok) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    try {
      write_all(out.get(), std::string_view(buffer, static_cast<std::size_t>(n)), copy);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  // A copy the disk did not confirm is not put in the file's place: the
  // writer's mode stays, which the closed directory still guards.
  ok = ok && ::fsync(out.get()) == 0;
  out.reset();
  if (!ok || ::rename(copy.c_str(), path.c_str()) != 0) ::unlink(copy.c_str());
}

// Gives a file letterd moved into rejected/ or accepted/ mode 0640,
// whatever mode its writer gave it (0666 has been seen). Best effort: the
// directory, closed to others, still guards a file this cannot change.
// Anything but a regular file (a symlink, a pipe) is left as it is.
void make_private(const std::string& path, const std::string& tmp_dir) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) return;
  struct stat st;
  if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) != kPrivateFile &&
      ::fchmod(fd.get(), kPrivateFile) != 0 && errno == EPERM)
    replace_with_private_copy(fd.get(), path, tmp_dir);
}

// The mode a queue directory must have: rejected/ and accepted/ exactly
// 0750 (systemd/letterd.tmpfiles), the others as the operator set them
// (tmp/ and new/ are the writers' group's) but with nothing for others.
mode_t promised_mode(mode_t mode, bool closed) {
  return closed ? kClosedDir : (mode & 07770);
}

void give_promised_mode(const std::string& dir, bool closed) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) throw sys_error("cannot read " + dir);
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error(dir + " is not a directory");
  const mode_t mode = st.st_mode & 07777, wanted = promised_mode(mode, closed);
  if (mode == wanted || ::chmod(dir.c_str(), wanted) == 0) return;
  char modes[64];
  std::snprintf(modes, sizeof modes, "mode %04o and letterd cannot make it %04o", static_cast<unsigned>(mode),
                static_cast<unsigned>(wanted));
  throw sys_error(dir + " is " + modes);
}

// Writes `text` to a new file `tmp`, mode 0640 whatever the umask, syncs it
// and renames it to `path`. On failure nothing is left at either.
void write_synced(const std::string& tmp, const std::string& text, const std::string& path) {
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFile));
  if (!fd) throw sys_error("cannot create " + tmp);
  try {
    if (::fchmod(fd.get(), kPrivateFile) != 0) throw sys_error("cannot chmod " + tmp);
    write_all(fd.get(), text, tmp);
    if (::fsync(fd.get()) != 0) throw sys_error("cannot sync " + tmp + " (" + kDiskTrouble + ")");
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw sys_error("cannot move " + tmp + " to " + path);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

// Copies `in` to `out`, then syncs `out`: a copy the disk did not confirm is
// not queued, as Postfix treats a failed fsync as a failed delivery.
void copy_synced(int in, const std::string& source_path, int out, const std::string& out_path) {
  char buffer[16384];
  ssize_t n;
  while ((n = ::read(in, buffer, sizeof buffer)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw sys_error("cannot read " + source_path);
    write_all(out, std::string_view(buffer, static_cast<std::size_t>(n)), out_path);
  }
  if (::fsync(out) != 0)
    throw std::runtime_error(source_path + " was not queued: cannot sync its copy " + out_path + ": " +
                             std::strerror(errno) + "; " + kDiskTrouble);
}

// "new/a.json" or "new/a.json and 3 other file(s)", for a log line about a batch.
std::string some_names(const std::vector<std::string>& names, std::size_t count) {
  std::string first = "new/" + names.front();
  return count > 1 ? first + " and " + std::to_string(count - 1) + " other file(s)" : first;
}

}  // namespace

std::optional<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes, std::string& error) {
  RegularFile file = read_regular(path, max_bytes);
  if (file.outcome == RegularFile::Outcome::read) return std::move(file.text);
  error = file.error;
  return std::nullopt;
}

// Which files in new/ were created or written there, rather than renamed in
// from tmp/, learnt from inotify. A writer that writes in place is seen
// writing (IN_MODIFY) until it closes the file (IN_CLOSE_WRITE); a file
// renamed in (IN_MOVED_TO) or linked in by `letterd enqueue` (IN_CREATE of
// a file already whole) never is.
class QueueDir::InPlaceWrites {
 public:
  struct Writes {
    bool created = false;   // its name appeared in new/ other than by a rename
    bool written = false;   // written in new/
    bool open = false;      // written, and not yet closed
    bool reported = false;  // the log said it is being written
  };

  explicit InPlaceWrites(const std::string& new_dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (!fd_) return;  // no watch (too many instances): files read half-written are still caught by their times
    constexpr uint32_t kMask = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE;
    if (::inotify_add_watch(fd_.get(), new_dir.c_str(), kMask) < 0) fd_.reset();
  }
  InPlaceWrites(const InPlaceWrites&) = delete;
  InPlaceWrites& operator=(const InPlaceWrites&) = delete;

  // Takes in every event so far.
  void drain() {
    alignas(inotify_event) char buffer[8192];
    for (;;) {
      if (!fd_) return;
      ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
      if (n <= 0) return;
      for (char* p = buffer; p < buffer + n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(p);
        apply(*event);
        p += sizeof(inotify_event) + event->len;
      }
    }
  }

  Writes* find(const std::string& name) {
    auto it = files_.find(name);
    return it == files_.end() ? nullptr : &it->second;
  }

 private:
  void apply(const inotify_event& event) {
    if (event.mask & IN_Q_OVERFLOW) {
      files_.clear();  // events lost: forget rather than guess
      return;
    }
    if (event.mask & IN_IGNORED) {  // new/ itself went away
      fd_.reset();
      files_.clear();
      return;
    }
    if (event.len == 0 || (event.mask & IN_ISDIR)) return;
    const std::string name(event.name);
    if (event.mask & (IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) {
      files_.erase(name);
    } else if (event.mask & IN_CREATE) {
      files_[name].created = true;
    } else if (event.mask & IN_MODIFY) {
      Writes& w = files_[name];
      w.written = w.open = true;
    } else if (event.mask & IN_CLOSE_WRITE) {
      Writes& w = files_[name];
      w.written = true;
      w.open = false;
    }
  }

  UniqueFd fd_;
  std::map<std::string, Writes, std::less<>> files_;
};

QueueDir::QueueDir(std::string root) : root_(std::move(root)) {}

QueueDir::~QueueDir() = default;

void QueueDir::ensure_layout() const {
  for (const char* sub : {"", "/tmp", "/new", "/rejected", "/accepted"}) {
    std::string dir = root_ + sub;
    if (::mkdir(dir.c_str(), kClosedDir) != 0 && errno != EEXIST) throw sys_error("cannot create " + dir);
    // A directory found more open (a rejected/ left 0777) is closed again:
    // it holds what supporters wrote.
    const std::string_view name(sub);
    give_promised_mode(dir, name == "/rejected" || name == "/accepted");
  }
}

std::vector<std::string> QueueDir::waiting(std::size_t limit) const {
  // The first `limit` names in directory order: taken files leave new/, so
  // the next call finds the next ones, and 100,000 waiting files cost one
  // pass over the directory in all, not one per batch.
  // Watched from the first listing on, so a file written in new/ after it is known as one.
  if (!in_place_) in_place_ = std::make_unique<InPlaceWrites>(new_dir());
  std::vector<std::string> names;
  DIR* dir = ::opendir(new_dir().c_str());
  if (!dir) throw sys_error("cannot read " + new_dir());
  bool whole_directory = false;
  while (names.size() < limit) {
    dirent* entry = ::readdir(dir);
    if (!entry) {
      whole_directory = true;
      break;
    }
    if (entry->d_name[0] == '.') continue;
    // Symlinks, directories and other non-files are listed so intake
    // reports them visibly; following one could read any file letterd can.
    names.emplace_back(entry->d_name);
  }
  ::closedir(dir);
  // A directory removed since it was reported is forgotten: one made again is reported again.
  if (whole_directory) {
    std::set<std::string_view> listed(names.begin(), names.end());
    std::erase_if(directories_reported_, [&](const std::string& d) { return !listed.count(d); });
  }
  return names;
}

WaitingFile QueueDir::read(const std::string& name, std::size_t max_bytes) const {
  if (in_place_) in_place_->drain();
  RegularFile file = read_regular(new_dir() + "/" + name, max_bytes);
  WaitingFile out;
  switch (file.outcome) {
    case RegularFile::Outcome::gone:
      return out;
    case RegularFile::Outcome::directory:
      out.state = WaitingFile::State::directory;
      out.error = std::move(file.error);
      out.first_report = directories_reported_.insert(name).second;
      return out;
    case RegularFile::Outcome::unreadable:
      out.state = WaitingFile::State::unreadable;
      break;
    case RegularFile::Outcome::read:
      out.state = WaitingFile::State::readable;
      break;
  }
  // Writes that began while it was read are known once their events are in.
  if (in_place_) in_place_->drain();
  InPlaceWrites::Writes* writes = in_place_ ? in_place_->find(name) : nullptr;
  // Created here and still empty: its writer has yet to write it (a link from `enqueue` is never empty).
  const bool not_yet_written =
      writes && writes->created && !writes->written && file.outcome == RegularFile::Outcome::read && file.text.empty();
  if (file.changed_while_read || (writes && writes->open) || not_yet_written) {
    out.state = WaitingFile::State::being_written;
    out.first_report = !writes || !std::exchange(writes->reported, true);
    return out;
  }
  out.written_in_place = writes && writes->written;
  out.text = std::move(file.text);
  out.error = std::move(file.error);
  return out;
}

std::string QueueDir::reject(const std::string& name, const std::vector<std::string>& problems) const {
  std::string rejected = root_ + "/rejected";
  std::string target = name;
  for (int n = 1; exists(rejected + "/" + target) || exists(rejected + "/" + target + ".error"); ++n)
    target = name + "." + std::to_string(n);

  // The .error first, so a crash never leaves a rejected file without its
  // reason; mode 0640, as the reasons can quote what the supporter wrote.
  // One whose sync fails is not written, and the file stays in new/.
  const std::string error_path = rejected + "/" + target + ".error";
  std::string text;
  for (const auto& p : problems) text += p + "\n";
  write_synced(root_ + "/tmp/" + unique_tmp_name(target + ".error"), text, error_path);
  if (::rename((new_dir() + "/" + name).c_str(), (rejected + "/" + target).c_str()) != 0) {
    auto failure = sys_error("cannot move new/" + name + " to " + rejected);
    // The file stays in new/ and is tried again, with its reasons written anew.
    ::unlink(error_path.c_str());
    throw failure;
  }
  make_private(rejected + "/" + target, root_ + "/tmp");
  if (auto failed = sync_move(rejected, new_dir()))
    throw MoveNotDurable(target, "new/" + name + " is now " + rejected + "/" + target + ", but " + *failed + "; " +
                                     kDiskTrouble + ". After a crash it may be back in new/, and is rejected again");
  return target;
}

void QueueDir::finish_accepted(const std::vector<std::string>& names, bool keep) const {
  const std::string accepted = root_ + "/accepted";
  std::size_t moved = 0;
  std::string trouble;  // the move that failed: the files before it are synced all the same
  for (const auto& name : names) {
    std::string path = new_dir() + "/" + name;
    if (keep) {
      std::string target = name;
      for (int n = 1; exists(accepted + "/" + target); ++n) target = name + "." + std::to_string(n);
      if (::rename(path.c_str(), (accepted + "/" + target).c_str()) != 0) {
        trouble = sys_error("cannot move " + path + " to " + accepted).what();
        break;
      }
      make_private(accepted + "/" + target, root_ + "/tmp");
    } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      trouble = sys_error("cannot remove " + path).what();
      break;
    }
    ++moved;
  }
  // Each is committed already: one that comes back after a crash is known
  // by its name and bytes, and finished again.
  std::optional<std::string> failed;
  if (moved) failed = keep ? sync_move(accepted, new_dir()) : sync_dir(new_dir());
  if (!failed && trouble.empty()) return;
  if (!failed) throw std::runtime_error(trouble);
  std::string not_durable = some_names(names, moved) + (keep ? " moved to accepted/" : " removed") + ", but " +
                            *failed + "; " + kDiskTrouble + ". After a crash they may be back in new/, and are " +
                            (keep ? "moved to accepted/" : "removed") + " again, being known as accepted";
  if (!trouble.empty()) throw std::runtime_error(trouble + "; and " + not_durable);
  throw MoveNotDurable(names.front(), not_durable);
}

std::string QueueDir::enqueue(const std::string& source_path) const {
  std::string name = std::filesystem::path(source_path).filename().string();
  if (name.empty() || name[0] == '.')
    throw std::runtime_error(source_path + ": a queue file name must not start with '.'");
  UniqueFd in(::open(source_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw sys_error("cannot open " + source_path);
  std::string tmp = root_ + "/tmp/" + unique_tmp_name(name);
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!out) throw sys_error("cannot create " + tmp);
  try {
    copy_synced(in.get(), source_path, out.get(), tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  in.reset();
  out.reset();
  std::string target = new_dir() + "/" + name;
  // link() never replaces: a file of that name already waiting is an error, not a loss.
  if (::link(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    errno = err;
    throw sys_error("cannot enqueue " + name + " as " + target);
  }
  ::unlink(tmp.c_str());
  // Linked, and maybe read by the daemon already: it is left in new/, and
  // the source's owner, told, still has the file to enqueue again.
  if (auto failed = sync_dir(new_dir()))
    throw MoveNotDurable(name, source_path + " is in the queue as new/" + name + ", but " + *failed + "; " +
                                   kDiskTrouble + ". After a crash it may not be: keep " + source_path +
                                   " and enqueue it again once the disk is sound (a file already waiting is " +
                                   "not replaced, and one already taken is not taken twice)");
  return name;
}

QueueWatch::QueueWatch(const std::string& new_dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (!fd_) throw sys_error("inotify");
  if (::inotify_add_watch(fd_.get(), new_dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0)
    throw sys_error("cannot watch " + new_dir);
}

bool QueueWatch::drain() {
  alignas(inotify_event) char buffer[8192];
  bool any = false;
  for (;;) {
    ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    any = true;  // IN_Q_OVERFLOW counts too: the rescan picks up what was lost
  }
  return any;
}

}  // namespace letterd
