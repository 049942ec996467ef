#include "report_html.h"

#include <algorithm>
#include <sstream>

namespace letterd {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

constexpr const char* kStyle = R"css(
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin-top: .5rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.attention td { background: #fff3e0; }
td strong { color: #b00020; }
.chart rect { fill: #2f6fb2; } .chart text { font-size: 10px; fill: #444; }
p.note { color: #555; }
)css";

// Letters sent per day as bars, the count above each and the date below.
void chart(std::ostringstream& out, const std::vector<ReportRow>& days) {
  if (days.empty()) {
    out << "<p class=\"note\">No letter has been sent yet.</p>\n";
    return;
  }
  long long most = 1;
  for (const auto& d : days) most = std::max(most, d.sent);
  const int bar = 30, gap = 8, height = 160, top = 16, bottom = 20;
  const int width = static_cast<int>(days.size()) * (bar + gap) + gap;
  out << "<svg class=\"chart\" role=\"img\" aria-label=\"letters sent per day\" width=\"" << width << "\" height=\""
      << height + top + bottom << "\" viewBox=\"0 0 " << width << ' ' << height + top + bottom << "\">\n";
  for (std::size_t i = 0; i < days.size(); ++i) {
    const ReportRow& d = days[i];
    int h = static_cast<int>(d.sent * height / most);
    int x = gap + static_cast<int>(i) * (bar + gap);
    out << "<g data-day=\"" << escape(d.key) << "\" data-sent=\"" << d.sent << "\"><title>" << escape(d.key) << ": "
        << d.sent << " sent</title><rect x=\"" << x << "\" y=\"" << top + height - h << "\" width=\"" << bar
        << "\" height=\"" << h << "\"/><text x=\"" << x + bar / 2 << "\" y=\"" << top + height - h - 3
        << "\" text-anchor=\"middle\">" << d.sent << "</text><text x=\"" << x + bar / 2 << "\" y=\""
        << top + height + 14 << "\" text-anchor=\"middle\">" << escape(d.key.substr(5)) << "</text></g>\n";
  }
  out << "</svg>\n";
}

void targets_table(std::ostringstream& out, const std::string& campaign, const std::vector<ReportRow>& targets) {
  out << "<table data-campaign=\"" << escape(campaign) << "\">\n<thead><tr><th>target</th><th>waiting</th>"
      << "<th>held</th><th>sent</th><th>bounced</th><th>acknowledged</th><th>failed</th></tr></thead>\n<tbody>\n";
  for (const auto& t : targets) {
    bool attention = t.bounced > 0 || t.failed > 0 || t.held > 0;
    // A count that needs looking at stands out; a zero does not.
    auto alarm = [](long long n) { return n ? "<strong>" + std::to_string(n) + "</strong>" : std::string("0"); };
    out << "<tr data-target=\"" << escape(t.key) << "\"" << (attention ? " class=\"attention\"" : "") << "><td>"
        << escape(t.name.empty() ? t.key : t.name) << "</td><td class=\"waiting\">" << t.waiting + t.deferred
        << "</td><td class=\"held\">" << t.held << "</td><td class=\"sent\">" << t.sent << "</td><td class=\"bounced\">"
        << alarm(t.bounced) << "</td><td class=\"acknowledged\">" << t.acknowledged << "</td><td class=\"failed\">"
        << alarm(t.failed) << "</td></tr>\n";
  }
  out << "</tbody>\n</table>\n";
}

}  // namespace

std::vector<ReportRow> by_attention(std::vector<ReportRow> targets) {
  std::stable_sort(targets.begin(), targets.end(), [](const ReportRow& a, const ReportRow& b) {
    if ((a.bounced > 0) != (b.bounced > 0)) return a.bounced > 0;
    if (a.bounced != b.bounced) return a.bounced > b.bounced;
    if ((a.failed > 0) != (b.failed > 0)) return a.failed > 0;
    if ((a.held > 0) != (b.held > 0)) return a.held > 0;
    return (a.name.empty() ? a.key : a.name) < (b.name.empty() ? b.key : b.name);
  });
  return targets;
}

std::string render_report_html(const std::vector<CampaignReport>& campaigns, TimePoint generated) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>letterd report</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
      << "<h1>Did every target get our letters?</h1>\n<p class=\"note\">Made by letterd at "
      << escape(format_utc(generated)) << ". Waiting counts letters queued, being sent or deferred; bounced, "
      << "letters the relay took that the recipient's system returned; acknowledged, letters its system answered "
      << "automatically. Targets that need attention come first.</p>\n";
  for (const auto& c : campaigns) {
    out << "<section data-campaign=\"" << escape(c.name) << "\">\n<h2>Campaign " << escape(c.name) << "</h2>\n"
        << "<h3>Letters sent per day</h3>\n";
    chart(out, c.days);
    out << "<h3>Per target</h3>\n";
    targets_table(out, c.name, by_attention(c.targets));
    out << "</section>\n";
  }
  out << "</body>\n</html>\n";
  return out.str();
}

}  // namespace letterd
