#include "queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace letterd {

namespace {

std::runtime_error sys_error(const std::string& what) { return std::runtime_error(what + ": " + std::strerror(errno)); }

// A rename is durable only once its directory is synced.
void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw sys_error("cannot open " + dir);
  ::fsync(fd);
  ::close(fd);
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

std::optional<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    // A file that can never be read is rejected; running out of descriptors
    // or memory is letterd's trouble, not the file's: try it again later.
    if (errno != ENOENT && errno != EACCES && errno != EPERM && errno != ELOOP && errno != ENXIO)
      throw sys_error("cannot open " + path);
    error = errno == ENOENT ? "" : std::string("cannot open: ") + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    error = "not a regular file";
    return std::nullopt;
  }
  std::string data;
  char buffer[16384];
  while (data.size() <= max_bytes) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::string("cannot read: ") + std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (data.size() > max_bytes) {
    error = "the file is larger than " + std::to_string(max_bytes / 1024) + " KiB";
    return std::nullopt;
  }
  return data;
}

QueueDir::QueueDir(std::string root) : root_(std::move(root)) {}

void QueueDir::ensure_layout() const {
  for (const char* sub : {"", "/tmp", "/new", "/rejected", "/accepted"}) {
    std::string dir = root_ + sub;
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) throw sys_error("cannot create " + dir);
  }
}

std::vector<std::string> QueueDir::waiting(std::size_t limit) const {
  // The first `limit` names in directory order: taken files leave new/, so
  // the next call finds the next ones, and 100,000 waiting files cost one
  // pass over the directory in all, not one per batch.
  std::vector<std::string> names;
  DIR* dir = ::opendir(new_dir().c_str());
  if (!dir) throw sys_error("cannot read " + new_dir());
  while (names.size() < limit) {
    dirent* entry = ::readdir(dir);
    if (!entry) break;
    if (entry->d_name[0] == '.') continue;
    // Symlinks and other non-files are listed so intake rejects them
    // visibly; following one could read any file letterd can.
    if (entry->d_type == DT_DIR) continue;
    names.emplace_back(entry->d_name);
  }
  ::closedir(dir);
  return names;
}

std::optional<std::string> QueueDir::read(const std::string& name, std::size_t max_bytes, std::string& error) const {
  return read_file_bounded(new_dir() + "/" + name, max_bytes, error);
}

std::string QueueDir::reject(const std::string& name, const std::vector<std::string>& problems) const {
  std::string rejected = root_ + "/rejected";
  std::string target = name;
  for (int n = 1; exists(rejected + "/" + target) || exists(rejected + "/" + target + ".error"); ++n)
    target = name + "." + std::to_string(n);

  // The .error first, so a crash never leaves a rejected file without its reason.
  std::string error_tmp = root_ + "/tmp/" + unique_tmp_name(target + ".error");
  int fd = ::open(error_tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) throw sys_error("cannot create " + error_tmp);
  std::string text;
  for (const auto& p : problems) text += p + "\n";
  try {
    write_all(fd, text, error_tmp);
    if (::fsync(fd) != 0) throw sys_error("cannot sync " + error_tmp);
    ::close(fd);
    fd = -1;
    if (::rename(error_tmp.c_str(), (rejected + "/" + target + ".error").c_str()) != 0)
      throw sys_error("cannot move " + error_tmp + " to " + rejected);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(error_tmp.c_str());
    throw;
  }
  if (::rename((new_dir() + "/" + name).c_str(), (rejected + "/" + target).c_str()) != 0)
    throw sys_error("cannot move new/" + name + " to " + rejected);
  sync_dir(rejected);
  sync_dir(new_dir());
  return target;
}

void QueueDir::finish_accepted(const std::vector<std::string>& names, bool keep) const {
  if (names.empty()) return;
  std::string accepted = root_ + "/accepted";
  for (const auto& name : names) {
    std::string path = new_dir() + "/" + name;
    if (keep) {
      std::string target = name;
      for (int n = 1; exists(accepted + "/" + target); ++n) target = name + "." + std::to_string(n);
      if (::rename(path.c_str(), (accepted + "/" + target).c_str()) != 0) throw sys_error("cannot move " + path);
    } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw sys_error("cannot remove " + path);
    }
  }
  if (keep) sync_dir(accepted);
  sync_dir(new_dir());
}

std::string QueueDir::enqueue(const std::string& source_path) const {
  std::string name = std::filesystem::path(source_path).filename().string();
  if (name.empty() || name[0] == '.') throw std::runtime_error(source_path + ": a queue file name must not start with '.'");
  int in = ::open(source_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw sys_error("cannot open " + source_path);
  std::string tmp = root_ + "/tmp/" + unique_tmp_name(name);
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (out < 0) {
    ::close(in);
    throw sys_error("cannot create " + tmp);
  }
  char buffer[16384];
  ssize_t n;
  try {
    while ((n = ::read(in, buffer, sizeof buffer)) != 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw sys_error("cannot read " + source_path);
      write_all(out, std::string_view(buffer, static_cast<std::size_t>(n)), tmp);
    }
    if (::fsync(out) != 0) throw sys_error("cannot sync " + tmp);
  } catch (...) {
    ::close(in);
    ::close(out);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(in);
  ::close(out);
  std::string target = new_dir() + "/" + name;
  // link() never replaces: a file of that name already waiting is an error, not a loss.
  if (::link(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    errno = err;
    throw sys_error("cannot enqueue " + name + " as " + target);
  }
  ::unlink(tmp.c_str());
  sync_dir(new_dir());
  return name;
}

QueueWatch::QueueWatch(const std::string& new_dir) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) throw sys_error("inotify");
  if (::inotify_add_watch(fd_, new_dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0) {
    ::close(fd_);
    throw sys_error("cannot watch " + new_dir);
  }
}

QueueWatch::~QueueWatch() {
  if (fd_ >= 0) ::close(fd_);
}

bool QueueWatch::drain() {
  alignas(inotify_event) char buffer[8192];
  bool any = false;
  for (;;) {
    ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n <= 0) break;
    any = true;  // IN_Q_OVERFLOW counts too: the rescan picks up what was lost
  }
  return any;
}

}  // namespace letterd
