// The words of the delivery log as types: a message's status and what
// became of one try. The database and the organiser's commands spell them
// as SPEC.md does ("relay-fault"); code compares enums, never strings.
#pragma once

#include <optional>
#include <string_view>

namespace letterd {

// held: waiting on an organiser's hold (`letterd hold`), never due until
// released; cancelled: by an organiser (`letterd cancel`), never sent;
// bounced: the relay took it, then the recipient's system returned it;
// collecting: waiting for its target's daily digest, which sends it.
enum class MessageStatus { queued, sending, deferred, sent, failed, held, cancelled, bounced, collecting };

// What became of one try at a message (an attempts row's outcome).
enum class Outcome {
  sent,         // 2xx after DATA
  deferred,     // 4xx, a timeout or a dropped connection: try again later
  failed,       // 5xx to this message: give up now
  relay_fault,  // cannot connect, TLS or AUTH refused, 421: the relay, not the message
  refused,      // the relay's policy refused the sender or recipient (5.7.x at MAIL or RCPT):
                // retried like a deferral, and twice in a row pauses the relay
};

const char* to_string(MessageStatus status);
const char* to_string(Outcome outcome);

// The enum a stored or typed word names, or nullopt for any other text.
std::optional<MessageStatus> parse_message_status(std::string_view text);
std::optional<Outcome> parse_outcome(std::string_view text);

}  // namespace letterd
