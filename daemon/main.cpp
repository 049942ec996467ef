#include <sys/prctl.h>
#include <sys/stat.h>

#include <csignal>
#include <string>
#include <vector>

#include "cli.h"

int main(int argc, char** argv) {
  // A relay that closes mid-write must be an error to handle, not a death.
  std::signal(SIGPIPE, SIG_IGN);
  // Files letterd makes (the queue's .error files, rejected/, accepted/) are
  // for letterd and its group; the database is 0600 on its own account.
  ::umask(027);
  // No core dump and no ptrace by the same user: memory holds relay
  // passwords and supporters' letters.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  std::vector<std::string> args(argv + 1, argv + argc);
  return letterd::run_cli(args);
}
