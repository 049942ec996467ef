// libFuzzer target: any subject, display name and body through the message
// encoder. Whatever goes in, what comes out is a message a strict relay
// takes: CRLF only, 7-bit, no line over 998 octets, the body recoverable.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "message.h"

namespace {

void check_wire_form(const std::string& out) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(out[i]);
    if (c >= 0x80 || c == 0) std::abort();
    if (c == '\n' && (i == 0 || out[i - 1] != '\r')) std::abort();
    if (c == '\r' && (i + 1 >= out.size() || out[i + 1] != '\n')) std::abort();
    line = c == '\n' ? 0 : line + 1;
    if (line > 1000) std::abort();  // 998 octets plus CRLF
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Three parts separated by NUL: subject, display name, body.
  auto first = in.find('\0');
  auto second = first == std::string_view::npos ? first : in.find('\0', first + 1);
  std::string subject(in.substr(0, first));
  std::string name = first == std::string_view::npos ? "" : std::string(in.substr(first + 1, second - first - 1));
  std::string body = second == std::string_view::npos ? "" : std::string(in.substr(second + 1));
  // Intake refuses these before they reach a header; the encoder's promise holds for the rest.
  if (letterd::has_header_breaking_chars(subject) || letterd::has_header_breaking_chars(name)) return 0;
  if (!letterd::is_valid_utf8(body)) return 0;

  letterd::OutgoingMessage m;
  m.from = {name, "letters@example.org"};
  m.to = {name, "mp@example.org"};
  m.subject = subject;
  m.body = body;
  m.message_id = "fuzz@example.org";
  m.date = *letterd::parse_rfc3339("2026-11-25T00:00:00Z");
  std::string out = letterd::build_message(m);
  check_wire_form(out);

  std::string expected;
  for (std::size_t i = 0; i < body.size(); ++i)
    if (!(body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n')) expected += body[i];
  std::string decoded = letterd::quoted_printable_decode(letterd::quoted_printable(body));
  // Trailing white space before a line end is not guaranteed to survive QP; compare line by line without it.
  auto strip = [](std::string s) {
    std::string out, line;
    for (char c : s + "\n") {
      if (c == '\n') {
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
        out += line + "\n";
        line.clear();
      } else {
        line += c;
      }
    }
    return out;
  };
  if (strip(decoded) != strip(expected)) std::abort();
  return 0;
}
