// `letterd postcodes import FILE`: the postcode lookup built from an ONS
// Postcode Directory (ONSPD), a National Statistics Postcode Lookup (NSPL)
// or any CSV with a header. The header and each row are read by pure
// functions; import_postcodes streams the file through them into a new
// lookup that replaces the old one whole (store_postcodes.h).
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "problem.h"

namespace letterd {

// Where a CSV's header puts what the lookup needs.
struct PostcodeColumns {
  std::size_t postcode = 0, constituency = 0;
  std::optional<std::size_t> doterm;
  std::string postcode_name, constituency_name;  // as the header spells them

  // The number of fields a row needs to hold every one of them.
  std::size_t needed() const;
};

// The columns of a header, found by name, case-insensitively, each the
// first present of its candidates: the postcode from pcds, pcd, pcd7, pcd8,
// pcd2, postcode; the constituency code from pcon24cd, pcon,
// constituency_code; doterm when present. nullopt, with a problem for each
// column missing, when there is no postcode or constituency column.
std::optional<PostcodeColumns> find_postcode_columns(const std::vector<std::string>& header, Problems& problems);

// Why a row gives no postcode to the lookup.
enum class SkipReason {
  no_postcode,          // its postcode field is empty
  not_a_postcode,       // not a UK postcode (postcode.h)
  no_constituency,      // its constituency field is empty
  pseudo_constituency,  // a GSS pseudo-code (L99999999, M99999999): no constituency
  bad_constituency,     // not a code: letters and digits, at most 16
  bad_doterm,           // doterm neither empty nor YYYYMM
  too_few_fields,       // the row ends before one of the columns
  duplicate,            // its postcode was on an earlier row
};
inline constexpr std::size_t kSkipReasons = 8;

// The reason in words, for the summary: "not a UK postcode".
std::string_view describe(SkipReason reason);

// One row's entry in the lookup.
struct PostcodeEntry {
  std::string postcode;           // compact: SW1A1AA
  std::string constituency;       // GSS code, upper case: E14001172
  std::optional<int> terminated;  // YYYYMM; nullopt while live
};

// The entry a row's three fields give, or why they give none. `doterm` is
// empty for a live postcode and when the file has no doterm column.
std::variant<PostcodeEntry, SkipReason> read_postcode_fields(std::string_view postcode, std::string_view constituency,
                                                             std::string_view doterm);

// What an import did, for its closing lines.
struct ImportSummary {
  PostcodeColumns columns;
  long long rows = 0;  // data rows read, the header not counted
  long long live = 0, terminated = 0, skipped = 0;
  std::size_t constituencies = 0;  // distinct constituency codes in the new lookup

  static constexpr std::size_t kLinesKept = 3;
  struct Skips {
    long long count = 0;
    std::vector<long long> first_lines;  // the first kLinesKept lines skipped for it
  };
  std::array<Skips, kSkipReasons> skips;

  void skip(SkipReason reason, long long line);
};

// An import that could not be done; the old lookup is left as it was.
// `bad_input`: the file is not a postcode CSV at all (no header, a column
// missing): the command was given the wrong file.
struct PostcodeImportError : std::runtime_error {
  PostcodeImportError(const std::string& what, bool bad_input) : std::runtime_error(what), bad_input(bad_input) {}
  bool bad_input;
};

// Called every few thousand rows with the rows and bytes read so far; false stops the import.
using ImportProgress = std::function<bool(long long rows, long long bytes)>;

// Reads the CSV at `csv_path` and replaces the lookup at `lookup_path` with
// what it holds, atomically. Throws PostcodeImportError naming the file.
ImportSummary import_postcodes(const std::string& csv_path, const std::string& lookup_path,
                               const ImportProgress& progress);

}  // namespace letterd
