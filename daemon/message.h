// RFC 5322 messages, built from plain values, and the checks that keep a
// submission's bytes from ever becoming a header.
//
// Every message is text/plain; charset=UTF-8 in quoted-printable (safe on a
// 7-bit relay), with CRLF line ends and no line over 76 octets in the body or
// 998 anywhere. Header text that is not ASCII becomes RFC 2047 encoded words.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "timefmt.h"

namespace letterd {

struct Mailbox {
  std::string display_name;  // UTF-8, may be empty
  std::string address;       // local@domain, ASCII
};

struct OutgoingMessage {
  Mailbox from;
  std::optional<Mailbox> reply_to;
  Mailbox to;
  std::string subject;     // UTF-8, one line
  std::string body;        // UTF-8; LF or CRLF line ends, both become CRLF
  std::string message_id;  // "unique@domain", without angle brackets
  TimePoint date;
  // Further headers, ASCII names and values (e.g. {"X-Letterd-Mode", "reflect"}).
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

// The header block, each header folded and ending in CRLF, without the blank line.
std::string render_headers(const OutgoingMessage& message);

// The whole message as it goes into SMTP DATA: headers, blank line, encoded body.
// Precondition: every value passed has_header_breaking_chars() == false.
std::string build_message(const OutgoingMessage& message);

// "Jane Doe <jane@example.org>", quoting or encoding the display name as needed.
std::string format_mailbox(const Mailbox& mailbox);

// RFC 2047 encoded words (UTF-8, Q or B) for text that is not printable
// ASCII; plain text otherwise. `used` is how many octets of the line the
// header name has taken, so folding keeps every line within 78 octets.
std::string encode_header_text(std::string_view utf8, std::size_t used);

// Quoted-printable (RFC 2045) with CRLF line ends and soft breaks at 76 octets.
// A line that would begin with "." or "From " is encoded so it cannot.
std::string quoted_printable(std::string_view utf8);

// Decodes quoted-printable; for tests and preview.
std::string quoted_printable_decode(std::string_view encoded);

// "Tue, 24 Nov 2026 10:00:00 +0000"
std::string rfc5322_date(TimePoint t);

// A mailbox as RFC 5321 allows it in MAIL FROM / RCPT TO: dot-atom or
// quoted local part, a domain of LDH labels (or an address literal), at
// most 64 octets local, 254 in all, ASCII only.
bool is_valid_address(std::string_view address);

// RFC 5322 atext: the characters of a dot-atom between its dots.
bool is_atext(unsigned char c);

// The part after the last '@', lower-cased.
std::string address_domain(std::string_view address);

// Well-formed UTF-8, no overlongs, no surrogates.
bool is_valid_utf8(std::string_view text);

// Decodes the one well-formed UTF-8 character at `pos` into `cp`; returns
// its length, or 0 when the bytes there are not one.
std::size_t utf8_char(std::string_view s, std::size_t pos, char32_t* cp);

// True when the text holds anything that could end or split a header line:
// any C0 control (tab included), DEL, C1 controls (U+0080-U+009F),
// U+2028 LINE SEPARATOR or U+2029 PARAGRAPH SEPARATOR.
bool has_header_breaking_chars(std::string_view utf8);

// The text with every address in it replaced by "[address]": relays echo
// recipients in replies ("<jane@example.org>: Recipient address rejected"),
// and a log must not carry a supporter's address.
std::string redact_addresses(const std::string& text);

}  // namespace letterd
