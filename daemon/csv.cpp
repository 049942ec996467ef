#include "csv.h"

namespace letterd {

CsvReader::CsvReader(Source source, std::size_t max_record)
    : source_(std::move(source)), max_record_(max_record), buffer_(1 << 16) {}

std::string_view CsvReader::field(std::size_t i) const {
  const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
  return std::string_view(text_).substr(begin, ends_[i] - begin);
}

bool CsvReader::fill() {
  if (at_end_) return false;
  len_ = source_(buffer_.data(), buffer_.size());
  pos_ = 0;
  if (!started_) {
    // Spreadsheets save CSV with a byte-order mark: it is not part of the
    // first name. A source may hand out fewer than its three bytes at first.
    started_ = true;
    while (len_ > 0 && len_ < 3) {
      const std::size_t more = source_(buffer_.data() + len_, 3 - len_);
      if (more == 0) break;
      len_ += more;
    }
    if (len_ >= 3 && std::string_view(buffer_.data(), 3) == "\xEF\xBB\xBF") pos_ = 3;
  }
  bytes_read_ += static_cast<long long>(len_);
  if (len_ == 0) at_end_ = true;
  return pos_ < len_ || (len_ > 0 && fill());
}

// A separator counts as a byte: a line of a million commas is as long as it looks.
void CsvReader::check_length() const {
  if (text_.size() + ends_.size() >= max_record_)
    throw CsvError(record_line_, "a record longer than " + std::to_string(max_record_) + " bytes");
}

void CsvReader::append(char c) {
  check_length();
  text_ += c;
}

void CsvReader::end_field() {
  check_length();
  ends_.push_back(text_.size());
  state_ = State::field_start;
}

bool CsvReader::end_record() {
  end_field();
  return ends_.size() > 1 || ends_[0] > 0;
}

bool CsvReader::next() {
  text_.clear();
  ends_.clear();
  state_ = State::field_start;
  record_line_ = line_;
  bool any = false;  // a character of this record seen, a blank line's excepted
  while (pos_ < len_ || fill()) {
    const char c = buffer_[pos_++];
    if (c == '\n') ++line_;
    switch (state_) {
      case State::quoted:
        if (c == '"')
          state_ = State::quote_in_quoted;
        else
          append(c);
        continue;
      case State::quote_in_quoted:
        if (c == '"') {
          append('"');
          state_ = State::quoted;
          continue;
        }
        state_ = State::unquoted;  // the closing quote; what follows is the field's and ends as unquoted
        break;
      case State::field_start:
        if (c == '"') {
          state_ = State::quoted;
          any = true;
          continue;
        }
        state_ = State::unquoted;
        break;
      case State::unquoted:
        break;
    }
    // Unquoted: a separator, a line end, or a character of the field.
    if (c == ',') {
      end_field();
      any = true;
    } else if (c == '\n') {
      if (end_record() || any) return true;
      ends_.clear();
      record_line_ = line_;
    } else if (c != '\r') {
      append(c);
      any = true;
    }
  }
  if (state_ == State::quoted) throw CsvError(record_line_, "a quoted field is never closed");
  if (!any) return false;
  end_record();
  return true;
}

}  // namespace letterd
