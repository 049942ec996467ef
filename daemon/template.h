// Letter templates: a YAML front matter (the subject), then the body.
//
//   {{name}}                 the value of name
//   {{#name}}...{{/name}}    the inside, only when name has a non-empty value
//   {{^name}}...{{/name}}    the inside, only when name is absent or empty
//   {{! comment }}           nothing
//
// Plain text: nothing is escaped. A line holding nothing but a section,
// inverted, closing or comment tag (and blanks) disappears with its line end,
// as in Mustache, so sections can sit on lines of their own.
//
// A name used outside every section must have a non-empty value when
// rendering: a letter never goes out with a gap where a name should be.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "problem.h"

namespace letterd {

using Values = std::map<std::string, std::string, std::less<>>;

// The names a template may use. A name is allowed when it is in `exact`, or
// starts with one of `open_prefixes` ("fields.") and has more after it.
struct NameRules {
  std::set<std::string, std::less<>> exact;
  std::set<std::string, std::less<>> open_prefixes;

  bool allows(std::string_view name) const;
};

class Template {
 public:
  struct NameUse {
    std::string name;
    int line = 0;             // 1-based, in the file the template came from
    bool in_section = false;  // inside some {{#}} or {{^}}: may be empty
  };

  // Parses template text. `where` names the source in problems, and
  // `first_line` is the line of the file the text starts on, so problems
  // read "templates/mp.txt:14: unclosed section personal_note".
  // nullopt when the text has problems (all of them appended).
  static std::optional<Template> parse(std::string_view text, const std::string& where, int first_line,
                                       Problems& problems);

  // Every name the template uses, in order of appearance.
  const std::vector<NameUse>& names() const { return names_; }

  // Appends a problem for each name the rules do not allow ("file:line: unknown name x").
  void check_names(const NameRules& rules, Problems& problems) const;

  // The rendered text, or nullopt with a problem per name used outside a
  // section that has no value or an empty one ("no value for supporter.postcode").
  std::optional<std::string> render(const Values& values, Problems& problems) const;

  struct Node;  // defined in template.cpp

 private:
  std::string where_;
  std::vector<std::shared_ptr<const Node>> nodes_;
  std::vector<NameUse> names_;
};

// A letter: front matter with `subject` (itself a template, one line), then the body.
struct LetterTemplate {
  std::string file;
  Template subject;
  Template body;
};

// Parses a whole template file. Problems name `file` and a line:
// a missing or unterminated front matter, a missing subject, unknown
// front-matter keys, and every problem of the subject and body.
std::optional<LetterTemplate> parse_letter_template(std::string_view text, const std::string& file, Problems& problems);

}  // namespace letterd
