// What a mail that came back to a campaign's return path says (SPEC
// "Delivery truth"): an RFC 3464 delivery-status report (every recipient
// block), one of the older free-text bounces still sent (qmail, Exchange,
// Postfix without a report), an RFC 3834 automatic reply or an
// out-of-office, or something else, kept as unparsed. MIME is read by
// GMime 3; the rest is text. Pure: bytes in, a report out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace letterd {

// One recipient block of a delivery-status report.
struct BounceRecipient {
  std::string address;     // Final-Recipient, without its "rfc822;" type
  std::string action;      // failed, delayed, delivered, relayed, expanded (lower case)
  std::string status;      // 5.1.1
  std::string diagnostic;  // Diagnostic-Code without its type, addresses replaced by [address]
};

struct BounceReport {
  enum class Kind {
    hard,        // failed for good: a report's `failed`, or an older bounce with a 5xx code
    delay,       // still trying: a report's `delayed`, or an older bounce with a 4xx code
    auto_reply,  // the recipient's system answered: an auto-reply or out-of-office
    unparsed,    // anything else, kept for the organiser
  } kind = Kind::unparsed;
  std::string status;                       // 5.1.1; for an older bounce with a bare code, 5.0.0 or 4.0.0
  std::string diagnostic;                   // the remote server's words, addresses replaced by [address]
  std::vector<BounceRecipient> recipients;  // every block of a delivery-status report
  // The addresses an older bounce's explanation names (not the letter it
  // quotes back): which recipient it is about, when it says.
  std::vector<std::string> mentioned;
  // The From address of the mail, lower case: whose system answered.
  std::string from_address;
  // Where a return path's token may be: the mail's To, Delivered-To,
  // X-Original-To and Envelope-To, and the report's X-Postfix-Sender.
  std::vector<std::string> addressed_to;
  // The Message-ID (without <>) of the letter it is about: from the
  // returned message or headers, from the text of an older bounce, or an
  // auto-reply's In-Reply-To. Empty when none is given.
  std::string about_message_id;
};

const char* to_string(BounceReport::Kind kind);

// Reads one mail as it came back. Never throws for what the mail holds:
// a mail GMime cannot read at all is `unparsed`.
BounceReport read_bounce(std::string_view raw);

}  // namespace letterd
