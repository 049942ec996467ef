// One SMTP session to a relay, through libcurl. The only module that knows
// libcurl. A session keeps its connection open between messages and opens
// a new one when the relay closed it or something went wrong.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"

namespace letterd {

struct Envelope {
  std::string mail_from;
  std::vector<std::string> recipients;  // the first is the letter's recipient
};

// Where in the SMTP dialogue a try ended.
enum class SmtpStage { connect, greeting, tls, auth, mail, rcpt, data, done };

// How the dialogue ended, in letterd's words: libcurl's codes stay inside smtp.cpp.
enum class Transfer {
  completed,      // the relay took the message and the dialogue ended cleanly
  login_refused,  // AUTH was refused
  broken,         // a refusal, a timeout, a dropped connection: `stage` and `code` tell where
};

// One try as the relay answered it; scheduler.h's classify() says what it means.
struct SendResult {
  Transfer transfer = Transfer::broken;
  int code = 0;          // the relay's last reply code, 0 when it gave none
  std::string response;  // the relay's last reply text (its queue id on success), or what went wrong
  SmtpStage stage = SmtpStage::connect;
  int refused_recipient = -1;  // index into Envelope::recipients when an RCPT was refused
};

// The most of a relay's reply letterd keeps or logs, marker included: a
// hostile relay's endless reply must fill neither the database nor the log.
inline constexpr std::size_t kMaxReplyBytes = 1024;

// `reply` as it is when it fits in kMaxReplyBytes; otherwise its start, cut
// on a UTF-8 character boundary, and a marker saying it was cut, together
// no longer than kMaxReplyBytes.
std::string bounded_reply(std::string_view reply);

// Why libcurl could not use `url` as a relay's url (for `letterd check`,
// after the key path), or nullopt when it can. Never quotes the url: it
// may hold a password.
std::optional<std::string> relay_url_problem(std::string_view url);

class SmtpSession {
 public:
  // `password` is empty when the relay takes no AUTH. `helo_name` is the
  // name presented in EHLO.
  SmtpSession(const RelayConfig& relay, std::string password, std::string helo_name);
  ~SmtpSession();
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  // Sends one message (CRLF line ends, not dot-stuffed: libcurl does that).
  SendResult send(const Envelope& envelope, const std::string& data);

  // Sends QUIT and closes the connection, if one is open.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterd
