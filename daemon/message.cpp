// RFC 5322 message building. The hard part: whatever a supporter typed goes
// out as printable ASCII, an encoded word, or quoted-printable, so nothing
// they send can start a header, end the message early (a line of "."), or be
// mangled by an mbox writer (a line starting "From ").

#include "message.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace letterd {
namespace {

constexpr std::size_t kBodyLine = 76;      // RFC 2045 6.7 (5)
constexpr std::size_t kFoldLine = 78;      // RFC 5322 2.1.1 SHOULD
constexpr std::size_t kMaxLine = 998;      // RFC 5322 2.1.1 MUST
constexpr std::size_t kEncodedLine = 76;   // RFC 2047 2: lines holding encoded words
constexpr std::size_t kMaxWord = 75;       // RFC 2047 2: one encoded word
constexpr std::size_t kWordOverhead = 12;  // "=?UTF-8?Q?" + "?="
// Longest header name a mailbox goes after ("Reply-To: "), so a display
// name folds right whichever header holds it.
constexpr std::size_t kMailboxUsed = 10;

constexpr char kHex[] = "0123456789ABCDEF";

void append_hex(std::string& out, unsigned char c) {
  out += '=';
  out += kHex[c >> 4];
  out += kHex[c & 0x0F];
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool is_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
}

// Length of the character at `pos`, treating a broken sequence as single
// bytes so that encoders still make progress on bad input.
std::size_t char_length(std::string_view s, std::size_t pos) {
  char32_t cp;
  const std::size_t len = utf8_char(s, pos, &cp);
  return len == 0 ? 1 : len;
}

// RFC 2047 5(3) is the strictest rule (the one for phrases); using it
// everywhere lets one encoder serve Subject and display names alike.
bool q_literal(unsigned char c) {
  return is_alnum(c) || c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

std::size_t q_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (q_literal(c) || c == ' ') ? 1 : 3;
  return n;
}

std::size_t b_length(std::size_t bytes) {
  return (bytes + 2) / 3 * 4;
}

std::string encoded_word(std::string_view bytes, bool base64) {
  std::string out = base64 ? "=?UTF-8?B?" : "=?UTF-8?Q?";
  if (base64) {
    static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
      std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
      if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
      if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
      out += kB64[(v >> 18) & 63];
      out += kB64[(v >> 12) & 63];
      out += i + 1 < bytes.size() ? kB64[(v >> 6) & 63] : '=';
      out += i + 2 < bytes.size() ? kB64[v & 63] : '=';
    }
  } else {
    for (unsigned char c : bytes) {
      if (q_literal(c))
        out += static_cast<char>(c);
      else if (c == ' ')
        out += '_';
      else
        append_hex(out, c);
    }
  }
  return out + "?=";
}

// The whole text as encoded words, split only between characters so that
// no word holds half of one (RFC 2047 5: each word must decode on its own).
std::string encode_words(std::string_view text, std::size_t used) {
  const bool base64 = b_length(text.size()) < q_length(text);
  auto word_length = [&](std::string_view bytes) {
    return kWordOverhead + (base64 ? b_length(bytes.size()) : q_length(bytes));
  };
  std::string out;
  std::size_t room = std::min(kMaxWord, used < kEncodedLine ? kEncodedLine - used : 0);
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = i;
    while (end < text.size()) {
      const std::size_t next = end + char_length(text, end);
      if (word_length(text.substr(i, next - i)) > room) break;
      end = next;
    }
    // Only the first line, after a long header name, can be too short for
    // even one character; then the text starts on the next line.
    if (end > i) out += encoded_word(text.substr(i, end - i), base64);
    i = end;
    if (i < text.size()) {
      out += "\r\n ";
      room = kMaxWord;
    }
  }
  return out;
}

// Folds ASCII text before spaces so lines stay within 78 octets. nullopt
// when one word is too long even for the 998-octet hard limit.
std::optional<std::string> fold_ascii(std::string_view text, std::size_t used) {
  // A fold point starts a run of spaces that has a word after it: folding
  // elsewhere would leave a line of only whitespace, which RFC 5322 forbids.
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  for (std::size_t p = 1; p < text.size(); ++p) {
    if (text[p] == ' ' && text[p - 1] != ' ' && text.find_first_not_of(' ', p) != std::string_view::npos) {
      pieces.push_back(text.substr(start, p - start));
      start = p;
    }
  }
  pieces.push_back(text.substr(start));

  std::string out;
  std::size_t col = used;
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    if (k > 0 && col + pieces[k].size() > kFoldLine) {
      out += "\r\n";
      col = 0;
    }
    out += pieces[k];
    col += pieces[k].size();
    if (col > kMaxLine) return std::nullopt;
  }
  return out;
}

std::size_t last_line_length(std::string_view folded, std::size_t used) {
  const std::size_t nl = folded.rfind('\n');
  return nl == std::string_view::npos ? used + folded.size() : folded.size() - nl - 1;
}

// Addresses and ids go into headers as they are, so a stray CR/LF here
// would let a submission write its own headers; better no message at all.
void require_header_safe(std::string_view value, const char* what) {
  if (has_header_breaking_chars(value)) {
    throw std::invalid_argument(std::string("header-breaking characters in ") + what);
  }
}

bool is_header_name(std::string_view name) {
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7F && c != ':'; });
}

std::vector<std::string_view> split_dots(std::string_view s) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t dot = std::min(s.find('.', start), s.size());
    parts.push_back(s.substr(start, dot - start));
    if (dot == s.size()) return parts;
    start = dot + 1;
  }
}

template <typename Pred>
bool all_parts(std::string_view s, std::size_t min_parts, Pred pred) {
  const auto parts = split_dots(s);
  return parts.size() >= min_parts && std::all_of(parts.begin(), parts.end(), pred);
}

bool is_dot_atom(std::string_view s) {
  return all_parts(s, 1, [](std::string_view atom) {
    return !atom.empty() &&
           std::all_of(atom.begin(), atom.end(), [](char c) { return is_atext(static_cast<unsigned char>(c)); });
  });
}

// Length of a quoted local part at the start of `s` (quotes included), 0 if
// malformed. Spaces are refused even quoted: no relay we hand them to needs
// them, and they are one more way for an address to be misread.
std::size_t quoted_local_length(std::string_view s) {
  for (std::size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') ++i;
    if (i >= s.size() || s[i] <= 0x20 || s[i] >= 0x7F || s[i] == '<' || s[i] == '>') return 0;
  }
  return 0;
}

bool is_ipv4_literal(std::string_view s) {
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
  const auto parts = split_dots(s.substr(1, s.size() - 2));
  return parts.size() == 4 && std::all_of(parts.begin(), parts.end(), [](std::string_view p) {
           return !p.empty() && p.size() <= 3 &&
                  std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                  std::stoi(std::string(p)) <= 255;
         });
}

// A bare host name is valid SMTP but never a campaign recipient; it is far
// more often a typo ("jane@gmail") than a local mailbox, so two labels at least.
bool is_domain(std::string_view s) {
  return s.size() <= 253 && all_parts(s, 2, [](std::string_view label) {
           return !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
                  std::all_of(label.begin(), label.end(),
                              [](char c) { return is_alnum(static_cast<unsigned char>(c)) || c == '-'; });
         });
}

// The line of `text` at `pos` without its LF or CRLF; moves `pos` past it.
std::string_view next_line(std::string_view text, std::size_t& pos, bool& has_break) {
  std::size_t nl = text.find('\n', pos);
  has_break = nl != std::string_view::npos;
  if (!has_break) nl = text.size();
  std::string_view line = text.substr(pos, nl - pos);
  if (has_break && line.ends_with('\r')) line.remove_suffix(1);
  pos = nl + 1;
  return line;
}

// The character at `i`, encoded whole so a soft break never splits it.
// One character's encoding: itself, or up to four "=XX" (UTF-8 is at most
// four bytes). Held in place, as the encoder makes one for every character.
struct QpUnit {
  char text[12];
  std::size_t size = 0;
};

QpUnit qp_unit(std::string_view line, std::size_t i, std::size_t len, bool line_start) {
  const auto c = static_cast<unsigned char>(line[i]);
  // Whitespace at a line end may be stripped in transit (RFC 2045 6.7 (3)).
  const bool trailing = i + len == line.size();
  const bool literal = len == 1 && ((c > 0x20 && c < 0x7F && c != '=') || ((c == ' ' || c == '\t') && !trailing));
  // "." alone ends SMTP DATA, and mbox writers rewrite "From " as ">From ".
  const bool hazard = line_start && (c == '.' || line.substr(i).starts_with("From "));
  QpUnit unit;
  if (literal && !hazard) {
    unit.text[unit.size++] = static_cast<char>(c);
    return unit;
  }
  for (std::size_t k = i; k < i + len; ++k) {
    const auto byte = static_cast<unsigned char>(line[k]);
    unit.text[unit.size++] = '=';
    unit.text[unit.size++] = kHex[byte >> 4];
    unit.text[unit.size++] = kHex[byte & 0x0F];
  }
  return unit;
}

}  // namespace

bool is_atext(unsigned char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::size_t utf8_char(std::string_view s, std::size_t pos, char32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  std::size_t len;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[pos + k]);
    if ((b & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

std::string quoted_printable(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() + utf8.size() / 8 + 64);
  for (std::size_t pos = 0; pos < utf8.size();) {
    bool has_break;
    const std::string_view line = next_line(utf8, pos, has_break);
    std::size_t col = 0;
    for (std::size_t i = 0; i < line.size();) {
      // Most of a letter is plain ASCII mid-line with room left: copied as it stands, a run at a time.
      if (col > 0) {
        std::size_t run = 0;
        while (i + run < line.size() && col + run + 1 < kBodyLine) {
          const auto c = static_cast<unsigned char>(line[i + run]);
          if (!((c > 0x20 && c < 0x7F && c != '=') || (c == ' ' && i + run + 1 < line.size()))) break;
          ++run;
        }
        if (run > 0) {
          out.append(line.substr(i, run));
          col += run;
          i += run;
          continue;
        }
      }
      const std::size_t len = char_length(line, i);
      const bool last = i + len == line.size();
      QpUnit unit = qp_unit(line, i, len, col == 0);
      // Any but the last must leave room for the '=' of a soft break.
      if (col + unit.size > (last ? kBodyLine : kBodyLine - 1)) {
        out += "=\r\n";
        col = 0;
        unit = qp_unit(line, i, len, true);
      }
      out.append(unit.text, unit.size);
      col += unit.size;
      i += len;
    }
    if (has_break) out += "\r\n";
  }
  return out;
}

// Returns LF line ends: callers compare with, or show, the text as it was
// written, and the body's CRLFs are a transport detail. Soft breaks go away;
// whitespace before a line end is dropped as RFC 2045 6.7 (3) requires,
// since a relay may have added it; a malformed "=" is kept as it stands.
std::string quoted_printable_decode(std::string_view encoded) {
  std::string out;
  for (std::size_t pos = 0; pos < encoded.size();) {
    bool has_break;
    std::string_view line = next_line(encoded, pos, has_break);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    const bool soft = !line.empty() && line.back() == '=';
    if (soft) line.remove_suffix(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '=' && i + 2 < line.size() && hex_value(line[i + 1]) >= 0 && hex_value(line[i + 2]) >= 0) {
        out += static_cast<char>(hex_value(line[i + 1]) * 16 + hex_value(line[i + 2]));
        i += 2;
      } else {
        out += line[i];
      }
    }
    if (has_break && !soft) out += '\n';
  }
  return out;
}

std::string encode_header_text(std::string_view utf8, std::size_t used) {
  // Plain text that looks like an encoded word would be decoded by readers,
  // so it is encoded too (RFC 2047 leaves "=?" in ordinary text undefined).
  if (is_printable_ascii(utf8) && utf8.find("=?") == std::string_view::npos) {
    if (auto folded = fold_ascii(utf8, used)) return *folded;
  }
  return encode_words(utf8, used);
}

std::string format_mailbox(const Mailbox& mailbox) {
  const std::string& name = mailbox.display_name;
  if (name.find_first_not_of(' ') == std::string::npos) return mailbox.address;

  std::optional<std::string> display;
  if (is_printable_ascii(name) && name.find("=?") == std::string::npos) {
    const bool atoms = std::all_of(name.begin(), name.end(),
                                   [](char c) { return c == ' ' || is_atext(static_cast<unsigned char>(c)); });
    if (atoms) {
      display = fold_ascii(name, kMailboxUsed);
    } else {
      std::string quoted = "\"";
      for (char c : name) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
      }
      display = fold_ascii(quoted + '"', kMailboxUsed);
    }
  }
  if (!display) display = encode_words(name, kMailboxUsed);

  const std::size_t col = last_line_length(*display, kMailboxUsed);
  const bool fits = col + 1 + mailbox.address.size() + 2 <= kFoldLine;
  return *display + (fits ? " <" : "\r\n <") + mailbox.address + ">";
}

std::string rfc5322_date(TimePoint t) {
  using namespace std::chrono;
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(t - day)};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d +0000", kDays[weekday{day}.c_encoding()],
                static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string render_headers(const OutgoingMessage& message) {
  require_header_safe(message.from.address, "From address");
  require_header_safe(message.to.address, "To address");
  if (message.reply_to) require_header_safe(message.reply_to->address, "Reply-To address");
  require_header_safe(message.message_id, "Message-ID");

  std::string out;
  out += "Date: " + rfc5322_date(message.date) + "\r\n";
  out += "From: " + format_mailbox(message.from) + "\r\n";
  if (message.reply_to) out += "Reply-To: " + format_mailbox(*message.reply_to) + "\r\n";
  out += "To: " + format_mailbox(message.to) + "\r\n";
  out += "Subject: " + encode_header_text(message.subject, 9) + "\r\n";
  out += "Message-ID: <" + message.message_id + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n";
  for (const auto& [name, value] : message.extra_headers) {
    if (!is_header_name(name)) throw std::invalid_argument("bad header name: " + name);
    out += name + ": " + encode_header_text(value, name.size() + 2) + "\r\n";
  }
  return out;
}

std::string build_message(const OutgoingMessage& message) {
  std::string out = render_headers(message) + "\r\n" + quoted_printable(message.body);
  // SMTP DATA needs the last line terminated even when the body's was not.
  if (!out.ends_with("\r\n")) out += "\r\n";
  return out;
}

bool is_valid_address(std::string_view address) {
  if (address.size() > 254) return false;
  std::size_t local_len;
  if (!address.empty() && address.front() == '"') {
    local_len = quoted_local_length(address);
    if (local_len == 0) return false;
  } else {
    local_len = std::min(address.find('@'), address.size());
    if (!is_dot_atom(address.substr(0, local_len))) return false;
  }
  if (local_len > 64 || local_len >= address.size() || address[local_len] != '@') return false;
  const std::string_view domain = address.substr(local_len + 1);
  return is_domain(domain) || is_ipv4_literal(domain);
}

// Empty when there is no '@': no domain to route or rate-limit by.
std::string address_domain(std::string_view address) {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string domain(address.substr(at + 1));
  for (char& c : domain) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return domain;
}

bool is_valid_utf8(std::string_view text) {
  char32_t cp;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = utf8_char(text, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool has_header_breaking_chars(std::string_view utf8) {
  char32_t cp;
  for (std::size_t i = 0; i < utf8.size();) {
    const std::size_t len = utf8_char(utf8, i, &cp);
    // Bytes we cannot read we cannot vouch for: a gate must fail closed.
    if (len == 0) return true;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) return true;
    i += len;
  }
  return false;
}

std::string redact_addresses(const std::string& reply) {
  auto part_of_address = [](char c) { return c != ' ' && c != '\t' && c != '<' && c != '>' && c != '"'; };
  std::string out;
  std::size_t copied = 0;
  for (std::size_t at = reply.find('@'); at != std::string::npos; at = reply.find('@', at + 1)) {
    std::size_t start = at, end = at + 1;
    while (start > copied && part_of_address(reply[start - 1])) --start;
    while (end < reply.size() && part_of_address(reply[end])) ++end;
    if (start == at || end == at + 1) continue;  // a lone @ is no address
    out.append(reply, copied, start - copied).append("[address]");
    copied = end;
    at = end - 1;
  }
  return out.append(reply, copied, std::string::npos);
}

}  // namespace letterd
