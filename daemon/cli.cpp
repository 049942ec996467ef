#include "cli.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "cli_detail.h"
#include "config.h"
#include "housekeeping.h"
#include "logging.h"
#include "queue.h"
#include "queue_retention.h"
#include "service.h"
#include "store.h"
#include "store_postcodes.h"
#include "submission.h"

namespace letterd {

using namespace cli_detail;

namespace {

constexpr const char* kUsage = R"(usage: letterd [-c FILE] COMMAND [ARGS]

commands:
  run [--once]            the daemon, in the foreground; --once drains what is due and exits
  check                   validates config, targets and templates
  preview FILE            prints the messages a submission would produce; sends nothing
  enqueue FILE...         drops files into the queue atomically
  status                  queue depth, send rate, relays, last errors
  log [--status S] [--campaign C] [--target T] [--since TIME] [--format table|csv|json]
  report [--campaign C] [--format table|csv|json | --html FILE]
                          letters per target and per day: did every MP get them?
  retry ID... | --failed  puts failed (or, by ID, bounced) messages back in the queue
  purge [--supporter EMAIL]
                          erases letter bodies past retention.bodies now, or
                          all of one supporter's personal data
  postcodes import FILE   builds the postcode lookup (config key postcodes) from
                          an ONS Postcode Directory, NSPL or any CSV with a header
  lookup POSTCODE [--campaign C] [--format table|json]
                          the postcode's constituency code, from the lookup
  hold [--campaign C] [--letter L] [--target T] [--until TIME] --reason TEXT
                          holds the waiting letters that match, and later ones
  holds                   the holds, with how many letters each holds
  review [--campaign C] [--format table|json]
                          the letters held for review, by rule, with their notes
  release --hold N | ID...
                          ends hold N, or sends these held letters now
  cancel (ID... | [--campaign C] [--letter L] [--target T]) --reason TEXT
                          cancels letters not yet sent, erasing their bodies
  bounces [--once]        reads the bounce mailbox (bounces.maildir) now

options:
  -c, --config FILE       the config (default /etc/letterd/letterd.yaml)
)";

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

// For each campaign with a letter by postcode: how many of the lookup's
// constituencies have a target, and which do not (their supporters' files
// would be rejected).
void print_postcode_coverage(const Config& config) {
  std::vector<std::string> codes;
  for (const auto& [name, c] : config.campaigns) {
    bool by_postcode = std::any_of(c.letters.begin(), c.letters.end(),
                                   [](const LetterConfig& l) { return l.route == LetterConfig::Route::postcode; });
    if (!by_postcode || !c.targets) continue;
    if (codes.empty()) {
      try {
        codes = PostcodeLookup(config.postcodes).constituency_codes();
      } catch (const std::exception& e) {
        std::cout << "postcodes: " << e.what() << " (letterd postcodes import FILE builds it)\n";
        return;
      }
    }
    std::vector<std::string> missing;
    for (const auto& code : codes)
      if (!c.targets->by_constituency_code(code)) missing.push_back(code);
    std::cout << "campaign " << name << ": " << codes.size() - missing.size() << " of " << codes.size()
              << " constituencies in the postcode lookup have a target";
    for (std::size_t i = 0; i < missing.size(); ++i) std::cout << (i ? ", " : "; none for ") << missing[i];
    std::cout << "\n";
  }
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
  print_postcode_coverage(*config);
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
  std::unique_ptr<PostcodeLookup> lookup;
  PostcodeFinder postcodes = [&](std::string_view postcode) {
    if (!lookup) {
      if (config->postcodes.empty()) throw PostcodeLookupUnavailable("the config names no postcodes: lookup");
      lookup = std::make_unique<PostcodeLookup>(config->postcodes);
    }
    return look_up_postcode(*lookup, postcode);
  };
  auto checked = check_submission(*text, name, now_ms(), *config, problems, postcodes);
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

class Progress {
 public:
  explicit Progress(const char* what) : what_(what), shown_(::isatty(STDERR_FILENO) == 1) {}
  ~Progress() {
    if (shown_ && drawn_) std::fprintf(stderr, "\n");
  }
  void update(long long done, long long total = -1) {
    if (!shown_) return;
    drawn_ = true;
    if (total >= 0)
      std::fprintf(stderr, "\r%s: %lld of %lld", what_, done, total);
    else
      std::fprintf(stderr, "\r%s: %lld", what_, done);
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
      case Store::RetryResult::queued:
        ++queued;
        break;
      case Store::RetryResult::no_such_message:
        std::cerr << "letterd: message " << id << ": no such message\n";
        ++problems;
        break;
      case Store::RetryResult::not_failed:
        std::cerr << "letterd: message " << id << ": neither failed nor bounced, nothing to retry\n";
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
  std::cout << queued << " message(s) queued again; a running letterd sends them within a second\n";
  return problems ? 1 : 0;
}

// Empties the write-ahead log, where erased data's old copies stay: a
// checkpoint that empties it keeps a running daemon's commits out while it
// waits for a reader, so each try waits at most 50 ms, a few times over.
bool empty_the_log(Store& store) {
  for (int tries = 0; tries < 20; ++tries) {
    store.copy_log_back();
    if (store.checkpoint(std::chrono::milliseconds(50))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
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
      rejections.push_back(
          {name_in_new(f.path.substr(9)), f.moved_at - std::chrono::minutes(1), f.moved_at + std::chrono::seconds(1)});
  store.forget_rejections(rejections);
  std::cout << "erased the personal data of " << erased.submissions << " submission(s) and " << erased.letters
            << " letter(s); " << erased.cancelled << " letter(s) not yet sent were cancelled; " << files.size()
            << " kept queue file(s) removed\n";
  if (!empty_the_log(store)) {
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

  // The slices the daemon's retention takes, each its own transaction,
  // with the same pause after each: a running daemon is never locked out
  // for longer than one.
  const TimePoint cutoff = now_ms() - config->retention_bodies;
  Store::PurgeCounts total;
  Progress progress("letter bodies erased");
  auto letters = SliceSize::letters(), files = SliceSize::files(), pages = SliceSize::pages();
  for (Store::PurgeCounts slice{.more = true}; slice.more;) {
    slice = letters.run([&](int limit) { return store.purge_bodies(cutoff, limit); });
    total.bodies += slice.bodies;
    total.notes += slice.notes;
    progress.update(total.bodies);
    store.copy_log_back();
    std::this_thread::sleep_for(kPauseBetweenSlices);
  }
  KeptFilesSweep sweep(config->queue_dir, cutoff);
  while (files.run([&](int entries) { return sweep.step(entries); })) {
  }
  store.copy_log_back();
  auto before = store.space_use();
  while (pages.run([&](int count) { return store.return_free_pages(count); })) {
    store.copy_log_back();
    std::this_thread::sleep_for(kPauseBetweenSlices);
  }
  bool emptied = empty_the_log(store);
  auto after = store.space_use();
  std::cout << "erased " << total.bodies << " letter bod" << (total.bodies == 1 ? "y" : "ies") << " and " << total.notes
            << " personal note(s) ended more than " << format_duration(config->retention_bodies) << " ago, and "
            << sweep.removed() << " kept queue file(s); the database went from " << before.file_bytes / 1024
            << " KiB to " << after.file_bytes / 1024 << " KiB\n";
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

}  // namespace

namespace cli_detail {

std::map<std::string, std::string> take_options(std::vector<std::string>& rest,
                                                std::initializer_list<std::string> names,
                                                std::initializer_list<std::string> flags) {
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

}  // namespace cli_detail

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
    if (args.command == "postcodes") return cmd_postcodes(args);
    if (args.command == "lookup") return cmd_lookup(args);
    if (args.command == "hold") return cmd_hold(args);
    if (args.command == "holds") return cmd_holds(args);
    if (args.command == "review") return cmd_review(args);
    if (args.command == "release") return cmd_release(args);
    if (args.command == "cancel") return cmd_cancel(args);
    if (args.command == "bounces") return cmd_bounces(args);
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
