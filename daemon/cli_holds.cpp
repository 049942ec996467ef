// The organiser's holds and cancelling: hold, holds, release and cancel.
// Each commits through the database and says what it did; a running
// daemon notices the change within a second (service.cpp).
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "bounce_intake.h"
#include "cli.h"
#include "cli_detail.h"
#include "json.h"
#include "logging.h"
#include "store.h"

namespace letterd {

using namespace cli_detail;

namespace {

std::vector<long long> message_ids(const std::vector<std::string>& args) {
  std::vector<long long> ids;
  for (const auto& a : args) {
    char* end = nullptr;
    long long id = std::strtoll(a.c_str(), &end, 10);
    if (a.empty() || *end || id <= 0) throw UsageError{"'" + a + "' is not a message id (letterd log shows them)"};
    ids.push_back(id);
  }
  return ids;
}

// --campaign, --letter and --target as given, each checked against the
// config: a misspelt name would hold or cancel nothing, silently.
LetterFilter letter_filter(std::map<std::string, std::string>& opts, const Config& config) {
  LetterFilter f;
  if (opts.count("campaign")) f.campaign = opts["campaign"];
  if (opts.count("letter")) f.letter = opts["letter"];
  if (opts.count("target")) f.target = opts["target"];
  if (f.campaign && !config.campaign(*f.campaign)) throw UsageError{"no campaign " + *f.campaign + " in the config"};
  bool letter_known = !f.letter, target_known = !f.target;
  for (const auto& [name, campaign] : config.campaigns) {
    if (f.campaign && name != *f.campaign) continue;
    if (f.letter && campaign.letter(*f.letter)) letter_known = true;
    if (f.target && campaign.targets && campaign.targets->by_id(*f.target)) target_known = true;
  }
  std::string where = f.campaign ? "campaign " + *f.campaign : "any campaign";
  if (!letter_known) throw UsageError{"no letter " + *f.letter + " in " + where};
  if (!target_known) throw UsageError{"no target " + *f.target + " in " + where};
  return f;
}

std::string describe(const LetterFilter& f) {
  std::string out;
  if (f.campaign) out += " campaign " + *f.campaign;
  if (f.letter) out += " letter " + *f.letter;
  if (f.target) out += " target " + *f.target;
  return out.empty() ? " every letter" : out;
}

std::string reason_of(std::map<std::string, std::string>& opts, const char* command) {
  if (!opts.count("reason") || opts["reason"].empty())
    throw UsageError{std::string(command) + " needs --reason TEXT: the log keeps why"};
  return opts["reason"];
}

// A date alone means its midnight, UTC.
TimePoint parse_until(const std::string& text, TimePoint now) {
  auto t = parse_rfc3339(text);
  if (!t) t = parse_rfc3339(text + "T00:00:00Z");
  if (!t) throw UsageError{"--until must be a date (2029-07-05) or an RFC 3339 time"};
  if (*t <= now) throw UsageError{"--until " + text + " has already passed"};
  return *t;
}

}  // namespace

namespace cli_detail {

int cmd_hold(Args args) {
  auto opts = take_options(args.rest, {"campaign", "letter", "target", "until", "reason"});
  if (!args.rest.empty()) throw UsageError{"hold takes no argument " + args.rest[0]};
  std::string reason = reason_of(opts, "hold");
  TimePoint now = now_ms();
  std::optional<TimePoint> until;
  if (opts.count("until")) until = parse_until(opts["until"], now);
  auto config = load_or_report(args.config);
  if (!config) return 2;
  LetterFilter filter = letter_filter(opts, *config);
  Store store(config->database, Store::Access::existing);
  auto made = store.hold(filter, reason, until, now);
  std::cout << "hold " << made.id << ":" << describe(filter) << ", " << made.letters
            << " waiting letter(s) held, and every later one, until "
            << (until ? format_utc(*until) : "letterd release --hold " + std::to_string(made.id)) << "\n";
  return 0;
}

int cmd_holds(Args args) {
  take_options(args.rest, {});
  if (!args.rest.empty()) throw UsageError{"holds takes no argument " + args.rest[0]};
  auto config = load_or_report(args.config);
  if (!config) return 2;
  Store store(config->database, Store::Access::read_only);
  auto holds = store.holds();
  if (holds.empty()) {
    std::cout << "no holds\n";
    return 0;
  }
  std::string now = format_utc(now_ms());
  std::printf("%-5s %-8s %-20s %-16s %-24s %-24s %-32s %s\n", "id", "letters", "campaign", "letter", "target",
              "created_at", "state", "reason");
  for (const auto& h : holds) {
    std::string state = !h.released_at.empty() ? "released " + h.released_at
                        : h.until.empty()      ? "holding"
                        : h.until <= now       ? "ended " + h.until
                                               : "holding until " + h.until;
    std::printf("%-5lld %-8lld %-20s %-16s %-24s %-24s %-32s %s\n", h.id, h.letters,
                h.filter.campaign.value_or("*").c_str(), h.filter.letter.value_or("*").c_str(),
                h.filter.target.value_or("*").c_str(), h.created_at.c_str(), state.c_str(), h.reason.c_str());
  }
  return 0;
}

int cmd_review(Args args) {
  auto opts = take_options(args.rest, {"campaign", "format"});
  if (!args.rest.empty()) throw UsageError{"review takes no argument " + args.rest[0]};
  std::string format = opts.count("format") ? opts["format"] : "table";
  if (format != "table" && format != "json") throw UsageError{"--format is table or json"};
  auto config = load_or_report(args.config);
  if (!config) return 2;
  Store store(config->database, Store::Access::read_only);
  auto rows = store.held_for_review(opts.count("campaign") ? opts["campaign"] : "");
  if (format == "json") {
    std::cout << "[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      std::cout << (i ? ",\n " : "") << "{\"id\": " << r.id << ", \"rule\": " << json_string(r.rule)
                << ", \"campaign\": " << json_string(r.campaign) << ", \"letter\": " << json_string(r.letter)
                << ", \"target\": " << json_string(r.target_id) << ", \"reason\": " << json_string(r.reason)
                << ", \"supporter\": " << json_string(r.supporter_name) << ", \"postcode\": " << json_string(r.postcode)
                << ", \"note\": " << json_string(r.note) << ", \"created_at\": " << json_string(r.created_at) << "}";
    }
    std::cout << "]\n";
    return 0;
  }
  if (rows.empty()) {
    std::cout << "no letters wait for review\n";
    return 0;
  }
  std::string rule;
  for (const auto& r : rows) {
    if (r.rule != rule) {
      rule = r.rule;
      auto count = std::count_if(rows.begin(), rows.end(), [&](const Store::ReviewRow& x) { return x.rule == rule; });
      std::cout << (&r == &rows.front() ? "" : "\n") << rule << ": " << count << " letter(s)\n";
    }
    std::cout << "  " << r.id << "  " << r.campaign << " " << r.letter << " to " << r.target_id << ", from "
              << r.supporter_name << (r.postcode.empty() ? "" : " (" + r.postcode + ")") << ", " << r.created_at
              << "\n    " << r.reason << "\n    note: " << (r.note.empty() ? "(none)" : r.note) << "\n";
  }
  std::cout << "\nletterd release ID... sends them as written; letterd cancel ID... --reason TEXT does not.\n";
  return 0;
}

int cmd_release(Args args) {
  auto opts = take_options(args.rest, {"hold"});
  if (opts.count("hold") && !args.rest.empty()) throw UsageError{"release takes --hold N or message IDs, not both"};
  if (!opts.count("hold") && args.rest.empty()) throw UsageError{"release takes --hold N or message IDs"};
  std::vector<long long> ids = message_ids(opts.count("hold") ? std::vector{opts["hold"]} : args.rest);
  auto config = load_or_report(args.config);
  if (!config) return 2;
  Store store(config->database, Store::Access::existing);
  if (opts.count("hold")) {
    auto released = store.release_hold(ids[0], now_ms());
    if (!released) {
      std::cerr << "letterd: hold " << ids[0] << ": no such hold, or it has already ended (letterd holds)\n";
      return 1;
    }
    std::cout << "hold " << ids[0] << " released: " << *released << " letter(s) to send now\n";
    return 0;
  }
  int problems = 0, released = 0;
  for (long long id : ids) {
    switch (store.release_held(id, now_ms())) {
      case Store::ReleaseResult::released:
        ++released;
        break;
      case Store::ReleaseResult::no_such_message:
        std::cerr << "letterd: message " << id << ": no such message\n";
        ++problems;
        break;
      case Store::ReleaseResult::not_held:
        std::cerr << "letterd: message " << id << ": not held, nothing to release\n";
        ++problems;
        break;
    }
  }
  std::cout << released << " letter(s) released, to send now\n";
  return problems ? 1 : 0;
}

int cmd_cancel(Args args) {
  auto opts = take_options(args.rest, {"campaign", "letter", "target", "reason"});
  bool by_filter = opts.count("campaign") || opts.count("letter") || opts.count("target");
  if (by_filter && !args.rest.empty())
    throw UsageError{"cancel takes message IDs or --campaign/--letter/--target, not both"};
  // Cancelling cannot be undone: every letter of every campaign is never meant by leaving the filter out.
  if (!by_filter && args.rest.empty())
    throw UsageError{"cancel takes message IDs, or at least one of --campaign, --letter, --target"};
  std::vector<long long> ids = message_ids(args.rest);
  std::string reason = reason_of(opts, "cancel");
  auto config = load_or_report(args.config);
  if (!config) return 2;
  std::optional<LetterFilter> filter;
  if (by_filter) filter = letter_filter(opts, *config);
  Store store(config->database, Store::Access::existing);
  if (filter) {
    int cancelled = store.cancel_matching(*filter, reason, now_ms());
    std::cout << cancelled << " letter(s) not yet sent cancelled (" << describe(*filter).substr(1)
              << "); their bodies are erased\n";
    return 0;
  }
  int problems = 0, cancelled = 0;
  for (long long id : ids) {
    switch (store.cancel(id, reason, now_ms())) {
      case Store::CancelResult::cancelled:
        ++cancelled;
        break;
      case Store::CancelResult::no_such_message:
        std::cerr << "letterd: message " << id << ": no such message\n";
        ++problems;
        break;
      case Store::CancelResult::already_ended:
        std::cerr << "letterd: message " << id << ": already sent, failed or cancelled; nothing to cancel\n";
        ++problems;
        break;
    }
  }
  std::cout << cancelled << " letter(s) cancelled; their bodies are erased\n";
  return problems ? 1 : 0;
}

int cmd_bounces(Args args) {
  take_options(args.rest, {}, {"once"});
  if (!args.rest.empty()) throw UsageError{"bounces takes no argument " + args.rest[0]};
  // The mailbox's password is read, as the service reads it.
  Problems problems;
  auto config = load_config(args.config, problems);
  if (!config) {
    for (const auto& p : problems) std::cerr << "letterd: " << p.text() << "\n";
    return 2;
  }
  if (!config->bounces.configured()) throw UsageError{"the config has no bounces: mailbox to read"};
  Store store(config->database, Store::Access::existing);
  auto log = make_logger();
  BounceIntake intake(store, *config, store.return_path_key(), *log);
  BounceCounts counts = intake.read_all();
  std::cout << counts.summary() << "\n";
  return counts.unreadable ? 1 : 0;
}

}  // namespace cli_detail

}  // namespace letterd
