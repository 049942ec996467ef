// Per-letter return paths: the address names its letter, and only an
// address letterd made (with its key) names any letter at all.
#include "return_path.h"

#include <gtest/gtest.h>

#include <vector>

namespace letterd {
namespace {

ReturnPathKey key(unsigned char fill) {
  ReturnPathKey k;
  k.bytes.fill(fill);
  return k;
}

TEST(ReturnPath, TheAddressNamesItsLetterAndTheCheckHolds) {
  std::string address = verp_address("bounces@campaign.example.org", 123456, key(7));
  EXPECT_TRUE(address.starts_with("bounces+123456-")) << address;
  EXPECT_TRUE(address.ends_with("@campaign.example.org")) << address;
  EXPECT_LE(address.find('@'), 64u) << "a local part fits RFC 5321";
  EXPECT_EQ(verp_message(address, "bounces@campaign.example.org", key(7)), 123456);
  // Some systems fold case: the token still names the letter.
  std::string upper = address;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(verp_message(upper, "bounces@campaign.example.org", key(7)), 123456);
}

TEST(ReturnPath, EachLetterAndEachKeyGiveAnotherCheck) {
  std::string one = verp_address("b@example.org", 1, key(7));
  EXPECT_NE(one.substr(one.find('-')), verp_address("b@example.org", 2, key(7)).substr(one.find('-')));
  EXPECT_NE(one, verp_address("b@example.org", 1, key(8)));
}

TEST(ReturnPath, AForgedOrGuessedAddressNamesNoLetter) {
  const std::string rp = "bounces@campaign.example.org";
  std::string real = verp_address(rp, 42, key(7));
  std::string check = real.substr(real.find('-') + 1, 16);
  for (const std::string& forged : std::vector<std::string>{
           "bounces+43-" + check + "@campaign.example.org",     // another letter, this one's check
           "bounces+42-0000000000000000@campaign.example.org",  // a guessed check
           "bounces+42-" + check.substr(0, 15) + "@campaign.example.org",
           "bounces+042-" + check + "@campaign.example.org",  // the same number written otherwise
           "bounces+42-" + check + "@other.example.org",      // another domain
           "other+42-" + check + "@campaign.example.org",     // another mailbox
           "bounces+-" + check + "@campaign.example.org",
           "bounces@campaign.example.org",
           "bounces+42@campaign.example.org",
           "",
       })
    EXPECT_EQ(verp_message(forged, rp, key(7)), std::nullopt) << forged;
  EXPECT_EQ(verp_message(real, rp, key(8)), std::nullopt) << "another letterd's key";
}

}  // namespace
}  // namespace letterd
