// The edge of config loading: reading what a parsed config names. parse_config
// (config.h) only reads text, so that config and planning tests run on
// strings; the templates, targets files, CA file and relay passwords are read
// here, through a FileSource that tests fill from memory, and checked with
// what only their contents can tell (a template's names against the targets'
// columns, a letter's target id against the targets file).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "config.h"
#include "problem.h"

namespace letterd {

// What reading a config's files asks of the system.
struct FileSource {
  // A regular file's whole text; nullopt when there is none or it cannot be read.
  std::function<std::optional<std::string>(const std::string& path)> read;
  // A regular file's permission bits (0600); nullopt when there is no regular file.
  std::function<std::optional<unsigned>(const std::string& path)> mode;
  // An environment variable's value; nullopt when it is not set.
  std::function<std::optional<std::string>(const std::string& name)> env;
};

// The real file system and this process's environment.
const FileSource& system_files();

// Reads every file `config` names and the relay passwords (as `passwords`
// says), filling in campaigns' targets, letters' templates and relays'
// passwords. Appends a problem, named by its key path, for each file that is
// missing, unreadable or wrong; never one that holds a password. True when
// it appended none.
bool read_config_files(Config& config, const FileSource& files, Passwords passwords, Problems& problems);

// load_config on text already read from `path`, reading the rest through
// `files`: parse_config, then read_config_files even when parsing found
// problems, so one run lists them all. nullopt when anything is wrong.
std::optional<Config> load_config_text(const std::string& text, const std::string& path, const FileSource& files,
                                       Passwords passwords, Problems& problems);

}  // namespace letterd
