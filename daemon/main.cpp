#include <csignal>
#include <string>
#include <vector>

#include "cli.h"

int main(int argc, char** argv) {
  // A relay that closes mid-write must be an error to handle, not a death.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  return letterd::run_cli(args);
}
