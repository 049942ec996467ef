// What the queue directory keeps of supporters' files, and for how long.
// Files in rejected/ and accepted/ hold a supporter's name, address and
// note: they go when retention.bodies has passed since they were moved
// there, and at once when that supporter asks to be erased.
#pragma once

#include <dirent.h>

#include <string>
#include <vector>

#include "timefmt.h"

namespace letterd {

// Walks rejected/ and accepted/ a slice at a time, removing files moved
// there before a cutoff, so a sweep of a large directory never holds up
// the daemon's loop.
class KeptFilesSweep {
 public:
  KeptFilesSweep(std::string queue_root, TimePoint moved_before);
  ~KeptFilesSweep();
  KeptFilesSweep(const KeptFilesSweep&) = delete;
  KeptFilesSweep& operator=(const KeptFilesSweep&) = delete;

  // Looks at up to `entries` more directory entries; false once both
  // directories have been walked to their end.
  bool step(int entries);
  // Files removed so far, not counting their .error files.
  int removed() const { return removed_; }

 private:
  bool open_next();

  std::string root_;
  TimePoint before_;
  std::vector<std::string> dirs_{"rejected", "accepted"};
  std::string dir_;
  DIR* stream_ = nullptr;
  int removed_ = 0;
};

// Removes one supporter's files from accepted/ (by the names their
// submissions came from, with the suffix a clash added) and from
// rejected/ (any file that holds their address as a whole address, with
// its .error). Returns the files removed, as "accepted/NAME" or
// "rejected/NAME", and when each was moved there.
struct KeptFile {
  std::string path;
  TimePoint moved_at;
};
std::vector<KeptFile> erase_kept_files(const std::string& queue_root, const std::vector<std::string>& source_files,
                                       const std::string& supporter_email);

// The name a kept file had in new/: NAME for NAME.N, the name a clash gave it.
std::string name_in_new(const std::string& kept_name);

}  // namespace letterd
