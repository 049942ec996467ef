#include "store_postcodes.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <unordered_map>

#include "postcode.h"
#include "timefmt.h"
#include "unique_fd.h"

namespace letterd {

namespace {

// "LtPc" in PRAGMA application_id: how a lookup is told from any other
// SQLite file before an import replaces it.
constexpr int kApplicationId = 0x4C745063;
constexpr int kLookupVersion = 1;

// Measured on 2.65 million postcodes in the directory's order
// (bench/make-onspd): this schema, 48 MB; the constituency code as text in
// each row instead of an id, 70 MB; the postcode with its space (which
// would keep inserts in pcd order), 51 MB; a rowid table with a unique
// index, 96 MB. A VACUUM after the import would take it to 42 MB, for
// another pass over the file.
constexpr const char* kSchema = R"sql(
CREATE TABLE constituencies (
  id   INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE
);
CREATE TABLE postcodes (
  postcode     TEXT PRIMARY KEY,
  constituency INTEGER NOT NULL REFERENCES constituencies (id),
  terminated   INTEGER
) WITHOUT ROWID;
CREATE VIEW lookup (postcode, constituency_code, terminated) AS
  SELECT substr(p.postcode, 1, length(p.postcode) - 3) || ' ' || substr(p.postcode, -3), c.code, p.terminated
  FROM postcodes p JOIN constituencies c ON c.id = p.constituency;
CREATE TABLE about (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql";

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

struct Identity {
  dev_t dev = 0;
  ino_t ino = 0;
  bool known = false;
};

Identity identity_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, true};
}

// Whether the SQLite file at `path` is a lookup letterd built.
bool is_lookup(const std::string& path) {
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db.execAndGet("PRAGMA application_id").getInt() == kApplicationId;
  } catch (const SQLite::Exception&) {
    return false;
  }
}

void sync_path(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd) throw sys_error("cannot open " + path);
  if (::fsync(fd.get()) != 0) throw sys_error("cannot sync " + path);
}

}  // namespace

// --- reading ---

struct PostcodeLookup::Impl {
  std::string path;
  Identity identity;
  SQLite::Database db;
  SQLite::Statement find;

  explicit Impl(const std::string& path)
      : path(path), identity(identity_of(path)), db(open(path)), find(db, R"sql(
          SELECT c.code, p.terminated FROM postcodes p JOIN constituencies c ON c.id = p.constituency
          WHERE p.postcode = ?)sql") {}

  static SQLite::Database open(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
      throw std::runtime_error("no postcode lookup at " + path + " (letterd postcodes import FILE builds it)");
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    if (db.execAndGet("PRAGMA application_id").getInt() != kApplicationId)
      throw std::runtime_error(path + " is not a postcode lookup (letterd postcodes import FILE builds one)");
    const int version = db.execAndGet("PRAGMA user_version").getInt();
    if (version != kLookupVersion)
      throw std::runtime_error("the postcode lookup " + path + " has version " + std::to_string(version) +
                               ", this letterd reads version " + std::to_string(kLookupVersion) +
                               " (letterd postcodes import FILE builds it again)");
    return db;
  }
};

PostcodeLookup::PostcodeLookup(const std::string& path) {
  try {
    impl_ = std::make_unique<Impl>(path);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("postcode lookup " + path + ": " + e.what());
  }
}

PostcodeLookup::~PostcodeLookup() = default;

std::optional<PostcodePlace> PostcodeLookup::find(std::string_view canonical) {
  auto& q = impl_->find;
  q.reset();
  std::string key(canonical);
  std::erase(key, ' ');
  q.bind(1, key);
  if (!q.executeStep()) {
    q.reset();
    return std::nullopt;
  }
  PostcodePlace place{.constituency_code = q.getColumn(0).getString()};
  if (!q.getColumn(1).isNull()) place.terminated = q.getColumn(1).getInt();
  q.reset();
  return place;
}

std::vector<std::string> PostcodeLookup::constituency_codes() {
  SQLite::Statement q(impl_->db, "SELECT code FROM constituencies ORDER BY code");
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

bool PostcodeLookup::replaced() const {
  const Identity now = identity_of(impl_->path);
  return !now.known || now.dev != impl_->identity.dev || now.ino != impl_->identity.ino;
}

std::string format_termination(int yyyymm) {
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02d", yyyymm / 100, yyyymm % 100);
  return text;
}

PostcodeAnswer look_up_postcode(PostcodeLookup& lookup, std::string_view text) {
  PostcodeAnswer answer;
  answer.canonical = canonical_postcode(text);
  if (!answer.canonical) {
    answer.problem = "not a UK postcode";
    return answer;
  }
  answer.place = lookup.find(*answer.canonical);
  if (!answer.place)
    answer.problem = "not in the postcode lookup";
  else if (answer.place->terminated)
    answer.problem = "terminated in " + format_termination(*answer.place->terminated);
  return answer;
}

// --- building ---

struct PostcodeLookupBuilder::Impl {
  std::string path, temp;
  std::optional<SQLite::Database> db;
  std::optional<SQLite::Statement> insert, revive, intern;
  std::unordered_map<std::string, int64_t> codes;
  bool committed = false;

  explicit Impl(const std::string& target) : path(target) {
    if (identity_of(path).known && !is_lookup(path))
      throw std::runtime_error(path +
                               " is there and is not a postcode lookup: letterd replaces only a lookup it built");
    temp = make_temp();
    try {
      db.emplace(temp, SQLite::OPEN_READWRITE);
      prepare();
    } catch (...) {
      ::unlink(temp.c_str());
      throw;
    }
  }

  // A new empty file beside the lookup, so the rename that ends the import
  // stays on one filesystem. Anyone may read it: postcodes and constituency
  // codes are public, and the daemon may run as another user than the import.
  std::string make_temp() {
    const auto p = std::filesystem::path(path);
    std::string name = (p.parent_path() / ("." + p.filename().string() + ".import-XXXXXX")).string();
    UniqueFd fd(::mkstemp(name.data()));
    if (!fd) throw sys_error("cannot create a file beside " + path);
    if (::fchmod(fd.get(), 0644) != 0) {
      ::unlink(name.c_str());
      throw sys_error("cannot set the mode of " + name);
    }
    return name;
  }

  void prepare() {
    // Nothing reads this file until the rename, and it is synced before:
    // a crash leaves only a file to remove, so no journal is kept meanwhile.
    db->exec("PRAGMA journal_mode = OFF");
    db->exec("PRAGMA synchronous = OFF");
    db->exec("PRAGMA locking_mode = EXCLUSIVE");
    db->exec("PRAGMA cache_size = -16384");
    db->exec("PRAGMA application_id = " + std::to_string(kApplicationId));
    db->exec("PRAGMA user_version = " + std::to_string(kLookupVersion));
    db->exec(kSchema);
    db->exec("BEGIN");
    insert.emplace(*db, "INSERT OR IGNORE INTO postcodes (postcode, constituency, terminated) VALUES (?, ?, ?)");
    revive.emplace(*db, R"sql(
      UPDATE postcodes SET constituency = ?, terminated = NULL WHERE postcode = ? AND terminated IS NOT NULL)sql");
    intern.emplace(*db, "INSERT INTO constituencies (code) VALUES (?)");
  }

  int64_t code_id(std::string_view code) {
    auto [it, added] = codes.try_emplace(std::string(code), 0);
    if (added) {
      intern->reset();
      intern->bind(1, it->first);
      intern->exec();
      it->second = db->getLastInsertRowid();
    }
    return it->second;
  }

  bool add(std::string_view postcode, std::string_view constituency_code, std::optional<int> terminated);
  void commit(const std::string& source);

  ~Impl() {
    if (committed) return;
    insert.reset();
    revive.reset();
    intern.reset();
    db.reset();
    ::unlink(temp.c_str());
  }
};

PostcodeLookupBuilder::PostcodeLookupBuilder(const std::string& path) {
  try {
    impl_ = std::make_unique<Impl>(path);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("postcode lookup " + path + ": " + e.what());
  }
}

PostcodeLookupBuilder::~PostcodeLookupBuilder() = default;

bool PostcodeLookupBuilder::add(std::string_view postcode, std::string_view constituency_code,
                                std::optional<int> terminated) {
  try {
    return impl_->add(postcode, constituency_code, terminated);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot write the postcode lookup " + impl_->temp + ": " + e.what());
  }
}

bool PostcodeLookupBuilder::Impl::add(std::string_view postcode, std::string_view constituency_code,
                                      std::optional<int> terminated) {
  const int64_t code = code_id(constituency_code);
  // As text: SQLiteCpp binds a pointer and a length as a blob, which no text key equals.
  const std::string key(postcode);
  auto& q = *insert;
  q.reset();
  q.bind(1, key);
  q.bind(2, code);
  if (terminated)
    q.bind(3, *terminated);
  else
    q.bind(3);
  if (q.exec() == 1) return true;
  if (!terminated) {
    auto& r = *revive;
    r.reset();
    r.bind(1, code);
    r.bind(2, key);
    r.exec();
  }
  return false;
}

PostcodeLookupBuilder::Counts PostcodeLookupBuilder::counts() {
  SQLite::Statement q(*impl_->db, R"sql(
    SELECT count(*) - count(terminated), count(terminated), count(DISTINCT constituency) FROM postcodes)sql");
  if (!q.executeStep()) return {};
  return {q.getColumn(0).getInt64(), q.getColumn(1).getInt64(), static_cast<std::size_t>(q.getColumn(2).getInt64())};
}

void PostcodeLookupBuilder::commit(const std::string& source) {
  try {
    impl_->commit(source);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot write the postcode lookup " + impl_->temp + ": " + e.what());
  }
}

void PostcodeLookupBuilder::Impl::commit(const std::string& source) {
  {
    SQLite::Statement about(*db, "INSERT INTO about (key, value) VALUES (?, ?), (?, ?)");
    about.bind(1, "source");
    about.bind(2, source);
    about.bind(3, "built_at");
    about.bind(4, format_utc(now_ms()));
    about.exec();
  }
  db->exec("COMMIT");
  // A connection with statements still prepared does not close, and only a
  // closed one has written all it holds to the file.
  insert.reset();
  revive.reset();
  intern.reset();
  db.reset();
  sync_path(temp, O_RDONLY);
  if (::rename(temp.c_str(), path.c_str()) != 0) throw sys_error("cannot move " + temp + " to " + path);
  committed = true;
  // The rename lasts only once its folder is synced.
  const auto dir = std::filesystem::path(path).parent_path().string();
  sync_path(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace letterd
