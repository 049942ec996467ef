#include "imap.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <stdexcept>

namespace letterd {

namespace {

// Mail larger than this is no bounce; reading stops there.
constexpr std::size_t kMaxMailBytes = 1024 * 1024;

struct CurlDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};

// Keeps the first kMaxMailBytes of a mail and lets the rest go by: a mail
// too large to be a bounce is still read (as far as that), recorded and
// passed, never fetched again and again.
std::size_t collect(char* data, std::size_t size, std::size_t count, void* out) {
  auto& text = *static_cast<std::string*>(out);
  std::size_t bytes = size * count;
  if (text.size() < kMaxMailBytes) text.append(data, std::min(bytes, kMaxMailBytes - text.size()));
  return bytes;
}

std::optional<long long> number_at(std::string_view text, std::size_t pos) {
  long long value = 0;
  auto [end, error] = std::from_chars(text.data() + pos, text.data() + text.size(), value);
  if (error != std::errc() || end == text.data() + pos) return std::nullopt;
  return value;
}

// One session's commands on one handle, so libcurl keeps the connection.
class Session {
 public:
  explicit Session(const BounceConfig& config) : config_(config), easy_(curl_easy_init()) {
    if (!easy_) throw std::runtime_error("cannot start libcurl");
  }

  std::string run(const std::string& url, const std::string& command, const char* what) {
    CURL* e = easy_.get();
    curl_easy_reset(e);
    std::string out;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, config_.password.c_str());
    curl_easy_setopt(e, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    if (!config_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, config_.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    if (!command.empty()) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, command.c_str());
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
    CURLcode code = curl_easy_perform(e);
    if (code != CURLE_OK)
      throw std::runtime_error(std::string(what) + ": " + (*error ? error : curl_easy_strerror(code)));
    return out;
  }

 private:
  const BounceConfig& config_;
  std::unique_ptr<CURL, CurlDeleter> easy_;
};

// "imaps://host:993/INBOX" -> "imaps://host:993/".
std::string server_of(const std::string& url) {
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return url.substr(0, slash == std::string::npos ? url.size() : slash) + "/";
}

}  // namespace

std::optional<long long> parse_uidvalidity(std::string_view answer) {
  constexpr std::string_view kTag = "[UIDVALIDITY ";
  auto at = answer.find(kTag);
  if (at == std::string_view::npos) return std::nullopt;
  return number_at(answer, at + kTag.size());
}

std::optional<long long> parse_uidnext(std::string_view answer) {
  constexpr std::string_view kTag = "[UIDNEXT ";
  auto at = answer.find(kTag);
  if (at == std::string_view::npos) return std::nullopt;
  return number_at(answer, at + kTag.size());
}

std::optional<std::pair<long long, long long>> search_window(long long after, long long uidnext) {
  if (after + 1 >= uidnext) return std::nullopt;
  return std::pair{after + 1, std::min(after + kSearchWindow, uidnext - 1)};
}

std::vector<long long> parse_search(std::string_view answer, long long after) {
  std::vector<long long> uids;
  constexpr std::string_view kTag = "* SEARCH";
  for (auto at = answer.find(kTag); at != std::string_view::npos; at = answer.find(kTag, at + 1)) {
    auto end = answer.find('\n', at);
    std::string_view line =
        answer.substr(at + kTag.size(), end == std::string_view::npos ? end : end - at - kTag.size());
    for (std::size_t pos = 0; pos < line.size();) {
      pos = line.find_first_of("0123456789", pos);
      if (pos == std::string_view::npos) break;
      if (auto n = number_at(line, pos); n && *n > after) uids.push_back(*n);
      pos = line.find_first_not_of("0123456789", pos);
    }
  }
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  return uids;
}

std::string mailbox_of(const std::string& url) {
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos || slash + 1 >= url.size()) return "INBOX";
  return url.substr(slash + 1);
}

ImapBatch fetch_new_mail(const BounceConfig& config, long long known_validity, long long last_uid, std::size_t limit) {
  Session session(config);
  const std::string mailbox = mailbox_of(config.url);
  const std::string folder = server_of(config.url) + mailbox;
  ImapBatch batch;
  std::string examined = session.run(server_of(config.url), "EXAMINE \"" + mailbox + "\"", "EXAMINE");
  auto validity = parse_uidvalidity(examined);
  if (!validity) throw std::runtime_error("EXAMINE " + mailbox + ": the server gave no UIDVALIDITY");
  auto uidnext = parse_uidnext(examined);
  if (!uidnext) throw std::runtime_error("EXAMINE " + mailbox + ": the server gave no UIDNEXT");
  batch.uidvalidity = *validity;
  batch.looked_to = *validity == known_validity ? last_uid : 0;
  while (batch.mails.size() < limit) {
    auto window = search_window(batch.looked_to, *uidnext);
    if (!window) break;
    std::string range = std::to_string(window->first) + ":" + std::to_string(window->second);
    auto uids = parse_search(session.run(folder, "UID SEARCH UID " + range, "UID SEARCH"), batch.looked_to);
    std::erase_if(uids, [&](long long uid) { return uid > window->second; });
    const std::size_t room = limit - batch.mails.size();
    const bool all_of_it = uids.size() <= room;
    if (!all_of_it) uids.resize(room);
    for (long long uid : uids) {
      // ;UIDVALIDITY= makes the server's renumbering between the search and
      // the fetch an error, never another mail under this UID.
      std::string url = folder + ";UIDVALIDITY=" + std::to_string(*validity) + "/;UID=" + std::to_string(uid);
      batch.mails.push_back({uid, session.run(url, "", "FETCH")});
    }
    batch.looked_to = all_of_it ? window->second : uids.back();
  }
  return batch;
}

}  // namespace letterd
