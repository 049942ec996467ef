#include "status.h"

namespace letterd {

namespace {

constexpr MessageStatus kStatuses[] = {MessageStatus::queued,    MessageStatus::sending, MessageStatus::deferred,
                                       MessageStatus::sent,      MessageStatus::failed,  MessageStatus::held,
                                       MessageStatus::cancelled, MessageStatus::bounced, MessageStatus::collecting};
constexpr Outcome kOutcomes[] = {Outcome::sent, Outcome::deferred, Outcome::failed, Outcome::relay_fault,
                                 Outcome::refused};

}  // namespace

const char* to_string(MessageStatus status) {
  switch (status) {
    case MessageStatus::queued:
      return "queued";
    case MessageStatus::sending:
      return "sending";
    case MessageStatus::deferred:
      return "deferred";
    case MessageStatus::sent:
      return "sent";
    case MessageStatus::failed:
      return "failed";
    case MessageStatus::held:
      return "held";
    case MessageStatus::cancelled:
      return "cancelled";
    case MessageStatus::bounced:
      return "bounced";
    case MessageStatus::collecting:
      return "collecting";
  }
  return "unknown";
}

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::sent:
      return "sent";
    case Outcome::deferred:
      return "deferred";
    case Outcome::failed:
      return "failed";
    case Outcome::relay_fault:
      return "relay-fault";
    case Outcome::refused:
      return "refused";
  }
  return "unknown";
}

std::optional<MessageStatus> parse_message_status(std::string_view text) {
  for (MessageStatus s : kStatuses)
    if (text == to_string(s)) return s;
  return std::nullopt;
}

std::optional<Outcome> parse_outcome(std::string_view text) {
  for (Outcome o : kOutcomes)
    if (text == to_string(o)) return o;
  return std::nullopt;
}

}  // namespace letterd
