// The bounce mailbox over IMAP (RFC 3501), through libcurl: TLS always
// (imaps://, or imap:// with STARTTLS required), the password read as a
// relay's is. letterd remembers the mailbox's UIDVALIDITY and the last UID
// it read; each poll asks for the UIDs above it and fetches each mail
// whole. The parsing of the server's answers is pure and tested apart.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.h"

namespace letterd {

// "* OK [UIDVALIDITY 3857529045] UIDs valid" in an EXAMINE answer.
std::optional<long long> parse_uidvalidity(std::string_view answer);
// "* SEARCH 4 7 9" in a UID SEARCH answer: the UIDs above `after`, ascending.
std::vector<long long> parse_search(std::string_view answer, long long after);

// The mailbox a bounces.url names: "imaps://host:993/INBOX" -> "INBOX".
std::string mailbox_of(const std::string& url);

struct ImapMail {
  long long uid = 0;
  std::string text;
};
struct ImapBatch {
  long long uidvalidity = 0;
  std::vector<ImapMail> mails;  // ascending UIDs
};

// Up to `limit` mails above `last_uid`; all from the first UID when the
// mailbox's UIDVALIDITY is no longer `known_validity` (its UIDs were
// renumbered). Throws std::runtime_error saying what failed (connect,
// TLS, login, a command), never with the password.
ImapBatch fetch_new_mail(const BounceConfig& config, long long known_validity, long long last_uid, std::size_t limit);

}  // namespace letterd
