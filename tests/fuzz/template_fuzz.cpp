// libFuzzer target: any bytes as a letter template, rendered with a fixed
// set of values. Parsing reports problems; it never crashes or hangs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "template.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  letterd::Problems problems;
  auto letter = letterd::parse_letter_template(text, "fuzz.txt", problems);
  if (!letter) {
    if (problems.empty()) std::abort();  // a refusal always says why
    return 0;
  }
  letterd::NameRules rules;
  rules.exact = {"supporter.name", "target.name", "personal_note"};
  rules.open_prefixes = {"fields."};
  letter->body.check_names(rules, problems);
  letterd::Values values{{"supporter.name", "Jane Doe"}, {"target.name", "Alex Example MP"}, {"personal_note", ""}};
  letterd::Problems render_problems;
  auto body = letter->body.render(values, render_problems);
  if (!body && render_problems.empty()) std::abort();
  letter->subject.render(values, render_problems);
  return 0;
}
