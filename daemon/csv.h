// CSV read a record at a time (RFC 4180: quoted fields may hold commas,
// doubled quotes and line breaks), from any source of bytes, holding one
// record in memory: a file of a gigabyte is read in constant memory. The
// source is a function, so tests feed it text in pieces of any size.
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace letterd {

// A record the reader cannot take: a quote never closed, a record too long.
// `line` is where the record starts, from 1.
struct CsvError : std::runtime_error {
  CsvError(long long line, const std::string& what) : std::runtime_error(what), line(line) {}
  long long line;
};

class CsvReader {
 public:
  // Fills up to `size` bytes of `buffer`; returns how many, 0 at the end.
  // Throws to stop the reading (a read error).
  using Source = std::function<std::size_t(char* buffer, std::size_t size)>;

  static constexpr std::size_t kDefaultMaxRecord = 1 << 20;

  // A UTF-8 byte-order mark at the start is skipped; CR LF and LF both end a
  // record; blank lines are no records. A quote inside an unquoted field,
  // or after a closing quote, is kept as a character, as Python's csv does.
  explicit CsvReader(Source source, std::size_t max_record = kDefaultMaxRecord);

  // Reads the next record: false at the end of the input. Its fields stay
  // valid until the next call. Throws CsvError.
  bool next();

  std::size_t size() const { return ends_.size(); }
  std::string_view field(std::size_t i) const;
  // The line the current record starts on, from 1.
  long long line() const { return record_line_; }
  // Bytes taken from the source so far.
  long long bytes_read() const { return bytes_read_; }

 private:
  enum class State { field_start, unquoted, quoted, quote_in_quoted };

  bool fill();
  void end_field();
  bool end_record();  // true when the record is not a blank line
  void append(char c);
  void check_length() const;

  Source source_;
  std::size_t max_record_;
  std::vector<char> buffer_;
  std::size_t pos_ = 0, len_ = 0;
  bool at_end_ = false, started_ = false;
  long long bytes_read_ = 0;

  State state_ = State::field_start;
  std::string text_;               // the record's fields, end to end
  std::vector<std::size_t> ends_;  // where each field ends in text_
  long long line_ = 1, record_line_ = 1;
};

}  // namespace letterd
