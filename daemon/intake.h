// Turns files waiting in the queue into committed messages: read, check,
// render, drop duplicates, commit, and only then remove the file. A bad file
// goes to rejected/ with its reasons; nothing stops the daemon.
#pragma once

#include <spdlog/logger.h>

#include <string>

#include "config.h"
#include "queue.h"
#include "store.h"

namespace letterd {

struct IntakeCounts {
  int accepted = 0;
  int rejected = 0;
  int messages = 0;

  int files() const { return accepted + rejected; }
};

class Intake {
 public:
  Intake(const Config& config, Store& store, const QueueDir& queue, spdlog::logger& log);

  // Takes up to `batch` files from new/. A file that cannot be taken for a
  // reason of letterd's own (a full disk, a locked database) is logged and
  // left in new/ for the next scan; the others go on.
  IntakeCounts run(std::size_t batch);

  // Takes one file from new/; throws when letterd itself is in trouble.
  IntakeCounts take(const std::string& name);

 private:
  void reject(const std::string& name, const std::vector<std::string>& reasons, IntakeCounts& counts);

  const Config& config_;
  Store& store_;
  const QueueDir& queue_;
  spdlog::logger& log_;
};

// A new Message-ID's left and right parts: 128 random bits @ the sender's domain.
std::string new_message_id(const std::string& from_address);

// A digest of a file's bytes (64-bit FNV-1a, hex): tells a file read again
// after a crash from a new file that reuses its name.
std::string content_digest(std::string_view bytes);

}  // namespace letterd
