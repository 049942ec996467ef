// `letterd report --html FILE`: one self-contained page an organiser opens
// in a browser (SPEC "Delivery truth"): letters sent per day as a chart,
// and per target the letters waiting, held, sent, bounced, acknowledged and
// failed, the targets that need attention (an address that bounces, letters
// held) first. No outside resource and no script: inline CSS and SVG, so
// it reads the same offline, mailed as an attachment, or printed. Pure:
// the counts in, the page out.
#pragma once

#include <string>
#include <vector>

#include "store.h"
#include "timefmt.h"

namespace letterd {

struct CampaignReport {
  std::string name;
  std::vector<ReportRow> targets;  // scope "target": every target of the campaign, with its name
  std::vector<ReportRow> days;     // scope "day", oldest first
};

// The targets in the order the page shows them: those with bounced letters
// first (most first), then those with failed letters, then those with
// letters held, then the rest by name.
std::vector<ReportRow> by_attention(std::vector<ReportRow> targets);

std::string render_report_html(const std::vector<CampaignReport>& campaigns, TimePoint generated);

}  // namespace letterd
