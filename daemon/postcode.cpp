// Validity follows mySociety's: MapIt's mapit_gb/countries.py
// (is_valid_postcode, SPECIAL_POSTCODES) over its ukpostcodeutils
// validation.py, the newer of its two lineages. The older Perl
// mySociety::PostcodeUtil differs in three letters and one digit: it lets a
// J second ("AJ1 1AA"), a 0 as a one-letter area's district ("A0 1AA") and
// refuses a P after a one-letter area's digit ("W1P 1AA"); MapIt's answer is
// the one taken here. The rules are BS 7666's, as the Government Data
// Standards Catalogue gave them: which letters each position of the outward
// code may hold, and an inward code of a digit and two letters that never
// include C, I, K, M, O or V (they read as other letters or digits when
// handwritten). Hand-written rather than std::regex: an import validates
// millions of them.
#include "postcode.h"

#include <algorithm>
#include <array>

namespace letterd {

namespace {

constexpr std::string_view kFirst = "ABCDEFGHIJKLMNOPRSTUWYZ";    // no Q, V, X
constexpr std::string_view kSecond = "ABCDEFGHKLMNOPQRSTUVWXY";   // no I, J, Z
constexpr std::string_view kThirdAfterDigit = "ABCDEFGHJKPSTUW";  // A9A: W1A, E1W
constexpr std::string_view kFourth = "ABEHMNPRVWXY";              // AA9A: SW1A, EC1V
constexpr std::string_view kInward = "ABDEFGHJLNPQRSTUWXYZ";
constexpr std::string_view kDigit = "0123456789";
constexpr std::string_view kNonZero = "123456789";

// The six shapes of an outward code, each position's allowed characters.
constexpr std::array<std::array<std::string_view, 4>, 6> kOutwardShapes{{
    {kFirst, kNonZero},                    // A9     M1
    {kFirst, kNonZero, kDigit},            // A99    B33
    {kFirst, kSecond, kDigit},             // AA9    CR2, BL0
    {kFirst, kSecond, kNonZero, kDigit},   // AA99   DN55
    {kFirst, kNonZero, kThirdAfterDigit},  // A9A    W1A
    {kFirst, kSecond, kNonZero, kFourth},  // AA9A   EC1A
}};

// Postcodes outside the pattern that MapIt accepts: the British Overseas
// Territories' single postcodes, Girobank's (both spellings in use),
// Royal Mail's for letters to Santa, and mySociety's own test postcodes.
constexpr std::array<std::string_view, 15> kSpecial{
    "ASCN1ZZ",  // Ascension Island
    "BBND1ZZ",  // British Indian Ocean Territory
    "BIQQ1ZZ",  // British Antarctic Territory
    "FIQQ1ZZ",  // Falkland Islands
    "PCRN1ZZ",  // Pitcairn Islands
    "SIQQ1ZZ",  // South Georgia and the South Sandwich Islands
    "STHL1ZZ",  // St Helena
    "TDCU1ZZ",  // Tristan da Cunha
    "TKCA1ZZ",  // Turks and Caicos Islands
    "GIR0AA",  "G1R0AA", "SANTA1", "XM45HQ", "ZZ99ZZ", "ZZ99ZY",
};

bool in(std::string_view set, char c) {
  return set.find(c) != std::string_view::npos;
}

bool matches_outward(std::string_view outward, const std::array<std::string_view, 4>& shape) {
  const auto length =
      static_cast<std::size_t>(std::count_if(shape.begin(), shape.end(), [](auto s) { return !s.empty(); }));
  if (outward.size() != length) return false;
  for (std::size_t i = 0; i < length; ++i)
    if (!in(shape[i], outward[i])) return false;
  return true;
}

}  // namespace

std::optional<std::string> compact_postcode(std::string_view text) {
  if (text.size() > kMaxPostcodeText) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t') continue;
    // U+00A0 NO-BREAK SPACE, in UTF-8.
    if (c == '\xC2' && i + 1 < text.size() && text[i + 1] == '\xA0') {
      ++i;
      continue;
    }
    if (c >= 'a' && c <= 'z')
      out += static_cast<char>(c - 'a' + 'A');
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
      out += c;
    else
      return std::nullopt;
  }
  return out;
}

bool is_valid_compact_postcode(std::string_view compact) {
  if (std::find(kSpecial.begin(), kSpecial.end(), compact) != kSpecial.end()) return true;
  if (compact.size() < 5 || compact.size() > 7) return false;
  const std::string_view inward = compact.substr(compact.size() - 3);
  if (!in(kDigit, inward[0]) || !in(kInward, inward[1]) || !in(kInward, inward[2])) return false;
  const std::string_view outward = compact.substr(0, compact.size() - 3);
  return std::any_of(kOutwardShapes.begin(), kOutwardShapes.end(),
                     [&](const auto& shape) { return matches_outward(outward, shape); });
}

std::optional<std::string> canonical_postcode(std::string_view text) {
  auto compact = compact_postcode(text);
  if (!compact || !is_valid_compact_postcode(*compact)) return std::nullopt;
  return spaced_postcode(*compact);
}

std::string spaced_postcode(std::string_view compact) {
  if (compact.size() <= 3) return std::string(compact);
  std::string out(compact.substr(0, compact.size() - 3));
  out += ' ';
  out += compact.substr(compact.size() - 3);
  return out;
}

}  // namespace letterd
