#include "postcode_import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "csv.h"
#include "postcode.h"
#include "store_postcodes.h"
#include "unique_fd.h"

namespace letterd {

namespace {

// In the order SPEC gives them: the first present wins. pcds is the
// postcode as written ("SW1A 1AA"); pcd, pcd7, pcd8 and pcd2 pad it to a
// fixed width, which canonical_postcode folds away the same.
constexpr std::array<std::string_view, 6> kPostcodeNames{"pcds", "pcd", "pcd7", "pcd8", "pcd2", "postcode"};
// pcon24cd names the 2024 boundaries (NSPL and ONSPD from 2025); pcon is
// the older releases' name for whatever boundaries were then in force.
constexpr std::array<std::string_view, 3> kConstituencyNames{"pcon24cd", "pcon", "constituency_code"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool same_name(std::string_view a, std::string_view b) {
  a = trim(a);
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x) == y;
         });
}

template <std::size_t N>
std::optional<std::size_t> first_of(const std::vector<std::string>& header,
                                    const std::array<std::string_view, N>& names) {
  for (auto name : names)
    for (std::size_t i = 0; i < header.size(); ++i)
      if (same_name(header[i], name)) return i;
  return std::nullopt;
}

template <std::size_t N>
std::string listed(const std::array<std::string_view, N>& names) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) out += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(names[i]);
  return out;
}

// YYYYMM, a plausible month: 1980 is when the directories begin.
std::optional<int> read_month(std::string_view text) {
  if (text.size() != 6 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const int value = std::stoi(std::string(text));
  const int year = value / 100, month = value % 100;
  if (year < 1900 || year > 2999 || month < 1 || month > 12) return std::nullopt;
  return value;
}

// GSS pseudo-codes (a letter, then 99999999) stand for "no such area here":
// L99999999 the Channel Islands, M99999999 the Isle of Man, E99999999 a
// postcode without a grid reference. No MP answers for any of them.
bool is_pseudo_code(std::string_view code) {
  return code.size() == 9 && code.substr(1) == "99999999";
}

}  // namespace

std::size_t PostcodeColumns::needed() const {
  return std::max({postcode, constituency, doterm.value_or(0)}) + 1;
}

std::optional<PostcodeColumns> find_postcode_columns(const std::vector<std::string>& header, Problems& problems) {
  auto postcode = first_of(header, kPostcodeNames);
  auto constituency = first_of(header, kConstituencyNames);
  if (!postcode) problems.push_back({"", "no postcode column (" + listed(kPostcodeNames) + ")"});
  if (!constituency) problems.push_back({"", "no constituency column (" + listed(kConstituencyNames) + ")"});
  if (!postcode || !constituency) return std::nullopt;
  PostcodeColumns columns{.postcode = *postcode,
                          .constituency = *constituency,
                          .doterm = first_of(header, std::array<std::string_view, 1>{"doterm"}),
                          .postcode_name = std::string(trim(header[*postcode])),
                          .constituency_name = std::string(trim(header[*constituency]))};
  return columns;
}

std::string_view describe(SkipReason reason) {
  switch (reason) {
    case SkipReason::no_postcode:
      return "no postcode";
    case SkipReason::not_a_postcode:
      return "not a UK postcode";
    case SkipReason::no_constituency:
      return "no constituency code";
    case SkipReason::pseudo_constituency:
      return "a pseudo-code for no constituency (such as L99999999 or M99999999)";
    case SkipReason::bad_constituency:
      return "a constituency code that is not letters and digits (at most 16)";
    case SkipReason::bad_doterm:
      return "a doterm that is neither empty nor YYYYMM";
    case SkipReason::too_few_fields:
      return "fewer fields than the columns it needs";
    case SkipReason::duplicate:
      return "a postcode given on an earlier row (a live row replaces a terminated one)";
  }
  return "unknown";
}

std::variant<PostcodeEntry, SkipReason> read_postcode_fields(std::string_view postcode, std::string_view constituency,
                                                             std::string_view doterm) {
  postcode = trim(postcode);
  constituency = trim(constituency);
  doterm = trim(doterm);
  if (postcode.empty()) return SkipReason::no_postcode;
  auto compact = compact_postcode(postcode);
  if (!compact || !is_valid_compact_postcode(*compact)) return SkipReason::not_a_postcode;
  if (constituency.empty()) return SkipReason::no_constituency;
  if (constituency.size() > 16 || !std::all_of(constituency.begin(), constituency.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      }))
    return SkipReason::bad_constituency;
  PostcodeEntry entry{.postcode = std::move(*compact), .constituency = std::string(constituency)};
  for (char& c : entry.constituency)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (is_pseudo_code(entry.constituency)) return SkipReason::pseudo_constituency;
  if (!doterm.empty()) {
    entry.terminated = read_month(doterm);
    if (!entry.terminated) return SkipReason::bad_doterm;
  }
  return entry;
}

void ImportSummary::skip(SkipReason reason, long long line) {
  ++skipped;
  Skips& s = skips[static_cast<std::size_t>(reason)];
  ++s.count;
  if (s.first_lines.size() < kLinesKept) s.first_lines.push_back(line);
}

namespace {

// The CSV's bytes, read as they are needed.
CsvReader::Source file_source(int fd, const std::string& path) {
  return [fd, path](char* buffer, std::size_t size) -> std::size_t {
    for (;;) {
      const ssize_t n = ::read(fd, buffer, size);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) throw PostcodeImportError("cannot read " + path + ": " + std::strerror(errno), false);
    }
  };
}

PostcodeColumns read_header(CsvReader& reader, const std::string& path) {
  if (!reader.next()) throw PostcodeImportError(path + " is empty: a postcode CSV starts with a header row", true);
  std::vector<std::string> header;
  for (std::size_t i = 0; i < reader.size(); ++i) header.emplace_back(reader.field(i));
  Problems missing;
  auto columns = find_postcode_columns(header, missing);
  if (!columns) {
    std::string what = path + ":" + std::to_string(reader.line()) + ":";
    for (std::size_t i = 0; i < missing.size(); ++i) what += (i ? ";" : "") + std::string(" ") + missing[i].what;
    throw PostcodeImportError(what, true);
  }
  return *columns;
}

// Every data row into `builder`, counted into `summary`.
void read_rows(CsvReader& reader, PostcodeLookupBuilder& builder, ImportSummary& summary,
               const ImportProgress& progress, const std::string& path) {
  const PostcodeColumns& c = summary.columns;
  const std::size_t needed = c.needed();
  while (reader.next()) {
    ++summary.rows;
    if (summary.rows % 16384 == 0 && progress && !progress(summary.rows, reader.bytes_read()))
      throw PostcodeImportError("interrupted: " + path + " was not imported", false);
    if (reader.size() < needed) {
      summary.skip(SkipReason::too_few_fields, reader.line());
      continue;
    }
    auto row = read_postcode_fields(reader.field(c.postcode), reader.field(c.constituency),
                                    c.doterm ? reader.field(*c.doterm) : std::string_view());
    if (auto* reason = std::get_if<SkipReason>(&row)) {
      summary.skip(*reason, reader.line());
      continue;
    }
    const auto& entry = std::get<PostcodeEntry>(row);
    if (!builder.add(entry.postcode, entry.constituency, entry.terminated))
      summary.skip(SkipReason::duplicate, reader.line());
  }
  if (progress) progress(summary.rows, reader.bytes_read());
}

}  // namespace

ImportSummary import_postcodes(const std::string& csv_path, const std::string& lookup_path,
                               const ImportProgress& progress) {
  UniqueFd fd(::open(csv_path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0)
    throw PostcodeImportError("cannot read " + csv_path + ": " + std::strerror(errno), false);
  if (S_ISDIR(st.st_mode)) throw PostcodeImportError("cannot read " + csv_path + ": it is a directory", false);
  CsvReader reader(file_source(fd.get(), csv_path));
  ImportSummary summary;
  try {
    summary.columns = read_header(reader, csv_path);
    PostcodeLookupBuilder builder(lookup_path);
    read_rows(reader, builder, summary, progress, csv_path);
    const auto counts = builder.counts();
    summary.live = counts.live;
    summary.terminated = counts.terminated;
    summary.constituencies = counts.constituencies;
    if (summary.live + summary.terminated == 0)
      throw PostcodeImportError("no row of " + csv_path + " gave a postcode: " + lookup_path + " is left as it was",
                                false);
    builder.commit(std::filesystem::path(csv_path).filename().string());
  } catch (const CsvError& e) {
    throw PostcodeImportError(csv_path + ":" + std::to_string(e.line) + ": " + e.what(), false);
  } catch (const PostcodeImportError&) {
    throw;
  } catch (const std::exception& e) {
    throw PostcodeImportError(e.what(), false);
  }
  return summary;
}

}  // namespace letterd
