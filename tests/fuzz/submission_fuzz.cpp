// libFuzzer target: any bytes as a submission file, JSON or YAML. What it
// accepts must hold only what the checks promise.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "message.h"
#include "submission.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the format, so both parsers are fuzzed.
  const char* name = data[0] & 1 ? "fuzz.yaml" : "fuzz.json";
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  letterd::Problems problems;
  auto now = *letterd::parse_rfc3339("2026-11-25T00:00:00Z");
  auto submission = letterd::parse_submission(text, name, now, problems);
  if (!submission) return 0;
  if (!problems.empty()) std::abort();
  // Whatever was accepted can never break a header or leave the campaign's
  // recipients: its name is one clean line, its address a valid mailbox.
  if (letterd::has_header_breaking_chars(submission->supporter_name)) std::abort();
  if (!letterd::is_valid_address(submission->supporter_email)) std::abort();
  if (submission->id.empty() || submission->id.size() > 128) std::abort();
  for (const auto& [key, value] : submission->fields)
    if (letterd::has_header_breaking_chars(value)) std::abort();
  return 0;
}
