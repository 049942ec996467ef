// The postcode commands: `postcodes import FILE` builds the lookup the
// config's `postcodes` names; `lookup POSTCODE` asks it, as a web form may
// before it drops a file.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli.h"
#include "cli_detail.h"
#include "postcode_import.h"
#include "store_postcodes.h"

namespace letterd {

using namespace cli_detail;

namespace {

// The config, and the lookup path it names; nullopt (exit 2) without one.
std::optional<Config> config_with_postcodes(const Args& args) {
  auto config = load_or_report(args.config);
  if (config && config->postcodes.empty()) {
    std::cerr << "letterd: " << args.config
              << ": postcodes: is not set: name the lookup's file (postcodes: /var/lib/letterd/postcodes.db)\n";
    return std::nullopt;
  }
  return config;
}

// --- postcodes import ---

// Ctrl-C (or a TERM) during an import stops it between two rows, so the
// half-built file is removed rather than left beside the lookup.
volatile sig_atomic_t interrupted = 0;

class InterruptGuard {
 public:
  InterruptGuard() {
    struct sigaction on {};
    on.sa_handler = [](int) { interrupted = 1; };
    sigemptyset(&on.sa_mask);
    ::sigaction(SIGINT, &on, &old_int_);
    ::sigaction(SIGTERM, &on, &old_term_);
  }
  ~InterruptGuard() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// A line on a terminal, redrawn in place; nothing when stderr is not one.
class ImportProgressLine {
 public:
  explicit ImportProgressLine(const std::string& path) : shown_(::isatty(STDERR_FILENO) == 1) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) total_ = st.st_size;
  }
  ~ImportProgressLine() {
    if (drawn_) std::fprintf(stderr, "\n");
  }
  bool update(long long rows, long long bytes) {
    if (shown_) {
      drawn_ = true;
      if (total_ > 0)
        std::fprintf(stderr, "\rreading: %lld rows, %lld%%", rows, bytes * 100 / total_);
      else
        std::fprintf(stderr, "\rreading: %lld rows", rows);
      std::fflush(stderr);
    }
    return interrupted == 0;
  }

 private:
  bool shown_;
  bool drawn_ = false;
  long long total_ = 0;
};

void print_summary(const ImportSummary& s, const std::string& file) {
  const PostcodeColumns& c = s.columns;
  std::cout << file << ": postcode from " << c.postcode_name << ", constituency from " << c.constituency_name
            << (c.doterm ? ", terminations from doterm" : ", no doterm column: every postcode live") << "\n"
            << "rows read: " << s.rows << "\n"
            << "live: " << s.live << "\n"
            << "terminated: " << s.terminated << "\n"
            << "skipped: " << s.skipped << "\n";
  for (std::size_t i = 0; i < s.skips.size(); ++i) {
    const auto& skip = s.skips[i];
    if (skip.count == 0) continue;
    std::cout << "  " << describe(static_cast<SkipReason>(i)) << ": " << skip.count << " (line";
    for (std::size_t n = 0; n < skip.first_lines.size(); ++n)
      std::cout << (n == 0 ? (skip.first_lines.size() > 1 ? "s " : " ") : ", ") << skip.first_lines[n];
    std::cout << (skip.count > static_cast<long long>(skip.first_lines.size()) ? ", ...)\n" : ")\n");
  }
  std::cout << "constituency codes: " << s.constituencies << "\n";
}

int postcodes_import(const Args& args, const std::string& file) {
  auto config = config_with_postcodes(args);
  if (!config) return 2;
  const auto started = std::chrono::steady_clock::now();
  interrupted = 0;
  InterruptGuard guard;
  ImportSummary summary;
  try {
    ImportProgressLine progress(file);
    summary = import_postcodes(file, config->postcodes,
                               [&](long long rows, long long bytes) { return progress.update(rows, bytes); });
  } catch (const PostcodeImportError& e) {
    std::cerr << "letterd: " << e.what() << "\n";
    return e.bad_input ? 2 : 1;
  }
  print_summary(summary, file);
  struct stat st {};
  ::stat(config->postcodes.c_str(), &st);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (st.st_size < 1'000'000)
    std::printf("%s: replaced, %lld kB, in %.1f s\n", config->postcodes.c_str(),
                static_cast<long long>(st.st_size) / 1000, seconds);
  else
    std::printf("%s: replaced, %.1f MB, in %.1f s\n", config->postcodes.c_str(), st.st_size / 1e6, seconds);
  return 0;
}

// --- lookup ---

// A letter's target for the postcode, as `lookup` shows it.
struct LookupTarget {
  std::string campaign, letter, id, name;
};

// The targets `campaign`'s by-postcode letters reach from `constituency_code`.
std::vector<LookupTarget> postcode_targets(const CampaignConfig& campaign, const std::string& constituency_code) {
  std::vector<LookupTarget> out;
  for (const auto& letter : campaign.letters) {
    if (letter.route != LetterConfig::Route::postcode || !campaign.targets) continue;
    if (const Target* t = campaign.targets->by_constituency_code(constituency_code))
      out.push_back({campaign.name, letter.name, t->id(), t->name()});
  }
  return out;
}

std::string json_or_null(const std::optional<std::string>& value) {
  return value ? json_string(*value) : "null";
}

void print_json(const PostcodeAnswer& a, const std::vector<LookupTarget>& targets) {
  const auto& place = a.place;
  std::cout << "{\"postcode\": " << json_or_null(a.canonical) << ", \"constituency_code\": "
            << json_or_null(place ? std::optional(place->constituency_code) : std::nullopt) << ", \"terminated\": "
            << json_or_null(place && place->terminated ? std::optional(format_termination(*place->terminated))
                                                       : std::nullopt)
            << ", \"targets\": [";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    std::cout << (i ? ", " : "") << "{\"campaign\": " << json_string(t.campaign)
              << ", \"letter\": " << json_string(t.letter) << ", \"id\": " << json_string(t.id)
              << ", \"name\": " << json_string(t.name) << "}";
  }
  std::cout << "], \"problem\": " << json_or_null(a.problem.empty() ? std::nullopt : std::optional(a.problem)) << "}\n";
}

void print_table(const PostcodeAnswer& a, const std::vector<LookupTarget>& targets) {
  std::cout << "postcode           " << *a.canonical << "\n"
            << "constituency_code  " << a.place->constituency_code << "\n";
  for (const auto& t : targets)
    std::cout << "target             " << t.campaign << "." << t.letter << ": " << t.id << " (" << t.name << ")\n";
}

}  // namespace

namespace cli_detail {

int cmd_postcodes(Args args) {
  if (args.rest.empty() || args.rest[0] != "import") throw UsageError{"postcodes takes: import FILE"};
  args.rest.erase(args.rest.begin());
  take_options(args.rest, {});
  if (args.rest.size() != 1) throw UsageError{"postcodes import takes one FILE"};
  return postcodes_import(args, args.rest[0]);
}

int cmd_lookup(Args args) {
  auto opts = take_options(args.rest, {"campaign", "format"});
  const std::string format = opts.count("format") ? opts["format"] : "table";
  if (format != "table" && format != "json") throw UsageError{"--format must be table or json"};
  // `letterd lookup SW1A 1AA` without quotes arrives as two words.
  if (args.rest.empty() || args.rest.size() > 2) throw UsageError{"lookup takes one POSTCODE"};
  const std::string text = args.rest.size() == 2 ? args.rest[0] + " " + args.rest[1] : args.rest[0];
  auto config = config_with_postcodes(args);
  if (!config) return 2;
  const CampaignConfig* campaign = nullptr;
  if (opts.count("campaign") && !(campaign = config->campaign(opts["campaign"])))
    throw UsageError{"no campaign named '" + opts["campaign"] + "' in " + args.config};

  PostcodeLookup lookup(config->postcodes);
  const PostcodeAnswer answer = look_up_postcode(lookup, text);
  std::vector<LookupTarget> targets;
  if (answer.problem.empty())
    for (const auto& [name, c] : config->campaigns)
      if (!campaign || campaign == &c)
        for (auto& t : postcode_targets(c, answer.place->constituency_code)) targets.push_back(std::move(t));

  if (format == "json") {
    print_json(answer, targets);
  } else if (answer.problem.empty()) {
    print_table(answer, targets);
  } else {
    std::cerr << "letterd: " << (answer.canonical ? *answer.canonical + ": " : "") << answer.problem << "\n";
  }
  return answer.problem.empty() ? 0 : 1;
}

}  // namespace cli_detail

}  // namespace letterd
