// Letters that go `by: postcode`: the supporter's postcode, through the
// lookup, to the campaign's target for that constituency. The lookup is a
// map here: planning asks it through the finder and reads no file.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config.h"
#include "config_files.h"
#include "submission.h"
#include "submission_fixture.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;

constexpr std::string_view kTargets =
    "id,name,email,constituency,constituency_code\n"
    "mp-cities,Alex Example MP,alex.example.mp@example.org,Cities of London and Westminster,E14001172\n"
    "mp-bristol,Robin Fictional MP,robin.fictional.mp@example.org,Bristol Central,E14001130\n";

constexpr std::string_view kConfig = R"(queue_dir: spool
database: letterd.db
postcodes: postcodes.db
relays:
  main:
    url: smtp://smtp.example.org:587
campaigns:
  c:
    relay: main
    from: { address: letters@example.org }
    require_authorisation: false
    targets: targets.csv
    letters:
      mp: { template: mp.txt, to: { by: postcode } }
)";

class PostcodeRouting : public ::testing::Test {
 protected:
  void SetUp() override {
    MemoryFiles files;
    files.texts = {{"/t/targets.csv", std::string(kTargets)},
                   {"/t/mp.txt", "---\nsubject: To {{target.name}}\n---\nFrom {{supporter.postcode}}\n"}};
    Problems problems;
    auto config = load_config_text(std::string(kConfig), "/t/letterd.yaml", files.source(), Passwords::read, problems);
    ASSERT_TRUE(config.has_value()) << ::testing::PrintToString(texts(problems));
    config_ = std::move(*config);
  }

  // SW1A 0AA is live in the Cities; BS1 5TR in Bristol; SW1A 9ZZ ended in
  // June 2019; N1 9GU is live in a constituency without a target.
  PostcodeFinder finder() {
    return [this](std::string_view text) {
      ++asked_;
      PostcodeAnswer a;
      a.canonical = canonical_postcode(text);
      if (!a.canonical) return PostcodeAnswer{.problem = "not a UK postcode"};
      static const std::map<std::string, PostcodePlace> places = {{"SW1A 0AA", {"E14001172", std::nullopt}},
                                                                  {"BS1 5TR", {"E14001130", std::nullopt}},
                                                                  {"SW1A 9ZZ", {"E14001172", 201906}},
                                                                  {"N1 9GU", {"E14000999", std::nullopt}}};
      auto it = places.find(*a.canonical);
      if (it == places.end()) return PostcodeAnswer{.canonical = a.canonical, .problem = "not in the postcode lookup"};
      a.place = it->second;
      if (a.place->terminated) a.problem = "terminated in 2019-06";
      return a;
    };
  }

  std::optional<std::vector<PlannedMessage>> plan(const std::string& supporter_extra, const std::string& extra = "",
                                                  Problems* out = nullptr) {
    std::string json = R"({"campaign": "c", "supporter": {"name": "Jane Doe", "email": "jane@example.org")" +
                       supporter_extra + "}" + extra + "}";
    Submission s = parse_ok(json);
    Problems problems;
    auto planned = plan_messages(s, config_, problems, finder());
    if (out) *out = problems;
    return planned;
  }

  Config config_;
  int asked_ = 0;
};

TEST_F(PostcodeRouting, ThePostcodeFindsTheMpForItsConstituency) {
  auto planned = plan(R"(, "postcode": "bs15tr")");
  ASSERT_TRUE(planned.has_value());
  ASSERT_EQ(planned->size(), 1u);
  EXPECT_EQ((*planned)[0].target_id, "mp-bristol");
  EXPECT_EQ((*planned)[0].to.address, "robin.fictional.mp@example.org");
  EXPECT_EQ((*planned)[0].body, "From BS1 5TR\n") << "the postcode is kept in its canonical form";
}

TEST_F(PostcodeRouting, EachReasonIsNamedAndNeverTheValue) {
  struct Case {
    std::string postcode, reason;
  };
  for (const Case& c :
       {Case{"hello", "supporter.postcode: not a UK postcode"},
        Case{"SW1A 1ZZ", "supporter.postcode: not in the postcode lookup"},
        Case{"SW1A 9ZZ", "supporter.postcode: terminated in 2019-06"},
        Case{"N1 9GU", "supporter.postcode: its constituency (E14000999) has no target in campaign c"}}) {
    Problems problems;
    EXPECT_FALSE(plan(R"(, "postcode": ")" + c.postcode + "\"", "", &problems).has_value()) << c.postcode;
    ASSERT_EQ(texts(problems), std::vector<std::string>{c.reason}) << c.postcode;
  }
}

TEST_F(PostcodeRouting, APostcodeIsRequired) {
  Problems problems;
  EXPECT_FALSE(plan("", "", &problems).has_value());
  EXPECT_EQ(texts(problems), std::vector<std::string>{"supporter.postcode: is required by letter mp"});
  EXPECT_EQ(asked_, 0);
}

TEST_F(PostcodeRouting, AConstituencyOrTargetGivenTooMustAgree) {
  EXPECT_TRUE(plan(R"(, "postcode": "SW1A 0AA")", R"(, "constituency": "Cities of London and Westminster")"));
  EXPECT_TRUE(plan(R"(, "postcode": "SW1A 0AA")", R"(, "target": "mp-cities")"));
  Problems problems;
  EXPECT_FALSE(
      plan(R"(, "postcode": "SW1A 0AA")", R"(, "constituency": "Bristol Central", "target": "mp-bristol")", &problems));
  EXPECT_EQ(texts(problems),
            (std::vector<std::string>{"target: does not agree with supporter.postcode (letter mp)",
                                      "constituency: does not agree with supporter.postcode (letter mp)"}));
}

TEST_F(PostcodeRouting, WithoutALookupTheFileWaitsRatherThanFails) {
  Submission s =
      parse_ok(R"({"campaign": "c", "supporter": {"name": "J", "email": "j@example.org", "postcode": "SW1A 0AA"}})");
  Problems problems;
  EXPECT_THROW(plan_messages(s, config_, problems, {}), PostcodeLookupUnavailable);
}

TEST(PostcodeRoutingConfig, ALetterByPostcodeNeedsTheLookupAndACodeColumn) {
  std::string text(kConfig);
  text.replace(text.find("postcodes: postcodes.db\n"), 24, "");
  Problems problems;
  EXPECT_FALSE(parse_config(text, "/t/letterd.yaml", problems).has_value());
  EXPECT_EQ(texts(problems), std::vector<std::string>{"campaigns.c.letters.mp.to.by: postcode needs the lookup: set "
                                                      "postcodes: (the file letterd postcodes import builds)"});

  MemoryFiles files;
  files.texts = {{"/t/targets.csv", std::string(kTargetsCsv)}, {"/t/mp.txt", "---\nsubject: Hi\n---\nHello\n"}};
  Problems more;
  EXPECT_FALSE(load_config_text(std::string(kConfig), "/t/letterd.yaml", files.source(), Passwords::read, more));
  ASSERT_EQ(more.size(), 1u);
  EXPECT_NE(more[0].text().find("postcode needs a constituency_code column"), std::string::npos) << more[0].text();
}

}  // namespace
}  // namespace letterd
