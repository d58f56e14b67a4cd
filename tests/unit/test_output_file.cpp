// core/output_file: exclusive temporary files (never an existing file, never through a symbolic
// link), atomic publication, names that fit the file system, and the output lock (refused for a
// second process, released when its holder dies).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/output_file.hpp"
#include "unit/temp_dir.hpp"

namespace sfb {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

class OutputFile : public sfb::test::TempDirTest {};

TEST_F(OutputFile, CommitPublishesTheBytesAndLeavesNoTemporaryFile) {
  const fs::path final = dir_ / "r.json";
  std::ofstream(final) << "old";
  {
    NewFile f(final, "0123456789ab");
    EXPECT_EQ(f.path(), dir_ / "r.json.0123456789ab.partial");
    f.write("new", 3);
    EXPECT_EQ(read_all(final), "old") << "the final name changes only on commit";
    f.commit();
  }
  EXPECT_EQ(read_all(final), "new");
  EXPECT_FALSE(fs::exists(dir_ / "r.json.0123456789ab.partial"));
}

TEST_F(OutputFile, WithoutCommitTheTemporaryFileGoesAndTheOldFileStays) {
  const fs::path final = dir_ / "r.json";
  std::ofstream(final) << "old";
  {
    NewFile f(final, "0123456789ab");
    f.write("half", 4);
  }
  EXPECT_EQ(read_all(final), "old");
  EXPECT_FALSE(fs::exists(dir_ / "r.json.0123456789ab.partial"));
}

TEST_F(OutputFile, ASymbolicLinkAtTheTemporaryNameIsNeverFollowed) {
  const fs::path target = dir_ / "precious.txt";
  std::ofstream(target) << "precious";
  const fs::path final = dir_ / "r.json";
  fs::create_symlink(target, partial_path(final, "0123456789ab"));
  try {
    NewFile f(final, "0123456789ab");
    f.write("x", 1);
    f.commit();
    FAIL() << "wrote through a symbolic link";
  } catch (const IoError& e) {
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("r.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in the way"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_all(target), "precious");
  EXPECT_FALSE(fs::exists(final));
  // A dangling link is not followed either (O_CREAT alone would create its target).
  const fs::path nowhere = dir_ / "nowhere.txt";
  fs::create_symlink(nowhere, partial_path(dir_ / "s.json", "0123456789ab"));
  EXPECT_THROW(NewFile(dir_ / "s.json", "0123456789ab"), IoError);
  EXPECT_FALSE(fs::exists(nowhere));
}

TEST_F(OutputFile, AnExistingFileAtTheTemporaryNameIsNotTruncated) {
  const fs::path final = dir_ / "r.json";
  std::ofstream(partial_path(final, "0123456789ab")) << "someone else's";
  EXPECT_THROW(NewFile(final, "0123456789ab"), IoError);
  EXPECT_EQ(read_all(partial_path(final, "0123456789ab")), "someone else's");
}

TEST_F(OutputFile, ASymbolicLinkAtTheFinalNameIsReplacedNotFollowed) {
  const fs::path target = dir_ / "precious.txt";
  std::ofstream(target) << "precious";
  const fs::path final = dir_ / "r.svg";
  fs::create_symlink(target, final);
  write_file_atomically(final, "<svg/>");
  EXPECT_EQ(read_all(target), "precious");
  EXPECT_FALSE(fs::is_symlink(final));
  EXPECT_EQ(read_all(final), "<svg/>");
}

TEST_F(OutputFile, TemporaryNamesAreUniqueAndFitTheFileSystem) {
  EXPECT_EQ(random_tag().size(), 12U);
  EXPECT_NE(random_tag(), random_tag());
  const std::size_t max = max_name_length(dir_);
  // Two long names that differ only at their end get two short temporary names.
  const std::string stem(max - 5, 'a');
  const fs::path a = dir_ / (stem + ".h5"), b = dir_ / (stem + ".js");
  const fs::path pa = partial_path(a, "0123456789ab"), pb = partial_path(b, "0123456789ab");
  EXPECT_LE(pa.filename().string().size(), max);
  EXPECT_NE(pa, pb);
  NewFile fa(a, "0123456789ab"), fb(b, "0123456789ab");  // both can be created
  EXPECT_LE(lock_path(a).filename().string().size(), max);
  EXPECT_NE(lock_path(a), lock_path(b));
  EXPECT_THROW(check_name_length(dir_ / std::string(max + 1, 'a')), IoError);
  check_name_length(dir_ / std::string(max, 'a'));
}

TEST_F(OutputFile, StalePartialsOfExactlyThatOutputAreRemoved) {
  const fs::path out = dir_ / "r.h5";
  const std::vector<std::string> stale = {"r.h5.0123456789ab.partial",
                                          "r.h5.0123456789ab.partial.data.1",
                                          "r.h5.fedcba987654.partial.metadata.0"};
  const std::vector<std::string> kept = {"r.h5",
                                         "r.h5.partial",
                                         "r.h5.0123456789xy.partial",
                                         "rr.h5.0123456789ab.partial",
                                         "r.json.0123456789ab.partial",
                                         "r.h5.0123456789ab.partial.data.x"};
  for (const auto& n : stale) std::ofstream(dir_ / n) << "x";
  for (const auto& n : kept) std::ofstream(dir_ / n) << "x";
  EXPECT_EQ(remove_stale_partials(out), stale.size());
  for (const auto& n : stale) EXPECT_FALSE(fs::exists(dir_ / n)) << n;
  for (const auto& n : kept) EXPECT_TRUE(fs::exists(dir_ / n)) << n;
}

// Runs lock_output(out) in a child process: 0 when it got the lock, 2 when it was refused; with
// `hold`, the child keeps the lock until killed.
pid_t lock_in_child(const fs::path& out, bool hold, int* status_out) {
  const pid_t pid = fork();
  if (pid == 0) {
    try {
      lock_output(out);
    } catch (const IoError& e) {
      _exit(static_cast<int>(e.exit_code()));
    }
    if (hold) {
      std::ofstream(out.string() + ".held") << "yes";
      pause();
    }
    _exit(0);
  }
  if (!hold) {
    waitpid(pid, status_out, 0);
  } else {
    for (int i = 0; i < 500 && !fs::exists(out.string() + ".held"); ++i) usleep(10000);
  }
  return pid;
}

// Kills and reaps a child process when the test ends, whatever way it ends.
struct ChildGuard {
  pid_t pid;
  ~ChildGuard() {
    if (pid > 0 && kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
  }
};

TEST_F(OutputFile, ASecondProcessIsRefusedUntilTheHolderDies) {
  const fs::path out = dir_ / "conc.h5";
  int status = 0;
  const pid_t holder = lock_in_child(out, /*hold=*/true, &status);
  ChildGuard guard{holder};
  ASSERT_TRUE(fs::exists(out.string() + ".held")) << "the holder never took the lock";
  // This process is refused while the holder lives, with a message naming the output.
  try {
    lock_output(out);
    FAIL() << "took a lock another process holds";
  } catch (const IoError& e) {
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    const std::string what = e.what();
    EXPECT_NE(what.find("conc.h5"), std::string::npos) << what;
    EXPECT_NE(what.find("another sfbench run"), std::string::npos) << what;
    EXPECT_NE(what.find("pid " + std::to_string(holder)), std::string::npos) << what;
  }
  // The holder is killed (no clean-up runs): its lock goes with it, nothing stale remains.
  kill(holder, SIGKILL);
  waitpid(holder, &status, 0);
  guard.pid = 0;
  lock_in_child(out, /*hold=*/false, &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a dead holder still blocks";
  EXPECT_TRUE(lock_output(out));
  EXPECT_TRUE(lock_output(out));  // again: this process holds it already
  // An independent process (util-linux flock, not a fork sharing our descriptors) cannot take it.
  const std::string probe = "flock -n '" + lock_path(out).string() + "' true";
  EXPECT_NE(std::system(probe.c_str()), 0) << "the lock was not exclusive";
}

TEST_F(OutputFile, ALockFileThatIsASymbolicLinkIsRefused) {
  const fs::path target = dir_ / "precious.txt";
  std::ofstream(target) << "precious";
  const fs::path out = dir_ / "l.h5";
  fs::create_symlink(target, lock_path(out));
  EXPECT_THROW(lock_output(out), IoError);
  EXPECT_EQ(read_all(target), "precious");
}

}  // namespace
}  // namespace sfb
