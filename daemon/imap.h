// The bounce mailbox over IMAP (RFC 3501), through libcurl: TLS always
// (imaps://, or imap:// with STARTTLS required), the password read as a
// relay's is. letterd remembers the mailbox's UIDVALIDITY and the last UID
// it read; each poll asks for the UIDs above it, a window at a time, and
// fetches each mail whole. The parsing of the server's answers is pure and
// tested apart.
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
// "* OK [UIDNEXT 4392] Predicted next UID" in an EXAMINE answer.
std::optional<long long> parse_uidnext(std::string_view answer);
// "* SEARCH 4 7 9" in a UID SEARCH answer: the UIDs above `after`, ascending.
std::vector<long long> parse_search(std::string_view answer, long long after);

// libcurl keeps only the first 40 bytes of a response line longer than
// half its receive buffer (8 KiB by default), and a SEARCH answers on one
// line: a search for every new UID of a large mailbox would come back cut
// and read as a few. So each search asks for a window of at most this many
// UIDs, whose answer (10 digits and a space each) stays well under that.
inline constexpr long long kSearchWindow = 512;
// The UIDs the next search asks for, after `after` and below `uidnext`
// (first, last); nullopt when there are none.
std::optional<std::pair<long long, long long>> search_window(long long after, long long uidnext);

// The mailbox a bounces.url names: "imaps://host:993/INBOX" -> "INBOX".
std::string mailbox_of(const std::string& url);

struct ImapMail {
  long long uid = 0;
  std::string text;
};
struct ImapBatch {
  long long uidvalidity = 0;
  std::vector<ImapMail> mails;  // ascending UIDs
  long long looked_to = 0;      // every UID up to this one was looked at: the mails among them are `mails`
};

// Up to `limit` mails above `last_uid`; all from the first UID when the
// mailbox's UIDVALIDITY is no longer `known_validity` (its UIDs were
// renumbered). Fewer than `limit` only when no more had come when it
// looked. Throws std::runtime_error saying what failed (connect,
// TLS, login, a command), never with the password.
ImapBatch fetch_new_mail(const BounceConfig& config, long long known_validity, long long last_uid, std::size_t limit);

}  // namespace letterd
