#include "queue_retention.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <string_view>

#include "message.h"
#include "queue.h"

namespace letterd {

namespace {

bool is_regular(const std::string& path, struct stat& st) {
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// When a file was moved into rejected/ or accepted/: a rename changes a
// file's ctime, and the writer's mtime says nothing about the move.
TimePoint moved_at(const struct stat& st) {
  using namespace std::chrono;
  return TimePoint(duration_cast<milliseconds>(seconds(st.st_ctim.tv_sec) + nanoseconds(st.st_ctim.tv_nsec)));
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// NAME itself, or NAME.N: the name the queue gave it when NAME was taken.
bool same_file_name(const std::string& entry, const std::string& name) {
  if (entry == name) return true;
  if (entry.size() <= name.size() + 1 || entry.compare(0, name.size(), name) != 0 || entry[name.size()] != '.')
    return false;
  return std::all_of(entry.begin() + static_cast<long>(name.size()) + 1, entry.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

template <typename Visit>
void each_entry(const std::string& dir, Visit visit) {
  DIR* stream = ::opendir(dir.c_str());
  if (!stream) return;
  while (dirent* entry = ::readdir(stream)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") visit(name);
  }
  ::closedir(stream);
}

}  // namespace

KeptFilesSweep::KeptFilesSweep(std::string queue_root, TimePoint moved_before)
    : root_(std::move(queue_root)), before_(moved_before) {}

KeptFilesSweep::~KeptFilesSweep() {
  if (stream_) ::closedir(stream_);
}

bool KeptFilesSweep::open_next() {
  while (!stream_ && !dirs_.empty()) {
    dir_ = root_ + "/" + dirs_.front();
    dirs_.erase(dirs_.begin());
    stream_ = ::opendir(dir_.c_str());
  }
  return stream_ != nullptr;
}

bool KeptFilesSweep::step(int entries) {
  for (int seen = 0; seen < entries;) {
    if (!open_next()) return false;
    dirent* entry = ::readdir(stream_);
    if (!entry) {
      ::closedir(stream_);
      stream_ = nullptr;
      continue;
    }
    ++seen;
    std::string path = dir_ + "/" + entry->d_name;
    struct stat st;
    if (!is_regular(path, st) || moved_at(st) >= before_) continue;
    // A .error goes with its file, and is not counted as one of its own.
    if (::unlink(path.c_str()) == 0 && !std::string_view(entry->d_name).ends_with(".error")) ++removed_;
  }
  return true;
}

namespace {

bool is_local_part_char(char c) {
  return c == '.' || is_atext(static_cast<unsigned char>(c));
}

// Whether `text` (lower case) holds `address` as a whole address: not
// inside joann@example.org for ann@example.org, nor ann@example.org.uk.
bool holds_address(const std::string& text, const std::string& address) {
  for (auto at = text.find(address); at != std::string::npos; at = text.find(address, at + 1)) {
    std::size_t end = at + address.size();
    bool starts = at == 0 || !is_local_part_char(text[at - 1]);
    bool ends =
        end == text.size() ||
        !(std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-' ||
          (text[end] == '.' && end + 1 < text.size() && std::isalnum(static_cast<unsigned char>(text[end + 1]))));
    if (starts && ends) return true;
  }
  return false;
}

// Whether a kept file holds this address: a file name alone may have been
// reused by another supporter. A submission is at most 64 KiB, and the
// address comes early in it: the first MiB of a larger file is enough.
bool names_address(const std::string& path, const std::string& address, struct stat& st) {
  if (!is_regular(path, st)) return false;
  constexpr std::size_t kRead = 1 << 20;
  std::string error;
  auto text = read_file_bounded(path, std::min<std::size_t>(std::max<off_t>(st.st_size, 1), kRead), error);
  return text && holds_address(lower(*text), address);
}

}  // namespace

std::vector<KeptFile> erase_kept_files(const std::string& queue_root, const std::vector<std::string>& source_files,
                                       const std::string& supporter_email) {
  const std::string address = lower(supporter_email);
  std::vector<KeptFile> theirs;
  struct stat st;
  const std::string accepted = queue_root + "/accepted";
  each_entry(accepted, [&](const std::string& entry) {
    bool source = std::any_of(source_files.begin(), source_files.end(),
                              [&](const std::string& name) { return same_file_name(entry, name); });
    if (source && names_address(accepted + "/" + entry, address, st))
      theirs.push_back({"accepted/" + entry, moved_at(st)});
  });
  // A rejected file never became a submission: it is known by its content.
  const std::string rejected = queue_root + "/rejected";
  each_entry(rejected, [&](const std::string& entry) {
    if (entry.ends_with(".error") || !names_address(rejected + "/" + entry, address, st)) return;
    theirs.push_back({"rejected/" + entry, moved_at(st)});
  });
  std::vector<KeptFile> removed;
  for (const auto& file : theirs) {
    if (::unlink((queue_root + "/" + file.path).c_str()) == 0) removed.push_back(file);
    if (file.path.starts_with("rejected/")) ::unlink((queue_root + "/" + file.path + ".error").c_str());
  }
  return removed;
}

std::string name_in_new(const std::string& kept_name) {
  auto dot = kept_name.rfind('.');
  if (dot == std::string::npos || dot + 1 == kept_name.size()) return kept_name;
  bool suffix = std::all_of(kept_name.begin() + static_cast<long>(dot) + 1, kept_name.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
  return suffix ? kept_name.substr(0, dot) : kept_name;
}

}  // namespace letterd
