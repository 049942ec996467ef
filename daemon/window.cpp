#include "window.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace letterd {

namespace {

constexpr std::array<std::string_view, 7> kDayNames{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
// How far ahead a window is looked for: a year of holidays and a week.
constexpr int kDaysAhead = 366 + 7;

std::optional<int> day_index(std::string_view name) {
  for (std::size_t i = 0; i < kDayNames.size(); ++i)
    if (name == kDayNames[i]) return static_cast<int>(i);
  return std::nullopt;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<int> number(std::string_view text) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "HH:MM" or "HH:MM:SS".
std::optional<TimeOfDay> time_of_day(std::string_view text) {
  if ((text.size() != 5 && text.size() != 8) || text[2] != ':' || (text.size() == 8 && text[5] != ':'))
    return std::nullopt;
  auto h = number(text.substr(0, 2));
  auto m = number(text.substr(3, 2));
  auto s = text.size() == 8 ? number(text.substr(6, 2)) : std::optional<int>(0);
  if (!h || !m || !s || *m > 59 || *s > 59 || *h > 24 || (*h == 24 && (*m != 0 || *s != 0))) return std::nullopt;
  return TimeOfDay(*h * 3600 + *m * 60 + *s);
}

// Days since 1970-01-01 of a valid date, else nullopt.
std::optional<int> day_number(int y, int m, int d) {
  date::year_month_day ymd{date::year(y), date::month(static_cast<unsigned>(m)), date::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<int>(date::sys_days(ymd).time_since_epoch().count());
}

// "20261225" or "2026-12-25".
std::optional<int> parse_date(std::string_view text) {
  if (text.size() == 8) {
    auto y = number(text.substr(0, 4)), m = number(text.substr(4, 2)), d = number(text.substr(6, 2));
    if (y && m && d) return day_number(*y, *m, *d);
  } else if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    auto y = number(text.substr(0, 4)), m = number(text.substr(5, 2)), d = number(text.substr(8, 2));
    if (y && m && d) return day_number(*y, *m, *d);
  }
  return std::nullopt;
}

using LocalTime = date::local_time<std::chrono::milliseconds>;

TimePoint to_utc(const date::time_zone& zone, date::local_days day, TimeOfDay at) {
  // A time skipped when the clocks go forward is the moment they jump; a
  // time that comes twice when they go back is its first.
  auto sys = zone.to_sys(LocalTime(day) + at, date::choose::earliest);
  return std::chrono::time_point_cast<std::chrono::milliseconds>(TimePoint(sys.time_since_epoch()));
}

}  // namespace

std::optional<TimePoint> SendingWindow::next_opening(TimePoint t) const {
  if (!zone) throw std::logic_error("a sending window without its time zone");
  auto local = zone->to_local(date::sys_time<std::chrono::milliseconds>(t.time_since_epoch()));
  date::local_days day = date::floor<date::days>(local);
  for (int ahead = 0; ahead < kDaysAhead; ++ahead, day += date::days(1)) {
    unsigned weekday = date::weekday(day).iso_encoding() - 1;  // Monday 0
    if (!days[weekday] || holidays.count(static_cast<int>(day.time_since_epoch().count()))) continue;
    TimePoint open = to_utc(*zone, day, opens);
    TimePoint close = to_utc(*zone, day, closes);
    if (t < close) return std::max(t, open);
  }
  return std::nullopt;
}

TimePoint SendingWindow::closing(TimePoint t) const {
  auto local = zone->to_local(date::sys_time<std::chrono::milliseconds>(t.time_since_epoch()));
  date::local_days day = date::floor<date::days>(local);
  return to_utc(*zone, day, closes);
}

std::optional<std::array<bool, 7>> parse_days(std::string_view text) {
  std::array<bool, 7> days{};
  bool any = false;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view part = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    auto dash = part.find('-');
    auto first = day_index(trim(part.substr(0, dash)));
    auto last = dash == std::string_view::npos ? first : day_index(trim(part.substr(dash + 1)));
    if (!first || !last || *last < *first) return std::nullopt;
    for (int d = *first; d <= *last; ++d) days[d] = true;
    any = true;
  }
  if (!any) return std::nullopt;
  return days;
}

std::optional<std::pair<TimeOfDay, TimeOfDay>> parse_hours(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto opens = time_of_day(trim(text.substr(0, dash)));
  auto closes = time_of_day(trim(text.substr(dash + 1)));
  if (!opens || !closes || *opens >= *closes) return std::nullopt;
  return std::pair{*opens, *closes};
}

const date::time_zone* find_zone(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::optional<std::set<int>> parse_holidays(std::string_view text, std::string& error) {
  std::set<int> out;
  const bool calendar = trim(text.substr(0, text.find('\n'))) == "BEGIN:VCALENDAR";
  int line_number = 0;
  while (!text.empty()) {
    auto newline = text.find('\n');
    std::string_view line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    if (calendar) {
      // DTSTART;VALUE=DATE:20261225 (or DTSTART:20261225): a whole-day event's date.
      if (!line.starts_with("DTSTART")) continue;
      auto colon = line.rfind(':');
      std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
      if (value.size() > 8 && value[8] == 'T') value = value.substr(0, 8);  // a timed event: its date
      auto day = parse_date(value);
      if (!day) {
        error = "line " + std::to_string(line_number) + ": DTSTART is not a date (YYYYMMDD)";
        return std::nullopt;
      }
      out.insert(*day);
      continue;
    }
    if (line.empty() || line.front() == '#') continue;
    auto day = parse_date(line);
    if (!day) {
      error = "line " + std::to_string(line_number) + ": not a date (YYYY-MM-DD)";
      return std::nullopt;
    }
    out.insert(*day);
  }
  return out;
}

}  // namespace letterd
