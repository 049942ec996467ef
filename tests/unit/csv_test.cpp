// The streaming CSV reader, fed from memory in pieces of every size: a
// record split across two reads must come out as one.
#include "csv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace letterd {
namespace {

using Records = std::vector<std::vector<std::string>>;

// A source handing out `text` at most `piece` bytes a call.
CsvReader::Source from(std::string text, std::size_t piece) {
  return [text = std::move(text), piece, at = std::size_t{0}](char* buffer, std::size_t size) mutable {
    const std::size_t n = std::min({piece, size, text.size() - at});
    std::memcpy(buffer, text.data() + at, n);
    at += n;
    return n;
  };
}

Records read_all(const std::string& text, std::size_t piece = 1 << 16, std::vector<long long>* lines = nullptr) {
  CsvReader reader(from(text, piece));
  Records out;
  while (reader.next()) {
    std::vector<std::string> record;
    for (std::size_t i = 0; i < reader.size(); ++i) record.emplace_back(reader.field(i));
    out.push_back(std::move(record));
    if (lines) lines->push_back(reader.line());
  }
  return out;
}

// The same records whatever size the reads come in.
Records read_in_every_piece_size(const std::string& text) {
  const Records whole = read_all(text);
  for (std::size_t piece : {1, 2, 3, 5, 7, 64}) EXPECT_EQ(read_all(text, piece), whole) << "pieces of " << piece;
  return whole;
}

TEST(Csv, PlainRecords) {
  EXPECT_EQ(read_in_every_piece_size("a,b,c\n1,2,3\n"), (Records{{"a", "b", "c"}, {"1", "2", "3"}}));
}

TEST(Csv, QuotedFieldsHoldSeparatorsQuotesAndLineBreaks) {
  EXPECT_EQ(read_in_every_piece_size("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"),
            (Records{{"a,b", "say \"hi\"", "two\nlines"}}));
}

TEST(Csv, OnspdQuotesEveryField) {
  EXPECT_EQ(read_in_every_piece_size("\"pcd\",\"pcds\",\"doterm\"\r\n\"SW1A1AA\",\"SW1A 1AA\",\"\"\r\n"),
            (Records{{"pcd", "pcds", "doterm"}, {"SW1A1AA", "SW1A 1AA", ""}}));
}

TEST(Csv, CrLfAndLfBothEndARecordAndTheLastNeedsNoLineEnd) {
  EXPECT_EQ(read_in_every_piece_size("a,b\r\nc,d\ne,f"), (Records{{"a", "b"}, {"c", "d"}, {"e", "f"}}));
}

TEST(Csv, EmptyFieldsAreKept) {
  EXPECT_EQ(read_in_every_piece_size(",\n,,x\n\"\"\n"), (Records{{"", ""}, {"", "", "x"}, {""}}));
}

TEST(Csv, BlankLinesAreNoRecords) {
  EXPECT_EQ(read_in_every_piece_size("\na\n\r\n\nb\n\n"), (Records{{"a"}, {"b"}}));
  EXPECT_EQ(read_in_every_piece_size(""), Records{});
  EXPECT_EQ(read_in_every_piece_size("\n\n"), Records{});
}

TEST(Csv, AByteOrderMarkIsNotPartOfTheFirstName) {
  EXPECT_EQ(read_in_every_piece_size("\xEF\xBB\xBFpcds,pcon\n"), (Records{{"pcds", "pcon"}}));
  // Only at the start of the input.
  EXPECT_EQ(read_all("a\n\xEF\xBB\xBF"
                     "b\n"),
            (Records{{"a"},
                     {"\xEF\xBB\xBF"
                      "b"}}));
}

// As Python's csv module reads them, rather than refusing a whole file over one stray quote.
TEST(Csv, StrayQuotesAreKeptAsCharacters) {
  EXPECT_EQ(read_in_every_piece_size("ab\"c,\"x\"y\n"), (Records{{"ab\"c", "xy"}}));
}

TEST(Csv, EachRecordKnowsTheLineItStartsOn) {
  std::vector<long long> lines;
  read_all("h1,h2\n\"a\nb\",c\n\nd,e\n", 3, &lines);
  EXPECT_EQ(lines, (std::vector<long long>{1, 2, 5}));
}

TEST(Csv, AQuoteNeverClosedIsAnErrorAtItsRecordsLine) {
  try {
    read_all("a,b\nc,\"never\nclosed\n", 4);
    FAIL() << "no error";
  } catch (const CsvError& e) {
    EXPECT_EQ(e.line, 2);
    EXPECT_STREQ(e.what(), "a quoted field is never closed");
  }
}

// One record is all the reader holds: a file without line ends, or a quote
// left open at its start, must not take the machine's memory.
TEST(Csv, ARecordLongerThanTheLimitIsAnError) {
  auto read_with_limit = [](const std::string& text) {
    CsvReader reader(from(text, 7), 64);
    while (reader.next()) {
    }
  };
  EXPECT_NO_THROW(read_with_limit(std::string(60, 'x') + "\n" + std::string(60, 'y')));
  EXPECT_THROW(read_with_limit(std::string(65, 'x')), CsvError);
  EXPECT_THROW(read_with_limit("\"" + std::string(100, 'x')), CsvError);
  EXPECT_THROW(read_with_limit(std::string(100, ',')), CsvError);
}

TEST(Csv, BytesReadCountsWhatTheSourceGave) {
  CsvReader reader(from("a,b\nc,d\n", 3));
  while (reader.next()) {
  }
  EXPECT_EQ(reader.bytes_read(), 8);
}

}  // namespace
}  // namespace letterd
