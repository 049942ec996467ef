#include "bounce.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "message.h"

namespace letterd {

namespace {

// Longest diagnostic kept: a remote server's reply, not a letter.
constexpr std::size_t kMaxDiagnostic = 500;

void init_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

struct GObjectUnref {
  void operator()(gpointer object) const {
    if (object) g_object_unref(object);
  }
};
template <class T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;

struct GFree {
  void operator()(gpointer p) const { g_free(p); }
};

char lower_char(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower_char);
  return out;
}

std::string trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

bool contains(std::string_view haystack_lower, std::string_view needle) {
  return haystack_lower.find(needle) != std::string_view::npos;
}

// "rfc822; jo@example.org" -> "jo@example.org"; "smtp; 550 ..." -> "550 ...".
std::string without_type(std::string_view value) {
  auto semi = value.find(';');
  return trim(semi == std::string_view::npos ? value : value.substr(semi + 1));
}

// What a remote server said, fit to show: addresses replaced, control
// characters (a terminal's escapes among them) made spaces, and cut to
// kMaxDiagnostic octets at a character's start.
std::string diagnostic_text(std::string_view text) {
  std::string out = redact_addresses(trim(text));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (out.size() > kMaxDiagnostic) {
    std::size_t cut = kMaxDiagnostic;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out;
}

// Every address-like word (local@domain) in a header's value.
void collect_addresses(std::string_view value, std::vector<std::string>& out) {
  constexpr std::string_view kStops = " \t\r\n<>,;:\"()[]";
  for (auto at = value.find('@'); at != std::string_view::npos; at = value.find('@', at + 1)) {
    auto start = value.find_last_of(kStops, at);
    start = start == std::string_view::npos ? 0 : start + 1;
    auto end = value.find_first_of(kStops, at);
    if (end == std::string_view::npos) end = value.size();
    if (start < at && at + 1 < end) out.emplace_back(value.substr(start, end - start));
    at = end == value.size() ? end - 1 : end;
  }
}

using Fields = std::vector<std::pair<std::string, std::string>>;  // lower-case name, value

// The "Name: value" blocks of a delivery-status body, folded lines joined.
std::vector<Fields> field_blocks(std::string_view text) {
  std::vector<Fields> blocks(1);
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    if (trim(line).empty()) {
      if (!blocks.back().empty()) blocks.emplace_back();
    } else if ((line[0] == ' ' || line[0] == '\t') && !blocks.back().empty()) {
      blocks.back().back().second += " " + trim(line);
    } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
      blocks.back().emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
    }
  }
  if (blocks.back().empty()) blocks.pop_back();
  return blocks;
}

std::string field(const Fields& fields, std::string_view name) {
  for (const auto& [n, v] : fields)
    if (n == name) return v;
  return {};
}

// A Message-ID header's value in a block of headers (a returned letter's,
// or the text of an older bounce), without its brackets.
std::string message_id_in(std::string_view text) {
  std::string low = lower(text);
  for (auto at = low.find("message-id:"); at != std::string::npos; at = low.find("message-id:", at + 1)) {
    if (at != 0 && text[at - 1] != '\n') continue;
    auto open = text.find('<', at);
    auto line_end = text.find('\n', at);
    if (open == std::string_view::npos || (line_end != std::string_view::npos && open > line_end + 80)) continue;
    auto close = text.find('>', open);
    if (close == std::string_view::npos) continue;
    return std::string(text.substr(open + 1, close - open - 1));
  }
  return {};
}

std::string part_text(GMimeObject* part) {
  if (GMIME_IS_TEXT_PART(part)) {
    std::unique_ptr<char, GFree> text(g_mime_text_part_get_text(GMIME_TEXT_PART(part)));
    return text ? std::string(text.get()) : std::string();
  }
  if (GMIME_IS_PART(part)) {
    GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(part));
    if (!content) return {};
    GObjectPtr<GMimeStream> stream(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(content, stream.get());
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream.get()));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
  }
  if (GMIME_IS_MESSAGE_PART(part)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
    if (!inner) return {};
    std::unique_ptr<char, GFree> text(g_mime_object_to_string(GMIME_OBJECT(inner), nullptr));
    return text ? std::string(text.get()) : std::string();
  }
  return {};
}

// What the parts of a mail hold, read once.
struct Parts {
  std::string report;       // message/delivery-status
  std::string returned_id;  // from message/rfc822 or text/rfc822-headers
  std::string text;         // the text/plain parts, in order
  int depth = 0;
};

void walk(GMimeObject* part, Parts& parts) {
  if (!part || parts.depth > 8) return;
  GMimeContentType* type = g_mime_object_get_content_type(part);
  if (GMIME_IS_MULTIPART(part)) {
    ++parts.depth;
    int count = g_mime_multipart_get_count(GMIME_MULTIPART(part));
    for (int i = 0; i < count; ++i) walk(g_mime_multipart_get_part(GMIME_MULTIPART(part), i), parts);
    --parts.depth;
  } else if (type && (g_mime_content_type_is_type(type, "message", "delivery-status") ||
                      g_mime_content_type_is_type(type, "message", "global-delivery-status"))) {
    parts.report += part_text(part);
  } else if (GMIME_IS_MESSAGE_PART(part)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
    if (inner && parts.returned_id.empty())
      if (const char* id = g_mime_message_get_message_id(inner)) parts.returned_id = id;
  } else if (type && g_mime_content_type_is_type(type, "text", "rfc822-headers")) {
    if (parts.returned_id.empty()) parts.returned_id = message_id_in(part_text(part));
  } else if (type && g_mime_content_type_is_type(type, "text", "plain") && parts.text.empty()) {
    // The first text part explains; a later one may be the letter quoted back.
    parts.text = part_text(part) + "\n";
  }
}

// The top-level headers, by lower-case name, in order.
Fields headers_of(GMimeMessage* message) {
  Fields out;
  GMimeHeaderList* list = g_mime_object_get_header_list(GMIME_OBJECT(message));
  int count = list ? g_mime_header_list_get_count(list) : 0;
  for (int i = 0; i < count; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
    const char* name = g_mime_header_get_name(h);
    const char* value = g_mime_header_get_value(h);
    if (name) out.emplace_back(lower(name), value ? value : "");
  }
  return out;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// class "." subject "." detail (RFC 3463): 5.1.1, 4.4.7, 2.0.0.
bool is_status_code(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  auto dot = s.find('.', 2);
  if (dot == std::string_view::npos || dot == 2 || dot > 5 || dot + 1 >= s.size() || s.size() - dot - 1 > 3)
    return false;
  return std::all_of(s.begin() + 2, s.begin() + static_cast<long>(dot), is_digit) &&
         std::all_of(s.begin() + static_cast<long>(dot) + 1, s.end(), is_digit);
}

void read_report(std::string_view report, BounceReport& out) {
  auto blocks = field_blocks(report);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const Fields& b = blocks[i];
    if (std::string sender = field(b, "x-postfix-sender"); !sender.empty())
      collect_addresses(without_type(sender), out.addressed_to);
    std::string recipient = field(b, "final-recipient");
    if (recipient.empty()) recipient = field(b, "original-recipient");
    std::string action = lower(field(b, "action"));
    if (recipient.empty() || action.empty()) continue;
    std::string status = trim(field(b, "status"));
    if (!is_status_code(status)) status.clear();
    out.recipients.push_back({.address = without_type(recipient),
                              .action = action,
                              .status = status,
                              .diagnostic = diagnostic_text(without_type(field(b, "diagnostic-code")))});
  }
  for (const char* wanted : {"failed", "delayed"}) {
    auto it = std::find_if(out.recipients.begin(), out.recipients.end(),
                           [wanted](const BounceRecipient& r) { return r.action == wanted; });
    if (it == out.recipients.end()) continue;
    out.kind = it->action == "failed" ? BounceReport::Kind::hard : BounceReport::Kind::delay;
    out.status = it->status;
    out.diagnostic = it->diagnostic;
    return;
  }
}

// Where an older bounce stops explaining and quotes the letter back.
std::size_t copy_starts(std::string_view text_lower) {
  std::size_t first = text_lower.size();
  for (std::string_view marker :
       {"below this line is a copy of the message", "this is a copy of the message", "original message follows",
        "original message headers", "----- original message -----", "received: from"})
    first = std::min(first, text_lower.find(marker) == std::string_view::npos ? first : text_lower.find(marker));
  return first;
}

// The first enhanced status code (5.1.1) in `text`, with its position.
std::optional<std::pair<std::string, std::size_t>> enhanced_status(std::string_view text) {
  for (std::size_t i = 0; i + 5 <= text.size(); ++i) {
    if ((text[i] != '4' && text[i] != '5') || text[i + 1] != '.') continue;
    if (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '.')) continue;
    std::size_t j = i + 2, digits = 0;
    while (j < text.size() && is_digit(text[j]) && digits < 4) ++j, ++digits;
    if (digits == 0 || digits > 3 || j >= text.size() || text[j] != '.') continue;
    std::size_t k = j + 1, more = 0;
    while (k < text.size() && is_digit(text[k]) && more < 4) ++k, ++more;
    if (more == 0 || more > 3 || (k < text.size() && (is_digit(text[k]) || text[k] == '.'))) continue;
    return std::pair{std::string(text.substr(i, k - i)), i};
  }
  return std::nullopt;
}

// The first SMTP reply code (550, 452) in `text` followed by a space or a dash.
std::optional<std::pair<std::string, std::size_t>> reply_code(std::string_view text) {
  for (std::size_t i = 0; i + 4 <= text.size(); ++i) {
    if ((text[i] != '4' && text[i] != '5') || !is_digit(text[i + 1]) || !is_digit(text[i + 2])) continue;
    if (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '.')) continue;
    if (text[i + 3] != ' ' && text[i + 3] != '-') continue;
    return std::pair{std::string(1, text[i]) + ".0.0", i};
  }
  return std::nullopt;
}

std::string line_at(std::string_view text, std::size_t pos) {
  auto start = text.rfind('\n', pos);
  start = start == std::string_view::npos ? 0 : start + 1;
  auto end = text.find('\n', pos);
  return std::string(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
}

void read_older_bounce(std::string_view text, BounceReport& out) {
  std::string low = lower(text);
  std::string_view explained = std::string_view(text).substr(0, copy_starts(low));
  auto found = enhanced_status(explained);
  if (!found) found = reply_code(explained);
  if (!found) return;
  out.kind = found->first[0] == '5' ? BounceReport::Kind::hard : BounceReport::Kind::delay;
  out.status = found->first;
  out.diagnostic = diagnostic_text(line_at(explained, found->second));
  collect_addresses(explained, out.mentioned);
  for (auto& a : out.mentioned) a = lower(a);
}

bool looks_like_a_bounce(const Fields& headers, std::string_view subject_lower) {
  std::string from = lower(field(headers, "from"));
  if (contains(from, "mailer-daemon") || contains(from, "postmaster")) return true;
  for (std::string_view words :
       {"undeliver", "delivery status notification", "delivery failure", "returned mail", "failure notice",
        "mail delivery failed", "delivery has failed", "non-delivery", "not delivered"})
    if (contains(subject_lower, words)) return true;
  return false;
}

bool looks_like_an_auto_reply(const Fields& headers, std::string_view subject_lower) {
  std::string auto_submitted = lower(field(headers, "auto-submitted"));
  if (!auto_submitted.empty() && !auto_submitted.starts_with("no")) return true;
  for (const auto& [name, value] : headers)
    if (name == "x-autoreply" || name == "x-autorespond" ||
        (name == "precedence" && lower(trim(value)) == "auto_reply"))
      return true;
  for (std::string_view prefix :
       {"automatic reply", "auto:", "autoreply", "auto-reply", "auto reply", "out of office", "out of the office"})
    if (subject_lower.starts_with(prefix)) return true;
  return false;
}

}  // namespace

const char* to_string(BounceReport::Kind kind) {
  switch (kind) {
    case BounceReport::Kind::hard:
      return "hard";
    case BounceReport::Kind::delay:
      return "delay";
    case BounceReport::Kind::auto_reply:
      return "auto_reply";
    case BounceReport::Kind::unparsed:
      return "unparsed";
  }
  return "unparsed";
}

BounceReport read_bounce(std::string_view raw) {
  init_gmime();
  BounceReport out;
  GObjectPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
  GObjectPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GObjectPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!message) return out;

  Fields headers = headers_of(message.get());
  for (const auto& [name, value] : headers)
    if (name == "to" || name == "delivered-to" || name == "x-original-to" || name == "envelope-to" ||
        name == "x-envelope-to")
      collect_addresses(value, out.addressed_to);
  std::vector<std::string> from;
  collect_addresses(field(headers, "from"), from);
  if (!from.empty()) out.from_address = lower(from.front());
  const char* subject = g_mime_message_get_subject(message.get());
  std::string subject_lower = lower(trim(subject ? subject : ""));

  Parts parts;
  GMimeObject* body = g_mime_message_get_mime_part(message.get());
  walk(body, parts);
  out.about_message_id = parts.returned_id;

  if (!parts.report.empty()) read_report(parts.report, out);
  if (out.kind == BounceReport::Kind::unparsed && out.recipients.empty()) {
    if (looks_like_a_bounce(headers, subject_lower)) {
      read_older_bounce(parts.text, out);
      std::string low = lower(parts.text);
      if (out.about_message_id.empty())
        out.about_message_id = message_id_in(std::string_view(parts.text).substr(copy_starts(low)));
    } else if (looks_like_an_auto_reply(headers, subject_lower)) {
      out.kind = BounceReport::Kind::auto_reply;
      std::string in_reply_to = field(headers, "in-reply-to");
      auto open = in_reply_to.find('<'), close = in_reply_to.find('>');
      if (open != std::string::npos && close != std::string::npos && close > open)
        out.about_message_id = in_reply_to.substr(open + 1, close - open - 1);
    }
  }
  return out;
}

}  // namespace letterd
