// The page `letterd report --html` writes: whole in itself, every name
// escaped, the counts where the organiser reads them, and the targets that
// need attention first.
#include "report_html.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

ReportRow target(const std::string& id, const std::string& name, long long sent, long long bounced, long long held) {
  return {.scope = "target", .key = id, .name = name, .sent = sent, .held = held, .bounced = bounced};
}

const TimePoint kAt = *parse_rfc3339("2026-12-02T09:00:00Z");

TEST(ReportHtml, TargetsThatNeedAttentionComeFirst) {
  ReportRow failing = target("e", "Ed", 0, 0, 0);
  failing.failed = 2;
  auto order = by_attention({target("a", "Alex", 9, 0, 0), target("b", "Bo", 3, 1, 0), target("c", "Cy", 1, 0, 4),
                             target("d", "Di", 2, 5, 0), failing});
  std::vector<std::string> keys;
  for (const auto& r : order) keys.push_back(r.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"d", "b", "e", "c", "a"}));
}

TEST(ReportHtml, APageWholeInItselfWithEveryNameEscaped) {
  CampaignReport c{
      .name = "legal-advocacy",
      .targets = {target("mp-1", "Jo <b>\"Bold\"</b> & Co", 12, 2, 1)},
      .days = {{.scope = "day", .key = "2026-12-01", .sent = 7}, {.scope = "day", .key = "2026-12-02", .sent = 5}}};
  std::string page = render_report_html({c}, kAt);
  EXPECT_NE(page.find("Jo &lt;b&gt;&quot;Bold&quot;&lt;/b&gt; &amp; Co"), std::string::npos);
  EXPECT_EQ(page.find("<b>"), std::string::npos) << "a target's name is text, never markup";
  for (const char* outside : {"http:", "https:", "<script", "<link", "@import", "url("})
    EXPECT_EQ(page.find(outside), std::string::npos) << outside;
  EXPECT_NE(page.find("<tr data-target=\"mp-1\" class=\"attention\">"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"sent\">12</td><td class=\"bounced\"><strong>2</strong></td>"), std::string::npos);
  EXPECT_NE(page.find("data-day=\"2026-12-01\" data-sent=\"7\""), std::string::npos);
  EXPECT_NE(page.find("data-day=\"2026-12-02\" data-sent=\"5\""), std::string::npos);
}

TEST(ReportHtml, ACampaignWithNothingSentYetSaysSo) {
  std::string page = render_report_html({{.name = "new", .targets = {target("mp-1", "Jo", 0, 0, 0)}}}, kAt);
  EXPECT_NE(page.find("No letter has been sent yet."), std::string::npos);
  EXPECT_EQ(page.find("<svg"), std::string::npos);
}

}  // namespace
}  // namespace letterd
