#include "queue.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;
namespace fs = std::filesystem;

mode_t mode_of(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class QueueTest : public ::testing::Test {
 protected:
  void SetUp() override { queue_.ensure_layout(); }

  // The way the protocol asks: written in tmp/, then renamed into new/.
  void drop(const std::string& name, std::string_view text) {
    dir_.write("tmp/" + name, text);
    fs::rename(dir_.path("tmp/" + name), dir_.path("new/" + name));
  }

  TempDir dir_;
  QueueDir queue_{dir_.path()};
};

TEST_F(QueueTest, ARenamedFileIsReadWhole) {
  queue_.waiting(100);
  drop("a.json", "{}");
  WaitingFile file = queue_.read("a.json", 1024);
  EXPECT_EQ(file.state, WaitingFile::State::readable);
  EXPECT_EQ(file.text, "{}");
  EXPECT_FALSE(file.written_in_place);
  EXPECT_EQ(queue_.read("gone.json", 1024).state, WaitingFile::State::gone);
}

TEST_F(QueueTest, AFileLinkedInByEnqueueIsNotWrittenInPlace) {
  queue_.waiting(100);
  dir_.write("elsewhere/b.json", "{}");
  queue_.enqueue(dir_.path("elsewhere/b.json"));
  WaitingFile file = queue_.read("b.json", 1024);
  EXPECT_EQ(file.state, WaitingFile::State::readable);
  EXPECT_FALSE(file.written_in_place);
}

// A writer that writes straight into new/ was read half-written and
// rejected while it went on writing into rejected/.
TEST_F(QueueTest, AFileBeingWrittenInNewIsLeftUntilItsWriterClosesIt) {
  queue_.waiting(100);
  const std::string path = dir_.path("new/c.json");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  ASSERT_GE(fd, 0);
  WaitingFile empty = queue_.read("c.json", 1024);
  EXPECT_EQ(empty.state, WaitingFile::State::being_written);
  EXPECT_TRUE(empty.first_report);
  ASSERT_EQ(::write(fd, "{\"campaign\":", 12), 12);
  WaitingFile half = queue_.read("c.json", 1024);
  EXPECT_EQ(half.state, WaitingFile::State::being_written);
  EXPECT_FALSE(half.first_report) << "said once, not at every scan";
  ASSERT_EQ(::write(fd, " \"x\"}", 5), 5);
  ::close(fd);
  WaitingFile whole = queue_.read("c.json", 1024);
  EXPECT_EQ(whole.state, WaitingFile::State::readable);
  EXPECT_EQ(whole.text, "{\"campaign\": \"x\"}");
  EXPECT_TRUE(whole.written_in_place);
}

TEST_F(QueueTest, ASymlinkIsUnreadableWithAReasonThatSaysWhatItIs) {
  queue_.waiting(100);
  dir_.write("secret.json", "{}");
  fs::create_symlink(dir_.path("secret.json"), dir_.path("new/link.json"));
  WaitingFile file = queue_.read("link.json", 1024);
  EXPECT_EQ(file.state, WaitingFile::State::unreadable);
  EXPECT_EQ(file.error, "a symlink: letterd reads only regular files (it cannot open one through a symlink)");
  EXPECT_EQ(file.text, "");
}

TEST_F(QueueTest, ADirectoryIsListedAndReportedOnce) {
  fs::create_directory(dir_.path("new/x.json"));
  EXPECT_EQ(queue_.waiting(100), (std::vector<std::string>{"x.json"}));
  WaitingFile first = queue_.read("x.json", 1024);
  EXPECT_EQ(first.state, WaitingFile::State::directory);
  EXPECT_EQ(first.error, "a directory: letterd reads only regular files");
  EXPECT_TRUE(first.first_report);
  queue_.waiting(100);
  EXPECT_FALSE(queue_.read("x.json", 1024).first_report);
  // Removed and made again: a new mistake, reported again.
  fs::remove(dir_.path("new/x.json"));
  queue_.waiting(100);
  fs::create_directory(dir_.path("new/x.json"));
  queue_.waiting(100);
  EXPECT_TRUE(queue_.read("x.json", 1024).first_report);
}

TEST_F(QueueTest, ATooLargeFileIsUnreadable) {
  drop("big.json", std::string(2048, ' '));
  WaitingFile file = queue_.read("big.json", 1024);
  EXPECT_EQ(file.state, WaitingFile::State::unreadable);
  EXPECT_EQ(file.error, "the file is larger than 1 KiB");
}

// systemd/letterd.tmpfiles promises rejected/ and accepted/ 0750; a
// directory found more open is closed again, not trusted.
TEST_F(QueueTest, TheLayoutGetsThePromisedModes) {
  for (const char* sub : {"", "/tmp", "/new", "/rejected", "/accepted"}) ::chmod((dir_.path() + sub).c_str(), 0777);
  ::chmod(dir_.path("new").c_str(), 03777);
  queue_.ensure_layout();
  EXPECT_EQ(mode_of(dir_.path("rejected")), 0750u);
  EXPECT_EQ(mode_of(dir_.path("accepted")), 0750u);
  EXPECT_EQ(mode_of(dir_.path()), 0770u);
  EXPECT_EQ(mode_of(dir_.path("tmp")), 0770u);
  EXPECT_EQ(mode_of(dir_.path("new")), 03770u) << "the writers' group keeps its setgid and sticky bits";
}

TEST_F(QueueTest, ARejectedFileAndItsErrorAreMode0640WhateverTheWriterGave) {
  drop("bad.json", "[]");
  ::chmod(dir_.path("new/bad.json").c_str(), 0666);
  std::string moved = queue_.reject("bad.json", {"the file must hold one object (a map of keys)"});
  EXPECT_EQ(moved, "bad.json");
  EXPECT_EQ(mode_of(dir_.path("rejected/bad.json")), 0640u);
  EXPECT_EQ(mode_of(dir_.path("rejected/bad.json.error")), 0640u);
  EXPECT_EQ(read_file(dir_.path("rejected/bad.json")), "[]");
  EXPECT_EQ(read_file(dir_.path("rejected/bad.json.error")), "the file must hold one object (a map of keys)\n");
}

TEST_F(QueueTest, AnAcceptedFileKeptIsMode0640) {
  drop("good.json", "{}");
  ::chmod(dir_.path("new/good.json").c_str(), 0666);
  queue_.finish_accepted({"good.json"}, true);
  EXPECT_EQ(mode_of(dir_.path("accepted/good.json")), 0640u);
  EXPECT_FALSE(fs::exists(dir_.path("new/good.json")));
}

TEST_F(QueueTest, ARejectedSymlinkIsMovedNotFollowed) {
  dir_.write("outside.json", "{}");
  ::chmod(dir_.path("outside.json").c_str(), 0644);
  fs::create_symlink(dir_.path("outside.json"), dir_.path("new/link.json"));
  queue_.reject("link.json", {"a symlink"});
  EXPECT_TRUE(fs::is_symlink(dir_.path("rejected/link.json")));
  EXPECT_EQ(mode_of(dir_.path("outside.json")), 0644u) << "the file it points to is not letterd's to change";
}

}  // namespace
}  // namespace letterd
