#include "duration.h"

#include <array>
#include <charconv>

namespace letterd {

namespace {

struct Unit {
  std::string_view suffix;
  long long millis;
};

// Longest suffix first so "ms" is not read as "m".
constexpr std::array<Unit, 5> kUnits{{{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  for (const auto& unit : kUnits) {
    if (text.size() <= unit.suffix.size() || !text.ends_with(unit.suffix)) continue;
    std::string_view digits = text.substr(0, text.size() - unit.suffix.size());
    long long count = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    if (ec != std::errc{} || end != digits.data() + digits.size() || count <= 0) return std::nullopt;
    if (count > (1LL << 40) / unit.millis) return std::nullopt;  // keeps sums of durations far from overflow
    return Duration{count * unit.millis};
  }
  return std::nullopt;
}

std::string format_duration(Duration d) {
  long long ms = d.count();
  for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
    if (ms != 0 && ms % it->millis == 0) return std::to_string(ms / it->millis) + std::string(it->suffix);
  }
  return std::to_string(ms) + "ms";
}

}  // namespace letterd
