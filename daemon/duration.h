// Durations as the config writes them: 500ms, 30s, 5m, 1h, 3d.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace letterd {

using Duration = std::chrono::milliseconds;

// A positive whole number followed by one unit (ms, s, m, h, d); nullopt otherwise.
std::optional<Duration> parse_duration(std::string_view text);

// The shortest exact spelling: 90000ms -> "90s", 3600000ms -> "1h".
std::string format_duration(Duration d);

}  // namespace letterd
