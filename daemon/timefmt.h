// Time as the database and the submission file write it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace letterd {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;

TimePoint now_ms();

// UTC, millisecond precision: 2026-11-24T10:00:00.000Z. Sorts as text.
std::string format_utc(TimePoint t);

// RFC 3339 date-time ("2026-11-24T10:00:00Z", "...T11:00:00.5+01:00").
// nullopt when the text is not one.
std::optional<TimePoint> parse_rfc3339(std::string_view text);

}  // namespace letterd
