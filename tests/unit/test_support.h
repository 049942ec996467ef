// Helpers the unit tests share: problem lists as text, files a config names
// held in memory, and a throwaway directory for the tests that need a disk.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config_files.h"
#include "problem.h"

namespace letterd::testing {

// Targets for the config and plan tests: two MPs by constituency, and a
// Justice Secretary with no constituency, picked by id.
inline constexpr std::string_view kTargetsCsv =
    "id,name,email,constituency\n"
    "mp-cities-of-london-and-westminster,Alex Example MP,alex.example.mp@example.org,Cities of London and Westminster\n"
    "mp-bristol-central,Robin Fictional MP,robin.fictional.mp@example.org,Bristol Central\n"
    "justice-secretary,Justice Secretary,justice.secretary@example.org,\n";

// An MP's office: Monday to Friday, 09:00-17:30, London time.
inline SendingWindow office_hours() {
  SendingWindow w;
  w.days = *parse_days("Mon-Fri");
  std::tie(w.opens, w.closes) = *parse_hours("09:00-17:30");
  w.zone_name = "Europe/London";
  w.zone = find_zone(w.zone_name);
  return w;
}

inline std::vector<std::string> texts(const Problems& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.text());
  return out;
}

inline std::vector<std::string> wheres(const Problems& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.where);
  return out;
}

// `text` with `from` replaced by `to`, once; fails the test when `from` is not there.
inline std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' is not in the text";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

inline std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Files and environment variables in memory, handed to read_config_files
// as a FileSource: a config's templates, targets and secrets without a disk.
struct MemoryFiles {
  std::map<std::string, std::string> texts;  // by absolute path
  std::map<std::string, unsigned> modes;     // by absolute path; a text without one is 0600
  std::map<std::string, std::string> env;

  // Reads this object, which must outlive what it returns.
  FileSource source() const {
    return {[this](const std::string& path) -> std::optional<std::string> {
              auto it = texts.find(path);
              return it == texts.end() ? std::nullopt : std::optional<std::string>(it->second);
            },
            [this](const std::string& path) -> std::optional<unsigned> {
              if (auto it = modes.find(path); it != modes.end()) return it->second;
              return texts.count(path) ? std::optional<unsigned>(0600) : std::nullopt;
            },
            [this](const std::string& name) -> std::optional<std::string> {
              auto it = env.find(name);
              return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
            }};
  }
};

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string name = (std::filesystem::temp_directory_path() / "letterd-unit-XXXXXX").string();
    if (mkdtemp(name.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string path(const std::string& relative) const { return (std::filesystem::path(path_) / relative).string(); }

  // Writes `text` to `relative`, creating folders on the way.
  void write(const std::string& relative, std::string_view text) const {
    std::filesystem::path p = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
    EXPECT_TRUE(out.good()) << p;
  }

 private:
  std::string path_;
};

}  // namespace letterd::testing
