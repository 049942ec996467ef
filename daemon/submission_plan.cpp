// A submission checked against its campaign: each letter's target (fixed,
// by constituency or by postcode), its rendered subject and body, and the
// message it becomes. Pure: the postcode lookup is asked through the
// finder the caller passes.
#include <algorithm>

#include "submission.h"

namespace letterd {
namespace {

Values values_for(const Submission& s, const CampaignConfig& campaign, const Target* target) {
  Values v;
  v["supporter.name"] = s.supporter_name;
  v["supporter.email"] = s.supporter_email;
  if (s.postcode) v["supporter.postcode"] = *s.postcode;
  if (s.address) v["supporter.address"] = *s.address;
  if (s.personal_note) v["personal_note"] = *s.personal_note;
  v["campaign.name"] = campaign.name;
  v["submission.id"] = s.id;
  for (const auto& [key, value] : s.fields) v["fields." + key] = value;
  if (target)
    for (const auto& [column, value] : target->columns) v["target." + column] = value;
  return v;
}

// Problems name keys and the campaign's own words (targets, letters), never
// what the supporter wrote: the .error file and the log are read by others.

// The campaign's letters, as "mp, justice-secretary".
std::string letter_names(const CampaignConfig& campaign) {
  std::string out;
  for (const auto& l : campaign.letters) out += (out.empty() ? "" : ", ") + l.name;
  return out;
}

// Where a letter goes: a fixed target, or the one the submission's
// constituency (or target id) names. Never an address from the submission.
const Target* pick_target(const Submission& s, const CampaignConfig& campaign, const LetterConfig& letter,
                          Problems& problems) {
  const Targets& targets = *campaign.targets;
  if (letter.route == LetterConfig::Route::target) return targets.by_id(letter.target_id);
  const Target* by_id = s.target ? targets.by_id(*s.target) : nullptr;
  const Target* by_name = s.constituency ? targets.by_constituency(*s.constituency) : nullptr;
  if (s.target && !by_id) problems.push_back({"target", "is not one of the campaign's targets"});
  if (by_id && by_id->columns.count("constituency") && by_id->columns.at("constituency").empty()) {
    problems.push_back({"target", "'" + *s.target + "' has no constituency, but letter " + letter.name +
                                      " goes to the supporter's constituency"});
    by_id = nullptr;
  }
  if (s.constituency && !by_name) problems.push_back({"constituency", "matches none of the campaign's targets"});
  if (!s.target && !s.constituency)
    problems.push_back({"constituency", "is required by letter " + letter.name + " (or give target)"});
  if (by_id && by_name && by_id != by_name)
    problems.push_back({"target", "'" + *s.target + "' is not the target for the constituency given"});
  return by_id ? by_id : by_name;
}

// The supporter's MP by their postcode: the lookup gives the constituency
// code, the campaign's targets the one whose constituency_code it is. A
// constituency or target also given must agree.
const Target* target_by_postcode(const Submission& s, const CampaignConfig& campaign, const LetterConfig& letter,
                                 const PostcodeFinder& postcodes, Problems& problems) {
  if (s.postcode.value_or("").empty()) {
    problems.push_back({"supporter.postcode", "is required by letter " + letter.name});
    return nullptr;
  }
  if (!postcodes) throw PostcodeLookupUnavailable("no postcode lookup is open");
  PostcodeAnswer answer = postcodes(*s.postcode);
  if (!answer.problem.empty()) {
    problems.push_back({"supporter.postcode", answer.problem});
    return nullptr;
  }
  const Targets& targets = *campaign.targets;
  const std::string& code = answer.place->constituency_code;
  const Target* target = targets.by_constituency_code(code);
  if (!target) {
    problems.push_back(
        {"supporter.postcode", "its constituency (" + code + ") has no target in campaign " + campaign.name});
    return nullptr;
  }
  if (s.target && targets.by_id(*s.target) != target)
    problems.push_back({"target", "does not agree with supporter.postcode (letter " + letter.name + ")"});
  if (s.constituency && targets.by_constituency(*s.constituency) != target)
    problems.push_back({"constituency", "does not agree with supporter.postcode (letter " + letter.name + ")"});
  return target;
}

// The From display name, rendered from the campaign's template.
std::string render_from_name(const Submission& s, const CampaignConfig& campaign, Problems& problems) {
  Problems from_problems;
  std::string from_name = campaign.from_name->render(values_for(s, campaign, nullptr), from_problems).value_or("");
  for (auto& p : from_problems) problems.push_back({"supporter", p.text()});
  if (has_header_breaking_chars(from_name)) problems.push_back({"supporter.name", "cannot be used in From"});
  return from_name;
}

// One letter of the submission rendered for `target`: nullopt, with the
// problems, when a value the template needs is missing.
std::optional<PlannedMessage> render_letter(const Submission& s, const CampaignConfig& campaign,
                                            const LetterConfig& letter, const Target& target,
                                            const std::string& from_name, bool reflect, Problems& problems) {
  Values values = values_for(s, campaign, &target);
  Problems render_problems;
  auto subject = letter.templ->subject.render(values, render_problems);
  auto body = letter.templ->body.render(values, render_problems);
  for (auto& p : render_problems) problems.push_back({"letter " + letter.name, p.text()});
  if (!subject || !body) return std::nullopt;
  if (has_header_breaking_chars(*subject)) {
    problems.push_back({"letter " + letter.name, "the subject would contain a line break or control character"});
    return std::nullopt;
  }

  PlannedMessage m;
  m.letter = letter.name;
  m.target_id = target.id();
  m.target_row = target.fingerprint;
  m.from = {from_name, campaign.from_address};
  m.subject = *subject;
  m.body = *body;
  if (reflect) {
    m.reflect = true;
    m.to = {s.supporter_name, s.supporter_email};
    m.subject = "[TEST] " + m.subject;
    m.body = "This is a test. When the campaign is live, this letter goes to " + target.name() + " <" + target.email() +
             ">.\n\n" + m.body;
  } else {
    m.to = {target.name(), target.email()};
    if (campaign.reply_to_supporter) m.reply_to = Mailbox{s.supporter_name, s.supporter_email};
    if (campaign.copy_to_supporter) m.copy_to = s.supporter_email;
  }
  if (is_vacant(target.columns)) m.hold_reason = "target " + target.id() + " is vacant";
  return m;
}

// The target a waiting letter goes to now, without intake's agreement
// checks, or why none takes it. A by-postcode letter goes where the lookup
// puts the postcode, if the lookup knows it; a by-constituency one to the
// constituency or target the supporter gave. Failing those, it follows the
// seat of the row it was written for (a new member, a renamed seat), and
// only when that row is unknown, the target id it had.
struct TargetNow {
  const Target* target = nullptr;
  std::string why_none;
};

TargetNow target_now(const Submission& s, const CampaignConfig& campaign, const LetterConfig& letter,
                     const LetterToReplan& was, const PostcodeFinder& postcodes) {
  const Targets& targets = *campaign.targets;
  if (letter.route == LetterConfig::Route::target) {
    if (const Target* t = targets.by_id(letter.target_id)) return {t};
    return {nullptr, "target " + letter.target_id + " is no longer in the campaign's targets"};
  }
  if (letter.route == LetterConfig::Route::postcode && s.postcode) {
    if (!postcodes) return {nullptr, "no postcode lookup is open to place the supporter's postcode"};
    try {
      // A postcode terminated since acceptance still says where it was.
      PostcodeAnswer answer = postcodes(*s.postcode);
      if (answer.place) {
        const std::string& code = answer.place->constituency_code;
        if (const Target* t = targets.by_constituency_code(code)) return {t};
        return {nullptr, "its constituency (" + code + ") has no target in campaign " + campaign.name};
      }
    } catch (const PostcodeLookupUnavailable& e) {
      return {nullptr, std::string("the postcode lookup cannot be read: ") + e.what()};
    }
  }
  if (letter.route == LetterConfig::Route::constituency) {
    if (s.constituency)
      if (const Target* t = targets.by_constituency(*s.constituency)) return {t};
    if (s.target)
      if (const Target* t = targets.by_id(*s.target)) return {t};
  }
  if (was.former_row) {
    const TargetRow& row = *was.former_row;
    if (auto code = row.find("constituency_code"); code != row.end() && !code->second.empty())
      if (const Target* t = targets.by_constituency_code(code->second)) return {t};
    if (auto name = row.find("constituency"); name != row.end() && !name->second.empty())
      if (const Target* t = targets.by_constituency(name->second)) return {t};
  } else if (const Target* t = targets.by_id(was.target_id)) {
    return {t};
  }
  if (!targets.by_id(was.target_id))
    return {nullptr, "target " + was.target_id + " is no longer in the campaign's targets"};
  return {nullptr, "no target of campaign " + campaign.name + " holds the seat of target " + was.target_id};
}

bool uses_fields(const Template& t) {
  return std::any_of(t.names().begin(), t.names().end(),
                     [](const Template::NameUse& use) { return use.name.starts_with("fields."); });
}

}  // namespace

std::optional<std::vector<PlannedMessage>> plan_messages(const Submission& s, const Config& config, Problems& problems,
                                                         const PostcodeFinder& postcodes) {
  std::size_t before = problems.size();
  const CampaignConfig* campaign = config.campaign(s.campaign);
  if (!campaign) {
    problems.push_back({"campaign", "is not a campaign in the config"});
    return std::nullopt;
  }
  if (s.postcode.value_or("").empty() && campaign->require.count("postcode"))
    problems.push_back({"supporter.postcode", "is required by campaign " + campaign->name});
  if (s.address.value_or("").empty() && campaign->require.count("address"))
    problems.push_back({"supporter.address", "is required by campaign " + campaign->name});
  if (campaign->require_authorisation) {
    if (!s.authorisation)
      problems.push_back({"authorisation", "is required by campaign " + campaign->name});
    else if (!s.authorisation->given)
      problems.push_back({"authorisation.given", "must be true: the supporter has not authorised sending"});
  }

  std::vector<const LetterConfig*> letters;
  if (s.letters.empty()) {
    for (const auto& l : campaign->letters) letters.push_back(&l);
  } else {
    for (const auto& name : s.letters) {
      if (const LetterConfig* l = campaign->letter(name))
        letters.push_back(l);
      else
        problems.push_back({"letters", "names a letter campaign " + campaign->name + " does not have (it has " +
                                           letter_names(*campaign) + ")"});
    }
  }

  std::string from_name = render_from_name(s, *campaign, problems);
  std::vector<PlannedMessage> planned;
  for (const LetterConfig* letter : letters) {
    const Target* target = letter->route == LetterConfig::Route::postcode
                               ? target_by_postcode(s, *campaign, *letter, postcodes, problems)
                               : pick_target(s, *campaign, *letter, problems);
    if (!target) continue;
    if (auto m =
            render_letter(s, *campaign, *letter, *target, from_name, campaign->mode == CampaignMode::reflect, problems))
      planned.push_back(std::move(*m));
  }
  if (problems.size() != before) return std::nullopt;
  return planned;
}

Replanned replan_letter(const Submission& s, const Config& config, const LetterToReplan& was,
                        const PostcodeFinder& postcodes) {
  const CampaignConfig* campaign = config.campaign(s.campaign);
  const LetterConfig* letter = campaign ? campaign->letter(was.letter) : nullptr;
  if (!letter) return {.hold_reason = "letter " + was.letter + " is no longer in campaign " + s.campaign};
  TargetNow now = target_now(s, *campaign, *letter, was, postcodes);
  if (!now.target) return {.hold_reason = now.why_none};
  const Target& target = *now.target;
  if (!was.fields_known &&
      (uses_fields(letter->templ->subject) || uses_fields(letter->templ->body) || uses_fields(*campaign->from_name)))
    return {.hold_reason =
                "accepted before letterd kept a submission's fields, it cannot be rendered again for "
                "target " +
                target.id()};
  Problems problems;
  std::string from_name = render_from_name(s, *campaign, problems);
  auto message = render_letter(s, *campaign, *letter, target, from_name, was.reflect, problems);
  if (!message || !problems.empty())
    return {.hold_reason = "cannot be rendered for target " + target.id() + ": " + problems.front().text()};
  return {.message = std::move(message)};
}

OutgoingMessage outgoing_letter(const PlannedMessage& planned, const std::string& message_id, TimePoint date) {
  OutgoingMessage out{.from = planned.from,
                      .reply_to = planned.reply_to,
                      .to = planned.to,
                      .subject = planned.subject,
                      .body = planned.body,
                      .message_id = message_id,
                      .date = date};
  if (planned.reflect) out.extra_headers.emplace_back("X-Letterd-Mode", "reflect (test: not sent to the target)");
  return out;
}

}  // namespace letterd
