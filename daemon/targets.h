// The people a campaign writes to: MPs, ministers. Recipients come only from
// here; a submission can name a target, never an address.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "problem.h"

namespace letterd {

// Every column of a target's row: at least id, name and email.
using TargetRow = std::map<std::string, std::string, std::less<>>;

struct Target {
  TargetRow columns;
  // Names this row as it is, every column: a letter rendered for it keeps
  // it, and a letter whose row's fingerprint is no longer its target's
  // current one is rendered again (SPEC "Targets that change").
  std::string fingerprint;

  const std::string& id() const { return columns.at("id"); }
  const std::string& name() const { return columns.at("name"); }
  const std::string& email() const { return columns.at("email"); }
};

class Targets {
 public:
  // A CSV file with a header row (RFC 4180 quoting). Problems name the file and line.
  static std::optional<Targets> parse_csv(std::string_view text, const std::string& file, Problems& problems);
  // A YAML list of maps, each a target's columns.
  static std::optional<Targets> parse_yaml(std::string_view text, const std::string& file, Problems& problems);

  const Target* by_id(std::string_view id) const;
  // The one target whose constituency matches, compared case-insensitively
  // with runs of spaces folded; nullptr when none does.
  const Target* by_constituency(std::string_view constituency) const;
  // The one target whose constituency_code column (GSS: E14001172) is `code`.
  const Target* by_constituency_code(std::string_view code) const;

  // The columns every target has: the names a template may use as target.*.
  const std::set<std::string, std::less<>>& columns() const { return columns_; }
  std::size_t size() const { return targets_.size(); }
  // Every target's id, in the file's order.
  std::vector<std::string> ids() const;

 private:
  static std::optional<Targets> from_rows(std::vector<std::pair<int, Target>> rows, const std::string& file,
                                          Problems& problems);

  std::vector<Target> targets_;
  std::map<std::string, std::size_t, std::less<>> by_id_;
  std::map<std::string, std::size_t, std::less<>> by_constituency_;
  std::map<std::string, std::size_t, std::less<>> by_constituency_code_;
  std::set<std::string, std::less<>> columns_;
};

// The first 64 bits of SHA-256 over the row's columns, in hex.
std::string row_fingerprint(const TargetRow& row);

// Whether the row's status column says the seat is vacant: its letters wait.
bool is_vacant(const TargetRow& row);

// Lower-case ASCII letters, trim, and collapse every run of white space to one space.
std::string fold_constituency(std::string_view name);

}  // namespace letterd
