// The notice a supporter gets when a letter of theirs did not arrive: it
// names them, the target and why, never what they wrote, and its template
// may use nothing else.
#include "notice.h"

#include <gtest/gtest.h>

#include "config_files.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;

constexpr std::string_view kConfig = R"(queue_dir: spool
database: letterd.db
relays:
  main:
    url: smtp://smtp.example.org:587
campaigns:
  c:
    relay: main
    from: { address: letters@example.org, name: "{{supporter.name}} via Example Campaign" }
    require_authorisation: false
    targets: targets.csv
    notify_supporter: { on: [bounced], template: notice.txt }
    letters:
      js: { template: js.txt, to: { target: justice-secretary } }
)";

std::optional<Config> config_with(const std::string& notice, Problems& problems) {
  MemoryFiles files;
  files.texts = {{"/t/targets.csv", "id,name,email\njustice-secretary,Sam Sample MP,js@example.org\n"},
                 {"/t/js.txt", "---\nsubject: Hello\n---\nDear {{target.name}}, {{personal_note}}\n"},
                 {"/t/notice.txt", notice}};
  return load_config_text(std::string(kConfig), "/t/letterd.yaml", files.source(), Passwords::read, problems);
}

UndeliveredLetter bounced() {
  return {.id = 42,
          .campaign = "c",
          .letter = "js",
          .target_id = "justice-secretary",
          .target_name = "Sam Sample MP",
          .submission_id = "web-1",
          .supporter_name = "Jane Doe",
          .supporter_email = "jane@example.org",
          .status = MessageStatus::bounced,
          .why = "5.1.1"};
}

TEST(Notice, NamesTheSupporterTheTargetAndWhyAndGoesToTheSupporter) {
  Problems problems;
  auto config = config_with(
      "---\nsubject: Your letter to {{target.name}}\n---\nDear {{supporter.name}}, it "
      "{{notice.reason}} ({{notice.status}}).\n",
      problems);
  ASSERT_TRUE(config) << ::testing::PrintToString(texts(problems));
  const CampaignConfig& c = *config->campaign("c");
  ASSERT_TRUE(wants_notice(bounced(), c));
  auto notice = plan_notice(bounced(), c, problems);
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->to.address, "jane@example.org");
  EXPECT_EQ(notice->from.address, "letters@example.org");
  EXPECT_EQ(notice->subject, "Your letter to Sam Sample MP");
  EXPECT_EQ(notice->body, "Dear Jane Doe, it bounced (5.1.1).\n");
  EXPECT_EQ(notice->letter, "notice/js");
  EXPECT_EQ(notice->target_id, "supporter/42") << "no target's per_target window counts it";
}

TEST(Notice, OnlyTheStatusesAskedForAndNeverANoticeOfANotice) {
  Problems problems;
  auto config = config_with("---\nsubject: x\n---\nDear {{supporter.name}}\n", problems);
  ASSERT_TRUE(config) << ::testing::PrintToString(texts(problems));
  const CampaignConfig& c = *config->campaign("c");
  UndeliveredLetter failed = bounced();
  failed.status = MessageStatus::failed;
  EXPECT_FALSE(wants_notice(failed, c)) << "on: [bounced]";
  UndeliveredLetter notice = bounced();
  notice.letter = "notice/js";
  EXPECT_FALSE(wants_notice(notice, c));
}

TEST(Notice, ItsTemplateCanNameNothingOfTheLetter) {
  for (const char* name : {"personal_note", "fields.story", "supporter.address", "target.email"}) {
    Problems problems;
    auto config = config_with(std::string("---\nsubject: x\n---\n{{") + name + "}}\n", problems);
    EXPECT_FALSE(config) << name;
    ASSERT_FALSE(problems.empty());
    EXPECT_EQ(problems[0].where, "campaigns.c.notify_supporter.template: /t/notice.txt:4") << name;
    EXPECT_NE(problems[0].what.find(name), std::string::npos) << problems[0].what;
  }
}

}  // namespace
}  // namespace letterd
