#include "smtp.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace letterd {

std::string bounded_reply(std::string_view reply) {
  if (reply.size() <= kMaxReplyBytes) return std::string(reply);
  constexpr std::string_view marker = " [cut: the relay's reply was longer than 1 KB]";
  std::size_t keep = kMaxReplyBytes - marker.size();
  // A UTF-8 character is at most 4 bytes: step back over at most three
  // continuation bytes so the cut never splits one.
  auto continuation = [&](std::size_t i) { return (static_cast<unsigned char>(reply[i]) & 0xC0) == 0x80; };
  for (int steps = 0; steps < 3 && keep > 0 && continuation(keep); ++steps) --keep;
  return std::string(reply.substr(0, keep)).append(marker);
}

namespace {

// The authority of a url that starts with scheme "://": up to the path,
// query or fragment.
std::string_view url_authority(std::string_view url) {
  std::string_view rest = url.substr(url.find("://") + 3);
  return rest.substr(0, rest.find_first_of("/?#"));
}

bool has_control_character(std::string_view text) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// One part of a parsed url, or nullopt when it has none.
std::optional<std::string> url_part(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, flags) != CURLUE_OK || !value) return std::nullopt;
  std::string copy = value;
  curl_free(value);
  return copy;
}

}  // namespace

std::optional<std::string> relay_url_problem(std::string_view url) {
  if (!url.starts_with("smtp://") && !url.starts_with("smtps://")) return "must start with smtp:// or smtps://";
  // libcurl refuses these only when it sends, so the relay would be paused for ever.
  if (has_control_character(url)) return "holds a control character (CR, LF, tab or the like)";
  std::string_view authority = url_authority(url);
  if (authority.find('@') != std::string_view::npos)
    return "holds a user name or password; put the user in username: and the password in password_file: or "
           "password_env:";
  if (authority.empty() || authority.front() == ':') return "has no host name";
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
  if (!parsed) return "cannot be checked: libcurl is out of memory";
  if (CURLUcode rc = curl_url_set(parsed.get(), CURLUPART_URL, std::string(url).c_str(), 0); rc != CURLUE_OK)
    return std::string("is not a url libcurl can use: ") + curl_url_strerror(rc);
  if (url_part(parsed.get(), CURLUPART_PORT) == "0") return "port 0 is no port: give 1 to 65535";
  if (url_part(parsed.get(), CURLUPART_QUERY) || url_part(parsed.get(), CURLUPART_FRAGMENT))
    return "must not have a query (?...) or a fragment (#...)";
  // libcurl sends the decoded path as the EHLO name and refuses control characters in it.
  auto path = url_part(parsed.get(), CURLUPART_PATH, CURLU_URLDECODE);
  if (!path || has_control_character(*path)) return "has a path (the EHLO name) that holds a control character";
  return std::nullopt;
}

namespace {

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The EHLO name goes in the URL's path, which libcurl otherwise fills with
// "localhost"; strict relays refuse that.
std::string url_with_helo(const std::string& url, const std::string& helo) {
  auto scheme_end = url.find("://");
  auto path = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path != std::string::npos && path + 1 < url.size()) return url;
  return (path == std::string::npos ? url : url.substr(0, path)) + "/" + helo;
}

}  // namespace

struct SmtpSession::Impl {
  RelayConfig relay;
  std::string password;
  std::string helo;
  CURL* easy = nullptr;
  char error[CURL_ERROR_SIZE] = {};

  // What the dialogue has reached, read from libcurl's protocol trace.
  SmtpStage stage = SmtpStage::connect;
  int reply_code = 0;
  std::string reply_text;  // at most kMaxReplyBytes + 1 bytes: enough to know it must be cut
  bool reply_complete = true;
  bool in_body = false;      // DATA was answered 354: the next reply answers the end of DATA
  int end_of_data_code = 0;  // the code on the first line of that reply
  int rcpt_index = -1;
  int refused_recipient = -1;
  bool quitting = false;  // the 221 to QUIT must not hide the reply that ended the dialogue

  const std::string* upload = nullptr;
  std::size_t upload_pos = 0;

  ~Impl() { drop(); }

  void drop() {
    if (easy) curl_easy_cleanup(easy);
    easy = nullptr;
  }

  // Closes the connection without waiting on the relay. On closing, libcurl
  // says QUIT and waits up to a whole reply timeout for the answer, and it
  // keeps a connection whose end of DATA went unanswered as sound: a stalled
  // relay took twice the timeout. With the socket shut first, QUIT fails at once.
  void abandon() {
    curl_socket_t socket = CURL_SOCKET_BAD;
    if (easy && curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK && socket != CURL_SOCKET_BAD)
      ::shutdown(socket, SHUT_RDWR);
    drop();
  }

  static int on_trace(CURL*, curl_infotype type, char* data, std::size_t size, void* self) {
    static_cast<Impl*>(self)->trace(type, std::string_view(data, size));
    return 0;
  }

  void trace(curl_infotype type, std::string_view line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (type == CURLINFO_HEADER_OUT) {
      // Only the verb is read: an AUTH line carries the credentials.
      auto starts = [&](std::string_view verb) {
        return line.size() >= verb.size() && strncasecmp(line.data(), verb.data(), verb.size()) == 0;
      };
      if (starts("STARTTLS"))
        stage = SmtpStage::tls;
      else if (starts("AUTH"))
        stage = SmtpStage::auth;
      else if (starts("MAIL"))
        stage = SmtpStage::mail;
      else if (starts("RCPT"))
        stage = SmtpStage::rcpt, ++rcpt_index;
      else if (starts("DATA"))
        stage = SmtpStage::data;
      else if (starts("QUIT"))
        quitting = true;
    } else if (type == CURLINFO_HEADER_IN && !quitting) {
      if (stage == SmtpStage::connect) stage = SmtpStage::greeting;
      if (line.size() < 3) return;
      int code = std::atoi(std::string(line.substr(0, 3)).c_str());
      if (reply_complete) {  // this line starts a reply
        reply_text.clear();
        // Every line of a reply carries its code (RFC 5321 4.2.1), so the
        // first tells whether the relay took the letter even when libcurl
        // gives up on a reply too long for it.
        if (in_body && end_of_data_code == 0) end_of_data_code = code;
      }
      append_reply_text(line.size() > 4 ? line.substr(4) : std::string_view{});
      reply_code = code;
      reply_complete = line.size() == 3 || line[3] != '-';
      if (reply_complete && stage == SmtpStage::data && reply_code == 354) in_body = true;
      if (reply_complete && stage == SmtpStage::rcpt && reply_code >= 400 && refused_recipient < 0)
        refused_recipient = rcpt_index;
    }
  }

  // Keeps no more of a reply than bounded_reply() can use: a relay's reply
  // of millions of lines costs no memory.
  void append_reply_text(std::string_view text) {
    if (reply_text.size() > kMaxReplyBytes) return;
    if (!reply_text.empty()) reply_text += ' ';
    reply_text += text.substr(0, kMaxReplyBytes + 1 - reply_text.size());
  }

  static std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* self) {
    auto* impl = static_cast<Impl*>(self);
    std::size_t n = std::min(size * count, impl->upload->size() - impl->upload_pos);
    std::memcpy(buffer, impl->upload->data() + impl->upload_pos, n);
    impl->upload_pos += n;
    return n;
  }

  // A refused option (an old libcurl, a TLS backend without a feature) must
  // stop the session, never quietly weaken it: tls: required must mean TLS.
  template <typename T>
  void set(CURLoption option, T value, const char* name) {
    if (CURLcode rc = curl_easy_setopt(easy, option, value); rc != CURLE_OK)
      throw std::runtime_error(std::string("libcurl refused ") + name + ": " + curl_easy_strerror(rc));
  }

  void open() {
    global_init_once();
    easy = curl_easy_init();
    if (!easy) throw std::runtime_error("libcurl could not create a handle");
    long timeout_ms = static_cast<long>(relay.timeout.count());
    long use_ssl = relay.tls == TlsMode::required        ? static_cast<long>(CURLUSESSL_ALL)
                   : relay.tls == TlsMode::opportunistic ? static_cast<long>(CURLUSESSL_TRY)
                                                         : static_cast<long>(CURLUSESSL_NONE);
    set(CURLOPT_URL, url_with_helo(relay.url, helo).c_str(), "the relay url");
    set(CURLOPT_PROTOCOLS_STR, "smtp,smtps", "CURLOPT_PROTOCOLS_STR");
    set(CURLOPT_USE_SSL, use_ssl, "CURLOPT_USE_SSL");
    if (!relay.ca_file.empty()) set(CURLOPT_CAINFO, relay.ca_file.c_str(), "ca_file");
    if (!relay.username.empty()) {
      set(CURLOPT_USERNAME, relay.username.c_str(), "CURLOPT_USERNAME");
      set(CURLOPT_PASSWORD, password.c_str(), "CURLOPT_PASSWORD");
    }
    set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms, "CURLOPT_CONNECTTIMEOUT_MS");
    set(CURLOPT_SERVER_RESPONSE_TIMEOUT, std::max(1L, timeout_ms / 1000), "CURLOPT_SERVER_RESPONSE_TIMEOUT");
    set(CURLOPT_TIMEOUT_MS, timeout_ms * 3, "CURLOPT_TIMEOUT_MS");
    set(CURLOPT_NOSIGNAL, 1L, "CURLOPT_NOSIGNAL");
    set(CURLOPT_ERRORBUFFER, static_cast<char*>(error), "CURLOPT_ERRORBUFFER");
    set(CURLOPT_VERBOSE, 1L, "CURLOPT_VERBOSE");  // feeds on_trace; nothing is printed
    set(CURLOPT_DEBUGFUNCTION, &Impl::on_trace, "CURLOPT_DEBUGFUNCTION");
    set(CURLOPT_DEBUGDATA, static_cast<void*>(this), "CURLOPT_DEBUGDATA");
    set(CURLOPT_UPLOAD, 1L, "CURLOPT_UPLOAD");
    set(CURLOPT_READFUNCTION, &Impl::on_read, "CURLOPT_READFUNCTION");
    set(CURLOPT_READDATA, static_cast<void*>(this), "CURLOPT_READDATA");
  }
};

SmtpSession::SmtpSession(const RelayConfig& relay, std::string password, std::string helo_name)
    : impl_(std::make_unique<Impl>()) {
  impl_->relay = relay;
  impl_->password = std::move(password);
  impl_->helo = std::move(helo_name);
}

SmtpSession::~SmtpSession() = default;

SendResult SmtpSession::send(const Envelope& envelope, const std::string& data) {
  Impl& s = *impl_;
  if (!s.easy) {
    try {
      s.open();
    } catch (const std::exception& e) {
      s.drop();
      return {.transfer = Transfer::broken, .response = e.what(), .stage = SmtpStage::connect};
    }
  }
  s.stage = SmtpStage::connect;
  s.reply_code = 0;
  s.reply_text.clear();
  s.reply_complete = true;
  s.in_body = false;
  s.end_of_data_code = 0;
  s.rcpt_index = -1;
  s.refused_recipient = -1;
  s.quitting = false;
  s.error[0] = '\0';
  s.upload = &data;
  s.upload_pos = 0;

  std::string from = "<" + envelope.mail_from + ">";
  curl_slist* rcpts = nullptr;
  for (const auto& r : envelope.recipients) rcpts = curl_slist_append(rcpts, ("<" + r + ">").c_str());
  curl_easy_setopt(s.easy, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(s.easy, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(s.easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(data.size()));

  CURLcode rc = curl_easy_perform(s.easy);
  curl_easy_setopt(s.easy, CURLOPT_MAIL_RCPT, nullptr);
  curl_slist_free_all(rcpts);
  s.upload = nullptr;
  // libcurl keeps the connection open on success; on SMTP it does not
  // trace the reply to end of DATA as a header, so take the code it read.
  long response_code = 0;
  curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &response_code);
  bool end_of_data_answered = s.end_of_data_code != 0;
  if (s.stage == SmtpStage::data && (rc == CURLE_OK || end_of_data_answered)) s.stage = SmtpStage::done;

  SendResult result;
  result.stage = s.stage;
  // Only a final reply is the relay's answer: a timeout after "354 go
  // ahead" has no code of its own.
  bool answered = rc == CURLE_OK || s.reply_code >= 400 || end_of_data_answered;
  int code = end_of_data_answered ? s.end_of_data_code : s.reply_code ? s.reply_code : static_cast<int>(response_code);
  result.code = answered ? code : 0;
  result.refused_recipient = s.refused_recipient;
  result.transfer = rc == CURLE_OK             ? Transfer::completed
                    : rc == CURLE_LOGIN_DENIED ? Transfer::login_refused
                                               : Transfer::broken;
  // Bounded here, so the store and the log both get the bounded text.
  result.response = bounded_reply(answered     ? std::string_view(s.reply_text)
                                  : s.error[0] ? std::string_view(s.error)
                                               : std::string_view(curl_easy_strerror(rc)));
  if (rc != CURLE_OK) s.abandon();  // start clean: never reuse, nor wait on, a session that went wrong
  return result;
}

void SmtpSession::close() {
  impl_->drop();
}

}  // namespace letterd
