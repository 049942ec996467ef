#include "logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <sstream>
#include <string>

namespace letterd {
namespace {

TEST(EscapeForLog, ControlCharactersAreWrittenOut) {
  EXPECT_EQ(escape_for_log("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(escape_for_log(std::string("nul\0esc\x1b[31mdel\x7f", 16)), "nul\\x00esc\\x1b[31mdel\\x7f");
  EXPECT_EQ(escape_for_log("next line \xC2\x85 csi \xC2\x9B"), "next line \\u0085 csi \\u009b");
}

TEST(EscapeForLog, InvisibleUnicodeAndBytesThatAreNotUtf8AreWrittenOut) {
  EXPECT_EQ(escape_for_log("line\xE2\x80\xA8sep"), "line\\u2028sep");
  EXPECT_EQ(escape_for_log("evil\xE2\x80\xAEtxt.json"), "evil\\u202etxt.json");
  EXPECT_EQ(escape_for_log("zero\xE2\x80\x8Bwidth"), "zero\\u200bwidth");
  EXPECT_EQ(escape_for_log("raw \x9B byte \xFF"), "raw \\x9b byte \\xff");
}

TEST(EscapeForLog, PrintableTextIsUnchanged) {
  const std::string text = "rejected web-1.json: 2 problem(s), Zoë Brontë-O'Neill, 250 2.0.0 Ok: queued as 4Xb \\n";
  EXPECT_EQ(escape_for_log(text), text);
}

// What reaches the log: one line per message, whatever a file name or a
// relay's reply holds, with the journal's format and the plain one.
TEST(Logger, EveryMessageIsOneLineWithItsControlCharactersEscaped) {
  for (bool journal : {false, true}) {
    std::ostringstream out;
    auto log = make_logger(std::make_shared<spdlog::sinks::ostream_sink_mt>(out), journal);
    log->warn("rejected {}: 1 problem(s)", "x.json\n2026-11-24T10:00:00.000 info accepted y.json\x1b[2K");
    log->info("relay said {}", "250 ok\rforged");
    const std::string text = out.str();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
    EXPECT_EQ(text.find('\r'), std::string::npos) << text;
    EXPECT_NE(text.find("rejected x.json\\n2026-11-24T10:00:00.000 info accepted y.json\\x1b[2K: 1 problem(s)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("relay said 250 ok\\rforged"), std::string::npos) << text;
    if (journal) {
      EXPECT_TRUE(text.starts_with("<4>rejected")) << text;
    }
  }
}

}  // namespace
}  // namespace letterd
