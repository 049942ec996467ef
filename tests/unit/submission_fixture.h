// The submissions the submission tests share, and the helpers that parse
// them at a fixed time so that "in the future" means the same on any day.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string_view>

#include "submission.h"
#include "test_support.h"

namespace letterd::testing {

inline TimePoint now() {
  return *parse_rfc3339("2026-11-25T00:00:00Z");
}

// The example from SPEC "The submission file", byte for byte.
inline constexpr std::string_view kSpecJson = R"({
  "id": "web-2026-000123",
  "campaign": "legal-advocacy",
  "letters": ["mp", "justice-secretary"],
  "supporter": {
    "name": "Jane Doe",
    "email": "jane@example.org",
    "postcode": "SW1A 1AA",
    "address": "1 Example Street, London"
  },
  "constituency": "Cities of London and Westminster",
  "personal_note": "As a person who works with survivors of sexual violence, I ...",
  "authorisation": {
    "given": true,
    "at": "2026-11-24T10:00:00Z",
    "statement": "I authorise Example Campaign to send these letters in my name."
  },
  "fields": { "any_extra_key": "value a template may use" }
}
)";

// The least a submission needs for a campaign with require_authorisation.
inline constexpr std::string_view kMinimalJson = R"({
  "campaign": "legal-advocacy",
  "supporter": { "name": "Jane Doe", "email": "jane@example.org" },
  "constituency": "Cities of London and Westminster",
  "authorisation": { "given": true, "at": "2026-11-24T10:00:00Z" }
}
)";

inline Submission parse_ok(std::string_view text, std::string_view file = "web-2026-000123.json",
                           TimePoint at = now()) {
  Problems problems;
  auto s = parse_submission(text, file, at, problems);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
  if (!s) throw std::runtime_error("submission did not parse");
  return std::move(*s);
}

inline Problems parse_bad(std::string_view text, std::string_view file = "web-2026-000123.json") {
  Problems problems;
  EXPECT_FALSE(parse_submission(text, file, now(), problems).has_value());
  EXPECT_FALSE(problems.empty());
  return problems;
}

// The one problem a bad submission has.
inline Problem one_problem(std::string_view text, std::string_view file = "web-2026-000123.json") {
  Problems problems = parse_bad(text, file);
  EXPECT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  return problems.empty() ? Problem{} : problems.front();
}

}  // namespace letterd::testing
