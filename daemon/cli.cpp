#include "cli.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "config.h"
#include "logging.h"
#include "queue.h"
#include "queue_retention.h"
#include "service.h"
#include "store.h"
#include "submission.h"

namespace letterd {

namespace {

constexpr const char* kUsage = R"(usage: letterd [-c FILE] COMMAND [ARGS]

commands:
  run [--once]            the daemon, in the foreground; --once drains what is due and exits
  check                   validates config, targets and templates
  preview FILE            prints the messages a submission would produce; sends nothing
  enqueue FILE...         drops files into the queue atomically
  status                  queue depth, send rate, relays, last errors
  log [--status S] [--campaign C] [--target T] [--since TIME] [--format table|csv|json]
  report [--campaign C] [--format table|csv|json]
                          letters per target and per day: did every MP get them?
  retry ID... | --failed  puts failed messages back in the queue
  purge [--supporter EMAIL]
                          erases letter bodies past retention.bodies now, or
                          all of one supporter's personal data

options:
  -c, --config FILE       the config (default /etc/letterd/letterd.yaml)
)";

struct UsageError {
  std::string what;
};

struct Args {
  std::string config = kDefaultConfig;
  std::string command;
  std::vector<std::string> rest;
};

Args parse_args(const std::vector<std::string>& args) {
  Args out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-c" || a == "--config") {
      if (i + 1 >= args.size()) throw UsageError{a + " needs a file"};
      out.config = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      out.config = a.substr(9);
    } else if (out.command.empty()) {
      out.command = a;
    } else {
      out.rest.push_back(a);
    }
  }
  return out;
}

// Takes "--name VALUE" or "--name=VALUE" options from `rest`; positional arguments stay.
std::map<std::string, std::string> take_options(std::vector<std::string>& rest, std::initializer_list<std::string> names,
                                                std::initializer_list<std::string> flags = {}) {
  std::map<std::string, std::string> out;
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const std::string& a = rest[i];
    if (a.rfind("--", 0) != 0) {
      positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
      out[name] = "1";
    } else if (std::find(names.begin(), names.end(), name) != names.end()) {
      if (eq == std::string::npos) {
        if (i + 1 >= rest.size()) throw UsageError{"--" + name + " needs a value"};
        value = rest[++i];
      }
      out[name] = value;
    } else {
      throw UsageError{"unknown option --" + name};
    }
  }
  rest = positional;
  return out;
}

// No command here sends, so none reads a password: the organiser running it
// may not be allowed to, and it would only sit in memory.
std::optional<Config> load_or_report(const std::string& path) {
  Problems problems;
  auto config = load_config(path, problems, Passwords::check_only);
  if (!config) {
    for (const auto& p : problems) std::cerr << "letterd: " << p.text() << "\n";
    std::cerr << "letterd: " << path << ": " << problems.size() << " problem(s)\n";
  }
  return config;
}

int cmd_check(const Args& args) {
  auto config = load_or_report(args.config);
  if (!config) return 2;
  std::size_t targets = 0, letters = 0;
  for (const auto& [name, c] : config->campaigns) {
    targets += c.targets ? c.targets->size() : 0;
    letters += c.letters.size();
  }
  // Outside the service there is no $CREDENTIALS_DIRECTORY nor the unit's
  // Environment=: say what is left unread rather than fail over it.
  for (const auto& [name, relay] : config->relays) {
    if (!relay.password_env.empty())
      std::cout << "relays." << name << ".password_env: $" << relay.password_env
                << " is read by the service, at start and on reload\n";
    if (!relay.password_credential.empty())
      std::cout << "relays." << name << ".password_credential: $CREDENTIALS_DIRECTORY/" << relay.password_credential
                << " is read by the service, at start and on reload\n";
  }
  std::cout << args.config << ": OK (" << config->relays.size() << " relay(s), " << config->campaigns.size()
            << " campaign(s), " << letters << " letter(s), " << targets << " target(s))\n";
  return 0;
}

int cmd_preview(const Args& args) {
  if (args.rest.size() != 1) throw UsageError{"preview takes one FILE"};
  auto config = load_or_report(args.config);
  if (!config) return 2;
  const std::string& path = args.rest[0];
  std::string error;
  auto text = read_file_bounded(path, kMaxSubmissionBytes, error);
  if (!text) {
    std::cerr << "letterd: " << path << ": " << (error.empty() ? "no such file" : error) << "\n";
    return 1;
  }
  std::string name = std::filesystem::path(path).filename().string();

  Problems problems;
  auto checked = check_submission(*text, name, now_ms(), *config, problems);
  if (!checked) {
    for (const auto& p : problems) std::cerr << "letterd: " << path << ": " << p.text() << "\n";
    return 1;
  }
  const auto& planned = checked->messages;
  int index = 0;
  for (const auto& p : planned) {
    // The headers exactly as sent; the body as the target reads it, not
    // in the quoted-printable that carries it.
    OutgoingMessage out = outgoing_letter(p, "preview.assigned-at-intake@" + address_domain(p.from.address), now_ms());
    std::cout << "=== message " << ++index << " of " << planned.size() << ": letter " << p.letter << " to target "
              << p.target_id << (p.copy_to.empty() ? "" : ", copy to the supporter") << " ===\n";
    std::string headers = render_headers(out);
    std::erase(headers, '\r');
    std::cout << headers << "\n" << out.body << (out.body.ends_with('\n') ? "" : "\n");
  }
  return 0;
}

int cmd_enqueue(const Args& args) {
  if (args.rest.empty()) throw UsageError{"enqueue takes one or more FILEs"};
  auto config = load_or_report(args.config);
  if (!config) return 2;
  QueueDir queue(config->queue_dir);
  int failures = 0;
  for (const auto& file : args.rest) {
    try {
      std::string name = queue.enqueue(file);
      std::cout << "queued " << name << "\n";
    } catch (const std::exception& e) {
      std::cerr << "letterd: " << e.what() << "\n";
      ++failures;
    }
  }
  return failures ? 1 : 0;
}

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
  std::printf("%-24s %8s %8s %8s %8s %8s\n", "campaign", "queued", "sending", "deferred", "sent", "failed");
  for (auto& [campaign, by] : counts)
    std::printf("%-24s %8lld %8lld %8lld %8lld %8lld\n", campaign.c_str(), by[MessageStatus::queued],
                by[MessageStatus::sending], by[MessageStatus::deferred], by[MessageStatus::sent],
                by[MessageStatus::failed]);
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
  return {std::to_string(r.id), r.created_at, r.campaign, r.letter, r.target_id, r.recipient, to_string(r.status),
          std::to_string(r.attempts), r.smtp_code ? std::to_string(r.smtp_code) + " " + r.smtp_response : r.smtp_response};
}

int cmd_log(Args args) {
  auto opts = take_options(args.rest, {"status", "campaign", "target", "since", "format"});
  if (!args.rest.empty()) throw UsageError{"log takes no argument " + args.rest[0]};
  std::string format = opts.count("format") ? opts["format"] : "table";
  if (format != "table" && format != "csv" && format != "json") throw UsageError{"--format must be table, csv or json"};
  LogFilter filter;
  if (opts.count("status")) {
    filter.status = parse_message_status(opts["status"]);
    if (!filter.status) throw UsageError{"--status must be queued, sending, sent, deferred or failed"};
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

  const char* header[] = {"id", "created_at", "campaign", "submission", "letter", "target", "recipient", "status",
                          "attempts", "smtp_code", "smtp_response"};
  auto fields = [](const LogRow& r) {
    return std::vector<std::string>{std::to_string(r.id), r.created_at, r.campaign, r.submission_id, r.letter,
                                    r.target_id, r.recipient, to_string(r.status), std::to_string(r.attempts),
                                    r.smtp_code ? std::to_string(r.smtp_code) : "", r.smtp_response};
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
                  << (number ? f[i] : (i == 9 ? "null" : json_string(f[i])));
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
class Progress {
 public:
  explicit Progress(const char* what) : what_(what), shown_(::isatty(STDERR_FILENO) == 1) {}
  ~Progress() {
    if (shown_ && drawn_) std::fprintf(stderr, "\n");
  }
  void update(long long done, long long total = -1) {
    if (!shown_) return;
    drawn_ = true;
    if (total >= 0) std::fprintf(stderr, "\r%s: %lld of %lld", what_, done, total);
    else std::fprintf(stderr, "\r%s: %lld", what_, done);
    std::fflush(stderr);
  }

 private:
  const char* what_;
  bool shown_;
  bool drawn_ = false;
};

int cmd_retry(Args args) {
  auto opts = take_options(args.rest, {}, {"failed"});
  if (opts.count("failed") && !args.rest.empty()) throw UsageError{"retry takes IDs or --failed, not both"};
  if (!opts.count("failed") && args.rest.empty()) throw UsageError{"retry takes message IDs or --failed"};
  std::vector<long long> ids;
  for (const auto& a : args.rest) {
    char* end = nullptr;
    long long id = std::strtoll(a.c_str(), &end, 10);
    if (a.empty() || *end || id <= 0) throw UsageError{"'" + a + "' is not a message id (letterd log shows them)"};
    ids.push_back(id);
  }
  auto config = load_or_report(args.config);
  if (!config) return 2;
  Store store(config->database, Store::Access::existing);
  if (opts.count("failed")) ids = store.failed_messages();
  int problems = 0, queued = 0;
  Progress progress("queued again");
  // Each retry commits on its own: a running daemon waits for no more than one.
  for (std::size_t n = 0; n < ids.size(); ++n) {
    long long id = ids[n];
    switch (store.retry(id, now_ms())) {
      case Store::RetryResult::queued: ++queued; break;
      case Store::RetryResult::no_such_message:
        std::cerr << "letterd: message " << id << ": no such message\n";
        ++problems;
        break;
      case Store::RetryResult::not_failed:
        std::cerr << "letterd: message " << id << ": not failed, nothing to retry\n";
        ++problems;
        break;
      case Store::RetryResult::body_erased:
        std::cerr << "letterd: message " << id << ": its body was erased (retention.bodies); it cannot be sent\n";
        ++problems;
        break;
    }
    if (n % 256 == 255) progress.update(static_cast<long long>(n + 1), static_cast<long long>(ids.size()));
  }
  progress.update(static_cast<long long>(ids.size()), static_cast<long long>(ids.size()));
  std::cout << queued << " message(s) queued again; a running letterd sends them within queue.rescan\n";
  return problems ? 1 : 0;
}

int erase_one_supporter(const Config& config, Store& store, const std::string& email) {
  auto erased = store.erase_supporter(email, now_ms());
  std::vector<std::string> sources;
  for (const auto& f : erased.files) sources.push_back(f.file);
  auto files = erase_kept_files(config.queue_dir, sources, email);
  // The rejection rows of what was removed: a rejected file's row was
  // written just before its move to rejected/.
  std::vector<Store::RejectionRef> rejections = erased.files;
  for (const auto& f : files)
    if (f.path.starts_with("rejected/"))
      rejections.push_back({name_in_new(f.path.substr(9)), f.moved_at - std::chrono::minutes(1),
                            f.moved_at + std::chrono::seconds(1)});
  store.forget_rejections(rejections);
  std::cout << "erased the personal data of " << erased.submissions << " submission(s) and " << erased.letters
            << " letter(s); " << erased.cancelled << " letter(s) not yet sent were cancelled; " << files.size()
            << " kept queue file(s) removed\n";
  if (!store.checkpoint()) {
    std::cerr << "letterd: the erased data is still in the database's write-ahead log, held there by a reader "
                 "(letterd log, sqlite3) open now; run this again once it has finished\n";
    return 1;
  }
  return 0;
}

int cmd_purge(Args args) {
  auto opts = take_options(args.rest, {"supporter"});
  if (!args.rest.empty()) throw UsageError{"purge takes no argument " + args.rest[0]};
  if (opts.count("supporter") && !is_valid_address(opts["supporter"]))
    throw UsageError{"--supporter takes the supporter's email address"};
  auto config = load_or_report(args.config);
  if (!config) return 2;
  Store store(config->database, Store::Access::existing);
  if (opts.count("supporter")) return erase_one_supporter(*config, store, opts["supporter"]);

  // Slices of a few hundred letters, each its own transaction: a running
  // daemon is never locked out for longer than one.
  const TimePoint cutoff = now_ms() - config->retention_bodies;
  Store::PurgeCounts total;
  Progress progress("letter bodies erased");
  for (Store::PurgeCounts slice{.more = true}; slice.more;) {
    slice = store.purge_bodies(cutoff, Store::kRetentionSlice);
    total.bodies += slice.bodies;
    total.notes += slice.notes;
    progress.update(total.bodies);
  }
  KeptFilesSweep sweep(config->queue_dir, cutoff);
  while (sweep.step(Store::kRetentionSlice)) {
  }
  store.checkpoint();
  auto before = store.space_use();
  while (store.return_free_pages(Store::kVacuumSlicePages)) {
  }
  bool emptied = store.checkpoint();
  auto after = store.space_use();
  std::cout << "erased " << total.bodies << " letter bod" << (total.bodies == 1 ? "y" : "ies") << " and "
            << total.notes << " personal note(s) ended more than " << format_duration(config->retention_bodies)
            << " ago, and " << sweep.removed() << " kept queue file(s); the database went from "
            << before.file_bytes / 1024 << " KiB to " << after.file_bytes / 1024 << " KiB\n";
  if (!after.returns_free_pages && after.free_bytes > 0)
    std::cout << "this database was made before letterd returned free space: " << after.free_bytes / 1024
              << " KiB stay free inside it (README: Retention)\n";
  if (!emptied) {
    std::cerr << "letterd: erased bodies are still in the database's write-ahead log, held there by a reader "
                 "(letterd log, sqlite3) open now; run this again once it has finished\n";
    return 1;
  }
  return 0;
}

int cmd_report(Args args) {
  auto opts = take_options(args.rest, {"campaign", "format"});
  if (!args.rest.empty()) throw UsageError{"report takes no argument " + args.rest[0]};
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
  const char* header[] = {"campaign", "scope", "key", "name", "waiting", "deferred", "sent", "failed"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& campaign : campaigns) {
    // Every target shows, even one no letter has gone to yet: that is the answer wanted.
    auto report = store.report(campaign);
    const Targets& targets = *config->campaign(campaign)->targets;
    for (const auto& r : report)
      rows.push_back({campaign, r.scope, r.key, r.name, std::to_string(r.waiting), std::to_string(r.deferred),
                      std::to_string(r.sent), std::to_string(r.failed)});
    for (const auto& id : targets.ids()) {
      bool seen = std::any_of(report.begin(), report.end(),
                              [&](const ReportRow& r) { return r.scope == "target" && r.key == id; });
      if (!seen) rows.push_back({campaign, "target", id, targets.by_id(id)->name(), "0", "0", "0", "0"});
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
        std::cout << (i ? ", " : "") << json_string(header[i]) << ": " << (i >= 4 ? rows[n][i] : json_string(rows[n][i]));
      std::cout << "}";
    }
    std::cout << (rows.empty() ? "]\n" : "\n]\n");
  } else {
    TablePrinter table({header, header + std::size(header)});
    for (auto& r : rows) table.add(std::move(r));
  }
  return 0;
}

}  // namespace

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string json_string(const std::string& value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

int run_cli(const std::vector<std::string>& argv) {
  try {
    Args args = parse_args(argv);
    if (args.command.empty() || args.command == "help" || args.command == "--help" || args.command == "-h") {
      std::cout << kUsage;
      return args.command.empty() ? 2 : 0;
    }
    if (args.command == "run") {
      auto opts = take_options(args.rest, {}, {"once"});
      if (!args.rest.empty()) throw UsageError{"run takes no argument " + args.rest[0]};
      return run_service({args.config, opts.count("once") > 0}, make_logger());
    }
    if (args.command == "check") return cmd_check(args);
    if (args.command == "preview") return cmd_preview(args);
    if (args.command == "enqueue") return cmd_enqueue(args);
    if (args.command == "status") return cmd_status(args);
    if (args.command == "log") return cmd_log(args);
    if (args.command == "report") return cmd_report(args);
    if (args.command == "retry") return cmd_retry(args);
    if (args.command == "purge") return cmd_purge(args);
    throw UsageError{"unknown command " + args.command};
  } catch (const UsageError& e) {
    std::cerr << "letterd: " << e.what << "\n\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "letterd: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace letterd
