// The organiser's reading commands: status, log and report. They open the
// database read-only and hold one page of the log at a time.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "cli.h"
#include "cli_detail.h"
#include "queue.h"
#include "report_html.h"
#include "store.h"

namespace letterd {

using namespace cli_detail;

namespace {

// Columns as wide as their widest cell so far, counted in characters, not
// bytes. Rows are printed a page at a time, so a log of any length is
// shown in constant memory; a column only ever widens.
class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> header) : widths_(header.size(), 0) { add(std::move(header)); }
  ~TablePrinter() { flush(); }

  void add(std::vector<std::string> row) {
    for (std::size_t i = 0; i < row.size(); ++i) widths_[i] = std::max(widths_[i], width(row[i]));
    page_.push_back(std::move(row));
    if (page_.size() == kPage) flush();
  }

 private:
  static constexpr std::size_t kPage = 1000;

  static std::size_t width(const std::string& s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  }

  void flush() {
    for (const auto& row : page_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(widths_[i] - width(row[i]) + 2, ' ');
      }
      std::cout << line << "\n";
    }
    page_.clear();
  }

  std::vector<std::size_t> widths_;
  std::vector<std::vector<std::string>> page_;
};

std::vector<std::string> table_cells(const LogRow& r) {
  return {std::to_string(r.id),
          r.created_at,
          r.campaign,
          r.letter,
          r.target_id,
          r.recipient,
          to_string(r.status),
          std::to_string(r.attempts),
          r.status == MessageStatus::held      ? "held: " + r.hold_reason
          : r.status == MessageStatus::bounced ? "bounced: " + r.bounce_status + " " + r.bounce_diagnostic
          : r.smtp_code                        ? std::to_string(r.smtp_code) + " " + r.smtp_response
                                               : r.smtp_response};
}

}  // namespace

namespace cli_detail {

int cmd_status(const Args& args) {
  auto config = load_or_report(args.config);
  if (!config) return 2;
  Store store(config->database, Store::Access::read_only);
  std::map<std::string, std::map<MessageStatus, long long>> counts;
  for (const auto& c : store.status_counts()) counts[c.campaign][c.status] = c.count;
  std::size_t waiting = 0;
  try {
    waiting = QueueDir(config->queue_dir).waiting(1'000'000).size();
  } catch (const std::exception&) {
  }
  std::printf("files waiting in %s/new: %zu\n\n", config->queue_dir.c_str(), waiting);
  // New columns go at the end: scripts read the first five by position.
  std::printf("%-24s %8s %8s %8s %8s %8s %8s %9s %8s %10s\n", "campaign", "queued", "sending", "deferred", "sent",
              "failed", "held", "cancelled", "bounced", "collecting");
  for (auto& [campaign, by] : counts)
    std::printf("%-24s %8lld %8lld %8lld %8lld %8lld %8lld %9lld %8lld %10lld\n", campaign.c_str(),
                by[MessageStatus::queued], by[MessageStatus::sending], by[MessageStatus::deferred],
                by[MessageStatus::sent], by[MessageStatus::failed], by[MessageStatus::held],
                by[MessageStatus::cancelled], by[MessageStatus::bounced], by[MessageStatus::collecting]);
  TimePoint now = now_ms();
  std::printf("\nsent in the last minute: %lld, last hour: %lld\n", store.sent_since(now - std::chrono::minutes(1)),
              store.sent_since(now - std::chrono::hours(1)));
  std::printf("\nrelays:\n");
  std::vector<std::string> relay_names;
  for (const auto& [name, relay] : config->relays) relay_names.push_back(name);
  auto last = store.last_try_per_relay(relay_names);
  for (const auto& [relay_name, relay] : config->relays) {
    const std::string& name = relay_name;  // a structured binding cannot be captured before C++20's clang 16
    auto it = std::find_if(last.begin(), last.end(), [&](const RecentError& e) { return e.relay == name; });
    if (it == last.end())
      std::printf("  %-12s %s, no tries yet\n", name.c_str(), relay.url.c_str());
    else {
      bool failing = it->outcome == Outcome::relay_fault;
      std::printf("  %-12s %s, %s: last try %s %s%s\n", name.c_str(), relay.url.c_str(), failing ? "FAILING" : "ok",
                  it->at.c_str(), to_string(it->outcome), failing ? (" (" + it->smtp_response + ")").c_str() : "");
    }
  }
  auto errors = store.recent_errors(5);
  if (!errors.empty()) {
    std::printf("\nlast errors:\n");
    for (const auto& e : errors)
      std::printf("  %s %s %s %d %s\n", e.at.c_str(), e.relay.c_str(), to_string(e.outcome), e.smtp_code,
                  e.smtp_response.c_str());
  }
  return 0;
}

int cmd_log(Args args) {
  auto opts = take_options(args.rest, {"status", "campaign", "target", "since", "format"});
  if (!args.rest.empty()) throw UsageError{"log takes no argument " + args.rest[0]};
  std::string format = opts.count("format") ? opts["format"] : "table";
  if (format != "table" && format != "csv" && format != "json") throw UsageError{"--format must be table, csv or json"};
  LogFilter filter;
  if (opts.count("status")) {
    filter.status = parse_message_status(opts["status"]);
    if (!filter.status)
      throw UsageError{"--status must be queued, sending, sent, deferred, failed, held, cancelled or bounced"};
  }
  if (opts.count("campaign")) filter.campaign = opts["campaign"];
  if (opts.count("target")) filter.target = opts["target"];
  if (opts.count("since")) {
    auto t = parse_rfc3339(opts["since"]);
    if (!t) {
      // A date alone means its midnight, UTC.
      t = parse_rfc3339(opts["since"] + "T00:00:00Z");
      if (!t) throw UsageError{"--since must be a date (2026-11-24) or an RFC 3339 time"};
    }
    filter.since = format_utc(*t);
  }
  auto config = load_or_report(args.config);
  if (!config) return 2;
  Store store(config->database, Store::Access::read_only);

  const char* header[] = {"id",
                          "created_at",
                          "campaign",
                          "submission",
                          "letter",
                          "target",
                          "recipient",
                          "status",
                          "attempts",
                          "smtp_code",
                          "smtp_response",
                          "hold_reason",
                          "bounce_status",
                          "bounce_diagnostic",
                          "acknowledged_at"};
  auto fields = [](const LogRow& r) {
    return std::vector<std::string>{std::to_string(r.id),
                                    r.created_at,
                                    r.campaign,
                                    r.submission_id,
                                    r.letter,
                                    r.target_id,
                                    r.recipient,
                                    to_string(r.status),
                                    std::to_string(r.attempts),
                                    r.smtp_code ? std::to_string(r.smtp_code) : "",
                                    r.smtp_response,
                                    r.hold_reason,
                                    r.bounce_status,
                                    r.bounce_diagnostic,
                                    r.acknowledged_at};
  };
  // Each row is printed as it is read: the log of a long campaign is never held whole.
  if (format == "csv") {
    for (std::size_t i = 0; i < std::size(header); ++i) std::cout << (i ? "," : "") << header[i];
    std::cout << "\r\n";
    store.log(filter, [&](const LogRow& r) {
      auto f = fields(r);
      for (std::size_t i = 0; i < f.size(); ++i) std::cout << (i ? "," : "") << csv_field(f[i]);
      std::cout << "\r\n";
    });
  } else if (format == "json") {
    std::cout << "[";
    bool first = true;
    store.log(filter, [&](const LogRow& r) {
      auto f = fields(r);
      std::cout << (first ? "\n " : ",\n ") << "{";
      first = false;
      for (std::size_t i = 0; i < f.size(); ++i) {
        bool number = (i == 0 || i == 8 || (i == 9 && !f[i].empty()));
        std::cout << (i ? ", " : "") << json_string(header[i]) << ": "
                  << (number ? f[i] : ((i == 9 || (i >= 11 && f[i].empty())) ? "null" : json_string(f[i])));
      }
      std::cout << "}";
    });
    std::cout << (first ? "]\n" : "\n]\n");
  } else {
    TablePrinter table({"id", "created_at", "campaign", "letter", "target", "recipient", "status", "tries", "reply"});
    store.log(filter, [&](const LogRow& r) { table.add(table_cells(r)); });
  }
  return 0;
}

// A progress line for long organiser commands, on a terminal only: a
// script reading the output sees the summary alone.
namespace {

// Every target of each campaign, named as the targets file names it now,
// and the days letters were sent: written whole to `path`, then renamed
// into place, so a browser never opens half a page.
int write_html_report(Store& store, const Config& config, const std::vector<std::string>& campaigns,
                      const std::string& path) {
  std::vector<CampaignReport> pages;
  for (const auto& name : campaigns) {
    CampaignReport page{.name = name};
    auto rows = store.report(name);
    const Targets& targets = *config.campaign(name)->targets;
    for (const auto& id : targets.ids()) {
      auto it = std::find_if(rows.begin(), rows.end(),
                             [&](const ReportRow& r) { return r.scope == "target" && r.key == id; });
      ReportRow row = it == rows.end() ? ReportRow{.scope = "target", .key = id} : *it;
      row.name = targets.by_id(id)->name();
      page.targets.push_back(std::move(row));
    }
    for (const auto& r : rows)
      if (r.scope == "day") page.days.push_back(r);
    pages.push_back(std::move(page));
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << render_report_html(pages, now_ms());
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
  std::cout << "wrote " << path << "\n";
  return 0;
}

}  // namespace

int cmd_report(Args args) {
  auto opts = take_options(args.rest, {"campaign", "format", "html"});
  if (!args.rest.empty()) throw UsageError{"report takes no argument " + args.rest[0]};
  if (opts.count("html") && opts.count("format")) throw UsageError{"give --html FILE or --format, not both"};
  std::string format = opts.count("format") ? opts["format"] : "table";
  if (format != "table" && format != "csv" && format != "json") throw UsageError{"--format must be table, csv or json"};
  auto config = load_or_report(args.config);
  if (!config) return 2;
  std::vector<std::string> campaigns;
  if (opts.count("campaign")) {
    if (!config->campaign(opts["campaign"])) throw UsageError{"no campaign " + opts["campaign"] + " in the config"};
    campaigns.push_back(opts["campaign"]);
  } else {
    for (const auto& [name, c] : config->campaigns) campaigns.push_back(name);
  }
  Store store(config->database, Store::Access::read_only);
  if (opts.count("html")) return write_html_report(store, *config, campaigns, opts["html"]);
  const char* header[] = {"campaign", "scope",  "key",  "name",      "waiting", "deferred",
                          "sent",     "failed", "held", "cancelled", "bounced", "acknowledged"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& campaign : campaigns) {
    // Every target shows, even one no letter has gone to yet: that is the answer wanted.
    auto report = store.report(campaign);
    const Targets& targets = *config->campaign(campaign)->targets;
    for (const auto& r : report)
      rows.push_back({campaign, r.scope, r.key, r.name, std::to_string(r.waiting), std::to_string(r.deferred),
                      std::to_string(r.sent), std::to_string(r.failed), std::to_string(r.held),
                      std::to_string(r.cancelled), std::to_string(r.bounced), std::to_string(r.acknowledged)});
    for (const auto& id : targets.ids()) {
      bool seen = std::any_of(report.begin(), report.end(),
                              [&](const ReportRow& r) { return r.scope == "target" && r.key == id; });
      if (!seen)
        rows.push_back({campaign, "target", id, targets.by_id(id)->name(), "0", "0", "0", "0", "0", "0", "0", "0"});
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return std::tie(a[0], a[1], a[2]) < std::tie(b[0], b[1], b[2]);
  });
  if (format == "csv") {
    for (std::size_t i = 0; i < std::size(header); ++i) std::cout << (i ? "," : "") << header[i];
    std::cout << "\r\n";
    for (const auto& r : rows) {
      for (std::size_t i = 0; i < r.size(); ++i) std::cout << (i ? "," : "") << csv_field(r[i]);
      std::cout << "\r\n";
    }
  } else if (format == "json") {
    std::cout << "[";
    for (std::size_t n = 0; n < rows.size(); ++n) {
      std::cout << (n ? ",\n " : "\n ") << "{";
      for (std::size_t i = 0; i < rows[n].size(); ++i)
        std::cout << (i ? ", " : "") << json_string(header[i]) << ": "
                  << (i >= 4 ? rows[n][i] : json_string(rows[n][i]));
      std::cout << "}";
    }
    std::cout << (rows.empty() ? "]\n" : "\n]\n");
  } else {
    TablePrinter table({header, header + std::size(header)});
    for (auto& r : rows) table.add(std::move(r));
  }
  return 0;
}

}  // namespace cli_detail

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace letterd
