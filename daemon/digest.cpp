#include "digest.h"

#include <date/tz.h>

#include <stdexcept>

namespace letterd {

TimePoint next_digest_time(const DigestConfig& digest, const SendingWindow* window, TimePoint now) {
  // A window open one second at `at` on the window's days: its next opening.
  SendingWindow moment;
  if (window) moment = *window;
  moment.opens = digest.at;
  moment.closes = digest.at + std::chrono::seconds(1);
  if (!moment.zone) moment.zone = date::locate_zone("UTC");
  auto next = moment.next_opening(now);
  if (!next) throw std::logic_error("a digest time that never comes");
  return *next;
}

DigestText render_digest(const std::vector<DigestLetter>& letters, std::string_view target_name) {
  const std::string n = std::to_string(letters.size());
  const bool one = letters.size() == 1;
  DigestText out;
  const std::string& first = letters.empty() ? std::string() : letters.front().subject;
  out.subject = (one ? "1 constituent wrote to you: " : n + " constituents wrote to you: ") + first;
  std::string& b = out.body;
  b += "Dear " + std::string(target_name) + ",\n\n";
  b += one ? "1 constituent wrote to you today. Their letter follows in full"
           : n + " constituents wrote to you today. Each letter follows in full";
  b += ", with its writer's name, address and email, so that you can answer each one.\n\n";
  b += "Who wrote:\n";
  for (std::size_t i = 0; i < letters.size(); ++i) {
    const DigestLetter& l = letters[i];
    b += "  " + std::to_string(i + 1) + ". " + l.supporter_name + (l.postcode.empty() ? "" : ", " + l.postcode) + "\n";
  }
  for (std::size_t i = 0; i < letters.size(); ++i) {
    const DigestLetter& l = letters[i];
    b += "\n----------------------------------------------------------------------\n";
    b += "Letter " + std::to_string(i + 1) + " of " + n + ", from " + l.supporter_name + "\n";
    if (!l.address.empty() || !l.postcode.empty())
      b += "Address: " + l.address + (l.address.empty() || l.postcode.empty() ? "" : ", ") + l.postcode + "\n";
    b += "Email: " + l.supporter_email + "\n";
    b += "Subject: " + l.subject + "\n\n";
    b += l.body;
    if (b.empty() || b.back() != '\n') b += "\n";
  }
  return out;
}

std::string digest_letter_name(std::string_view letter) {
  return "digest/" + std::string(letter);
}

}  // namespace letterd
