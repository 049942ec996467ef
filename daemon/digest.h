// Daily digests (SPEC "Respecting the recipient's office"): a letter with
// `digest` is not sent alone; its letters to one target collect through
// the day and go at `at` as one email that lists the constituents who
// wrote, then gives each letter whole with its writer's name, address and
// email, so the office can answer each one. Pure: the store collects, the
// daemon sends the digest as it sends any letter.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "timefmt.h"
#include "window.h"

namespace letterd {

struct DigestConfig {
  TimeOfDay at{8 * 3600};  // in the letter's window's time zone, UTC without one
  int max_letters = 500;   // more go as several emails
  bool operator==(const DigestConfig&) const = default;
};

// The digest time a letter accepted at `now` goes at: today's `at` if it
// is still to come, else the next day's, on the days and holidays of
// `window` and in its zone (without one: every day, UTC).
TimePoint next_digest_time(const DigestConfig& digest, const SendingWindow* window, TimePoint now);

// One letter in a digest, as its writer wrote it.
struct DigestLetter {
  long long id = 0;
  std::string supporter_name, supporter_email, postcode, address;
  std::string subject, body;
  std::string recipient, recipient_name;  // the target's address as the letter was written for it
};

struct DigestText {
  std::string subject, body;
};

// The digest of `letters` (oldest first) to `target_name`: a subject that
// says how many constituents wrote, the list of them (name, postcode),
// then each letter whole, its writer's name, address and email above it.
DigestText render_digest(const std::vector<DigestLetter>& letters, std::string_view target_name);

// The letter name of a digest's own message row: "digest/mp".
std::string digest_letter_name(std::string_view letter);

}  // namespace letterd
