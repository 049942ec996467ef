// Sending windows (SPEC "Respecting the recipient's office"): the days and
// hours, in a named time zone, when an office reads its mail, less its
// holidays. The arithmetic is pure: the time zone comes from the tz
// database (Howard Hinnant's date library over the system's zoneinfo, which
// GCC 12's <chrono> lacks), the holidays from text parsed here, and the
// clock is the caller's.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "timefmt.h"

namespace date {
class time_zone;
}

namespace letterd {

using TimeOfDay = std::chrono::seconds;  // since local midnight

struct SendingWindow {
  std::array<bool, 7> days{true, true, true, true, true, true, true};  // Monday first
  TimeOfDay opens{0};
  TimeOfDay closes{24 * 3600};  // after opens; 24:00 is the end of the day
  std::string zone_name = "UTC";
  const date::time_zone* zone = nullptr;  // the tz database's entry for zone_name
  std::set<int> holidays;                 // local dates, as days since 1970-01-01
  std::string holidays_path;              // absolute, or empty; read into `holidays` with the config

  // The first moment at or after `t` inside the window: `t` when it is
  // open; nullopt when it never opens in the year and a week after `t`
  // (no day allowed, or every one a holiday).
  std::optional<TimePoint> next_opening(TimePoint t) const;
  bool open_at(TimePoint t) const { return next_opening(t) == t; }
  // When the opening that holds `t` closes; `t` must be open.
  TimePoint closing(TimePoint t) const;
  // How long the window is open on a day the clocks do not change.
  std::chrono::seconds open_length() const { return closes - opens; }
};

// "Mon-Fri", "Mon,Wed,Fri", "Sat-Sun,Wed", "Mon-Sun": the days a window
// opens, Monday first; nullopt when the text is none of these.
std::optional<std::array<bool, 7>> parse_days(std::string_view text);

// "09:00-17:30", or to the second "09:00:00-09:00:30" (24:00 may close the
// day): nullopt unless it opens before it closes.
std::optional<std::pair<TimeOfDay, TimeOfDay>> parse_hours(std::string_view text);

// The tz database's zone ("Europe/London"), or nullptr when it has none.
const date::time_zone* find_zone(const std::string& name);

// The dates of a holidays file: an iCalendar file (each VEVENT's
// DTSTART;VALUE=DATE:YYYYMMDD, as the UK government publishes its bank
// holidays) or lines of YYYY-MM-DD, blank lines and # comments allowed.
// Days since 1970-01-01. On a line it cannot read, nullopt and `error`
// names the line.
std::optional<std::set<int>> parse_holidays(std::string_view text, std::string& error);

}  // namespace letterd
