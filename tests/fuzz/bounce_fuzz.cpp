// libFuzzer target: any bytes as a mail that came back to a return path.
// Whatever comes in, the reader never crashes, never leaves an address in
// what it keeps to show, and a status it keeps is a status code.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bounce.h"
#include "message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  letterd::BounceReport r = letterd::read_bounce(std::string_view(reinterpret_cast<const char*>(data), size));
  // Nothing left that redaction would replace.
  if (letterd::redact_addresses(r.diagnostic) != r.diagnostic || r.diagnostic.size() > 500) std::abort();
  for (const auto& recipient : r.recipients)
    if (letterd::redact_addresses(recipient.diagnostic) != recipient.diagnostic) std::abort();
  if (!r.status.empty() &&
      (r.status.size() < 5 || r.status[1] != '.' || (r.status[0] != '2' && r.status[0] != '4' && r.status[0] != '5')))
    std::abort();
  return 0;
}
