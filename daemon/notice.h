// The notice a supporter gets when a letter of theirs did not arrive
// (SPEC "Delivery truth": campaigns.NAME.notify_supporter): failed for
// good, or returned by the recipient's system. One per letter, through the
// campaign's relay and within its limits, and none of the letter in it: its
// template may name the supporter, the campaign, the target and why, and
// nothing the supporter wrote. Pure: the letter's facts in, a message out.
#pragma once

#include <optional>
#include <string>

#include "config.h"
#include "status.h"
#include "submission.h"

namespace letterd {

// A failed or bounced letter, as its supporter's notice needs it.
struct UndeliveredLetter {
  long long id = 0;
  std::string campaign, letter, target_id, target_name, submission_id;
  std::string supporter_name, supporter_email;
  MessageStatus status = MessageStatus::failed;
  std::string why;       // the bounce's status (5.1.1), or the relay's reply code (550)
  bool reflect = false;  // a test in reflect mode: it went to the supporter, who needs no notice of it
};

// Whether the campaign wants a notice for this letter: never for a test,
// a notice, or a supporter whose data was erased.
bool wants_notice(const UndeliveredLetter& letter, const CampaignConfig& campaign);

// The notice, addressed to the supporter from the campaign's From address,
// its letter "notice/LETTER" and its target "supporter/ID" (so no target's
// per_target window counts it). nullopt, with the problem, when a name the
// template uses outside a section has no value.
std::optional<PlannedMessage> plan_notice(const UndeliveredLetter& letter, const CampaignConfig& campaign,
                                          Problems& problems);

}  // namespace letterd
