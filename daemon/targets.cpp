#include "targets.h"

#include <glib.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <memory>

#include "json.h"
#include "message.h"
#include "yaml_document.h"

namespace letterd {

std::string fold_constituency(std::string_view name) {
  std::string out;
  bool pending_space = false;
  for (char c : name) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

namespace {

std::string where(const std::string& file, int line) {
  return file + ":" + std::to_string(line);
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// RFC 4180 records: quoted fields may hold commas, doubled quotes and line
// breaks. Each record keeps the line it starts on, for problems.
std::vector<std::pair<int, std::vector<std::string>>> split_csv(std::string_view text, const std::string& file,
                                                                Problems& problems) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::pair<int, std::vector<std::string>>> records;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, field_started = false;
  int line = 1, record_line = 1;
  auto end_record = [&] {
    if (field_started || !fields.empty() || !field.empty()) {
      fields.push_back(std::move(field));
      records.emplace_back(record_line, std::move(fields));
    }
    fields.clear();
    field.clear();
    field_started = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = field_started = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
      field_started = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      record_line = ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) problems.push_back({where(file, record_line), "a quoted field is never closed"});
  end_record();
  return records;
}

}  // namespace

std::optional<Targets> Targets::parse_csv(std::string_view text, const std::string& file, Problems& problems) {
  std::size_t before = problems.size();
  auto records = split_csv(text, file, problems);
  if (records.empty()) {
    problems.push_back({file, "no header row"});
    return std::nullopt;
  }
  const auto& [header_line, header] = records.front();
  // Two columns of one name would leave one silently unread: letters could go to the wrong address.
  std::set<std::string_view> columns;
  bool column_twice = false;
  for (const auto& column : header) {
    if (columns.insert(column).second) continue;
    problems.push_back({where(file, header_line), "column " + column + " appears twice in the header"});
    column_twice = true;
  }
  if (column_twice) return std::nullopt;
  std::vector<std::pair<int, Target>> rows;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const auto& [line, values] = records[r];
    if (values.size() != header.size()) {
      problems.push_back({where(file, line), "has " + std::to_string(values.size()) + " fields, the header has " +
                                                 std::to_string(header.size())});
      continue;
    }
    Target target;
    for (std::size_t i = 0; i < header.size(); ++i) target.columns[header[i]] = values[i];
    rows.emplace_back(line, std::move(target));
  }
  if (problems.size() != before) return std::nullopt;
  return from_rows(std::move(rows), file, problems);
}

std::optional<Targets> Targets::parse_yaml(std::string_view text, const std::string& file, Problems& problems) {
  YamlDocument read;
  try {
    read = read_one_yaml_document(std::string(text));
  } catch (const YAML::Exception& e) {
    problems.push_back({where(file, e.mark.line + 1), e.msg});
    return std::nullopt;
  }
  // YAML::Load would read the first document and drop the rest unread.
  if (read.second_document_line) {
    problems.push_back({where(file, *read.second_document_line),
                        "a second YAML document (after a line ---): a targets file is one list"});
    return std::nullopt;
  }
  YAML::Node root = read.root;
  if (!root.IsSequence()) {
    problems.push_back({file, "must be a list of targets, each a map with id, name and email"});
    return std::nullopt;
  }
  std::size_t before = problems.size();
  std::vector<std::pair<int, Target>> rows;
  for (const auto& item : root) {
    int line = item.Mark().line + 1;
    if (!item.IsMap()) {
      problems.push_back({where(file, line), "a target must be a map"});
      continue;
    }
    Target target;
    std::set<std::string, std::less<>> seen;
    for (const auto& kv : item) {
      // yaml-cpp keeps both of two equal keys; the last would win here.
      if (!seen.insert(kv.first.Scalar()).second) {
        problems.push_back({where(file, kv.first.Mark().line + 1), "column " + kv.first.Scalar() + " is given twice"});
        continue;
      }
      if (!kv.second.IsScalar()) {
        problems.push_back({where(file, line), "column " + kv.first.Scalar() + " must be a string"});
        continue;
      }
      target.columns[kv.first.Scalar()] = kv.second.Scalar();
    }
    rows.emplace_back(line, std::move(target));
  }
  if (problems.size() != before) return std::nullopt;
  return from_rows(std::move(rows), file, problems);
}

std::optional<Targets> Targets::from_rows(std::vector<std::pair<int, Target>> rows, const std::string& file,
                                          Problems& problems) {
  std::size_t before = problems.size();
  Targets out;
  bool first = true;
  for (auto& [line, target] : rows) {
    std::size_t row_before = problems.size();
    for (const char* required : {"id", "name", "email"}) {
      auto it = target.columns.find(required);
      if (it == target.columns.end() || it->second.empty())
        problems.push_back({where(file, line), std::string("no ") + required});
    }
    if (problems.size() != row_before) continue;
    if (has_header_breaking_chars(target.name()))
      problems.push_back({where(file, line), "name must be one line without control characters"});
    if (!is_valid_address(target.email()))
      problems.push_back({where(file, line),
                          "email '" + target.email() + "'" +
                              (is_ascii(target.email()) ? " is not a valid address"
                                                        : ": addresses with non-ASCII characters are not supported")});
    if (out.by_id_.count(target.id()))
      problems.push_back({where(file, line), "id '" + target.id() + "' appears twice"});
    if (auto c = target.columns.find("constituency"); c != target.columns.end() && !c->second.empty()) {
      std::string key = fold_constituency(c->second);
      if (out.by_constituency_.count(key))
        problems.push_back({where(file, line), "constituency '" + c->second + "' appears twice"});
      out.by_constituency_[key] = out.targets_.size();
    }
    if (auto c = target.columns.find("constituency_code"); c != target.columns.end() && !c->second.empty()) {
      if (out.by_constituency_code_.count(c->second))
        problems.push_back({where(file, line), "constituency_code '" + c->second + "' appears twice"});
      out.by_constituency_code_[c->second] = out.targets_.size();
    }
    // Only the columns every row has may appear in a template as target.*.
    std::set<std::string, std::less<>> names;
    for (const auto& kv : target.columns) names.insert(kv.first);
    if (first) {
      out.columns_ = std::move(names);
      first = false;
    } else {
      std::erase_if(out.columns_, [&](const std::string& n) { return !names.count(n); });
    }
    out.by_id_[target.id()] = out.targets_.size();
    target.fingerprint = row_fingerprint(target.columns);
    out.targets_.push_back(std::move(target));
  }
  if (problems.size() != before) return std::nullopt;
  return out;
}

std::vector<std::string> Targets::ids() const {
  std::vector<std::string> out;
  for (const auto& t : targets_) out.push_back(t.id());
  return out;
}

const Target* Targets::by_id(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &targets_[it->second];
}

const Target* Targets::by_constituency_code(std::string_view code) const {
  auto it = by_constituency_code_.find(code);
  return it == by_constituency_code_.end() ? nullptr : &targets_[it->second];
}

const Target* Targets::by_constituency(std::string_view constituency) const {
  auto it = by_constituency_.find(fold_constituency(constituency));
  return it == by_constituency_.end() ? nullptr : &targets_[it->second];
}

std::string row_fingerprint(const TargetRow& row) {
  std::string text = json_object(row);
  std::unique_ptr<gchar, decltype(&g_free)> hex(
      g_compute_checksum_for_string(G_CHECKSUM_SHA256, text.data(), static_cast<gssize>(text.size())), &g_free);
  return std::string(hex.get(), 16);
}

bool is_vacant(const TargetRow& row) {
  auto status = row.find("status");
  return status != row.end() && fold_constituency(status->second) == "vacant";
}

}  // namespace letterd
