// What letterd reads in an IMAP server's answers: the mailbox's
// UIDVALIDITY and UIDNEXT, the UIDs a search found above the last read,
// the windows of UIDs it searches, the mailbox a URL names. The exchange itself is tested against Dovecot.
#include "imap.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

TEST(Imap, TheMailboxsUidValidityIsReadFromExamine) {
  std::string answer =
      "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* 17 EXISTS\r\n* 2 RECENT\r\n"
      "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n* OK [UIDNEXT 4392] Predicted next UID\r\n";
  EXPECT_EQ(parse_uidvalidity(answer), 3857529045LL);
  EXPECT_EQ(parse_uidvalidity("* 0 EXISTS\r\n"), std::nullopt);
  EXPECT_EQ(parse_uidvalidity("* OK [UIDVALIDITY ] x"), std::nullopt);
  EXPECT_EQ(parse_uidnext(answer), 4392);
  EXPECT_EQ(parse_uidnext("* 0 EXISTS\r\n"), std::nullopt);
}

TEST(Imap, EachSearchAsksForAWindowWhoseAnswerLibcurlKeepsWhole) {
  // The longest answer a window can bring: every UID in it, ten digits each.
  std::string longest = "* SEARCH";
  for (long long uid = 4'294'967'295LL - kSearchWindow + 1; uid <= 4'294'967'295LL; ++uid)
    longest += " " + std::to_string(uid);
  EXPECT_LT(longest.size() + 2, 16384 / 2) << "libcurl clips a line over half its 16 KiB buffer";

  EXPECT_EQ(search_window(0, 1), std::nullopt) << "an empty mailbox: nothing to search";
  EXPECT_EQ(search_window(0, 2), (std::pair<long long, long long>{1, 1}));
  EXPECT_EQ(search_window(0, 10001), (std::pair<long long, long long>{1, kSearchWindow}));
  EXPECT_EQ(search_window(kSearchWindow, 10001),
            (std::pair<long long, long long>{kSearchWindow + 1, 2 * kSearchWindow}));
  EXPECT_EQ(search_window(9990, 10001), (std::pair<long long, long long>{9991, 10000}));
  EXPECT_EQ(search_window(10000, 10001), std::nullopt) << "all read";
  EXPECT_EQ(search_window(12000, 10001), std::nullopt);
}

TEST(Imap, ASearchGivesTheUidsAboveTheLastReadInOrder) {
  EXPECT_EQ(parse_search("* SEARCH 9 4 7\r\n", 0), (std::vector<long long>{4, 7, 9}));
  // "UID n:*" always answers the highest UID, even when it is not above n.
  EXPECT_EQ(parse_search("* SEARCH 12\r\n", 12), (std::vector<long long>{}));
  EXPECT_EQ(parse_search("* SEARCH 12 13 13\r\n", 12), (std::vector<long long>{13}));
  EXPECT_EQ(parse_search("* SEARCH\r\n", 0), (std::vector<long long>{}));
  EXPECT_EQ(parse_search("", 0), (std::vector<long long>{}));
}

TEST(Imap, TheUrlNamesTheMailbox) {
  EXPECT_EQ(mailbox_of("imaps://imap.example.org/INBOX"), "INBOX");
  EXPECT_EQ(mailbox_of("imaps://imap.example.org:993/Bounces"), "Bounces");
  EXPECT_EQ(mailbox_of("imaps://imap.example.org"), "INBOX");
}

}  // namespace
}  // namespace letterd
