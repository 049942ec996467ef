#include "notice.h"

#include "message.h"

namespace letterd {

bool wants_notice(const UndeliveredLetter& letter, const CampaignConfig& campaign) {
  return campaign.notify && campaign.notify->templ && campaign.notify->on.count(letter.status) &&
         !letter.letter.starts_with("notice/") && !letter.letter.starts_with("digest/") && !letter.reflect &&
         letter.supporter_email != "[erased]";
}

std::optional<PlannedMessage> plan_notice(const UndeliveredLetter& letter, const CampaignConfig& campaign,
                                          Problems& problems) {
  Values values{{"supporter.name", letter.supporter_name},
                {"supporter.email", letter.supporter_email},
                {"campaign.name", campaign.name},
                {"target.name", letter.target_name},
                {"target.id", letter.target_id},
                {"letter.name", letter.letter},
                {"notice.reason", to_string(letter.status)},
                {"notice.status", letter.why},
                {"submission.id", letter.submission_id}};
  const LetterTemplate& templ = *campaign.notify->templ;
  auto subject = templ.subject.render(values, problems);
  auto body = templ.body.render(values, problems);
  if (!subject || !body) return std::nullopt;
  if (has_header_breaking_chars(*subject)) {
    problems.push_back({"notify_supporter", "the subject would contain a line break or control character"});
    return std::nullopt;
  }
  return PlannedMessage{.letter = "notice/" + letter.letter,
                        .target_id = "supporter/" + std::to_string(letter.id),
                        .to = {letter.supporter_name, letter.supporter_email},
                        .from = {"", campaign.from_address},
                        .subject = *subject,
                        .body = *body};
}

}  // namespace letterd
