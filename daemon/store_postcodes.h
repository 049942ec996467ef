// The postcode lookup file (config key `postcodes`): a SQLite file of its
// own, apart from the delivery log, written only by `letterd postcodes
// import` and read by everyone else. Like store.h, the only place its SQL is
// written. A new lookup is built beside the old one and renamed over it, so
// a reader has the old lookup or the new, each whole, never half of one.
//
// Its tables, for organisers with sqlite3:
//   postcodes(postcode, constituency, terminated)  the postcode without its
//       space (SW1A1AA), an id in constituencies, the month it was
//       terminated as YYYYMM (NULL while live); WITHOUT ROWID: the postcode is the key
//   constituencies(id, code)                       each GSS code once: E14001172
//   lookup(postcode, constituency_code, terminated)  a view of both, the postcode spaced
//   about(key, value)                              source (the CSV's name), built_at
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postcode.h"

namespace letterd {

// An open lookup, read-only. Each find() is one prepared statement's step.
class PostcodeLookup {
 public:
  // Throws std::runtime_error naming the file when there is none, or it is
  // not a lookup letterd built.
  explicit PostcodeLookup(const std::string& path);
  ~PostcodeLookup();
  PostcodeLookup(const PostcodeLookup&) = delete;
  PostcodeLookup& operator=(const PostcodeLookup&) = delete;

  // The place of a postcode in canonical form (postcode.h), or nullopt.
  std::optional<PostcodePlace> find(std::string_view canonical);

  // Every constituency code the lookup holds, sorted.
  std::vector<std::string> constituency_codes();

  // Whether the file at the path is no longer the one open: an import has
  // replaced it, and opening the path again reads the new lookup.
  bool replaced() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

PostcodeAnswer look_up_postcode(PostcodeLookup& lookup, std::string_view text);

// "2019-06" for 201906.
std::string format_termination(int yyyymm);

// A new lookup, built in a temporary file beside `path` and renamed over it
// by commit(). Destroyed uncommitted, it removes its file and leaves `path`
// as it was.
class PostcodeLookupBuilder {
 public:
  // Throws std::runtime_error naming the file when the folder cannot take a
  // new file, or when `path` holds something other than a lookup: an import
  // never replaces a file it did not build (a delivery log named by mistake).
  explicit PostcodeLookupBuilder(const std::string& path);
  ~PostcodeLookupBuilder();
  PostcodeLookupBuilder(const PostcodeLookupBuilder&) = delete;
  PostcodeLookupBuilder& operator=(const PostcodeLookupBuilder&) = delete;

  // Adds a postcode (compact: SW1A1AA). False when it is there already: the
  // first row stays, unless it was terminated and this one is live.
  bool add(std::string_view postcode, std::string_view constituency_code, std::optional<int> terminated);

  struct Counts {
    long long live = 0, terminated = 0;
    std::size_t constituencies = 0;
  };
  Counts counts();

  // Finishes the file, syncs it to disk and renames it over `path`, then
  // syncs the folder. `source` is recorded as where it came from.
  void commit(const std::string& source);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterd
