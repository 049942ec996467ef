// A problem a user can fix, with the place that names it: a key path
// ("campaigns.x.letters.mp.template"), a file and line ("templates/mp.txt:12"),
// or a submission key ("supporter.email"). Checks collect every problem
// instead of stopping at the first, so one run shows all that needs fixing.
#pragma once

#include <string>
#include <vector>

namespace letterd {

struct Problem {
  std::string where;
  std::string what;

  // "where: what", or just "what" when there is no place to name.
  std::string text() const { return where.empty() ? what : where + ": " + what; }
};

using Problems = std::vector<Problem>;

}  // namespace letterd
