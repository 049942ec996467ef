// UK postcodes: what counts as one, and the one form letterd compares and
// keeps them in. Pure: text in, text out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace letterd {

// Longest text taken as a postcode at all: "AA9A 9AA" with room for stray
// spaces. Anything longer is not a postcode, whatever it holds.
inline constexpr std::size_t kMaxPostcodeText = 32;

// Upper case, spaces removed (ASCII space, tab, and the no-break space a
// copy from a web page brings): "sw1a 1aa" -> "SW1A1AA". nullopt when
// anything else is left but ASCII letters and digits, or the text is longer
// than kMaxPostcodeText. Says nothing of validity.
std::optional<std::string> compact_postcode(std::string_view text);

// Whether a compact form (see compact_postcode) is a UK postcode, as
// mySociety's MapIt decides it, its special postcodes included.
bool is_valid_compact_postcode(std::string_view compact);

// The canonical form of `text`: compact, then one space before the last
// three characters ("sw1a1aa" -> "SW1A 1AA"). nullopt when it is not a UK postcode.
std::optional<std::string> canonical_postcode(std::string_view text);

// A compact form with its space put back: "SW1A1AA" -> "SW1A 1AA".
std::string spaced_postcode(std::string_view compact);

// Where a postcode is.
struct PostcodePlace {
  std::string constituency_code;  // GSS: E14001172
  std::optional<int> terminated;  // YYYYMM; nullopt while the postcode is live
};

// What a postcode a person typed gives: its canonical form and place, or the
// problem in the words SPEC gives them ("not a UK postcode", "not in the
// postcode lookup", "terminated in YYYY-MM"). A terminated postcode keeps
// its place, for whoever wants to show it.
struct PostcodeAnswer {
  std::optional<std::string> canonical;
  std::optional<PostcodePlace> place;
  std::string problem;  // empty when the postcode is live and in the lookup
};

}  // namespace letterd
