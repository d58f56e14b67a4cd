#pragma once
// How sfbench writes a file that replaces another: a fresh temporary file next to it, created
// exclusively (never an existing file, never through a symbolic link) under a name unique to the
// run, flushed to storage and renamed into place; and the advisory lock that keeps two runs from
// writing the same output at once. Results files (io/results_file.hpp), summaries, checkpoints
// and figures all go through here.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <streambuf>
#include <string>

namespace sfb {

/// 12 random hexadecimal digits (std::random_device): what makes a run's temporary names unique.
std::string random_tag();

/// The longest file name, in bytes, the file system holding `dir` allows (pathconf
/// _PC_NAME_MAX; 255 when it does not say).
std::size_t max_name_length(const std::filesystem::path& dir);

/// The temporary name under which `final` is written: "<name>.<tag>.partial" in the directory of
/// `final`. When that is longer than max_name_length(), <name> is shortened (at a UTF-8 character
/// boundary) and ends in "-" and 16 hex digits of its SHA-256, so two long names never share a
/// temporary name. Not collective.
std::filesystem::path partial_path(const std::filesystem::path& final, const std::string& tag);

/// Throws IoError (exit code 2) naming `file` and `what` it is when its file name is longer than
/// its file system allows.
void check_name_length(const std::filesystem::path& file, const std::string& what = "");

/// The operating system's text for `err` when it says what happened to the storage ("No space
/// left on device", "Disk quota exceeded", "Input/output error", "Read-only file system", "File
/// too large"); "" for any other error number.
std::string storage_error_text(int err);

/// A file that becomes `final` only when complete. The constructor creates a temporary file next
/// to `final` (partial_path(final, tag)) with O_CREAT | O_EXCL | O_NOFOLLOW, so it is never a file
/// that already exists nor reached through a symbolic link; commit() flushes it to storage and
/// renames it over `final` (a symbolic link at `final` is replaced, not followed). Destroyed
/// without commit(), the temporary file is removed and `final` is untouched. Not collective.
class NewFile {
 public:
  /// Creates the temporary file (mode 0666 less the umask). IoError naming `final` and the
  /// temporary name: exit code 2 when something is already there, 3 for other failures.
  explicit NewFile(std::filesystem::path final, const std::string& tag = random_tag());
  ~NewFile();
  NewFile(const NewFile&) = delete;
  NewFile& operator=(const NewFile&) = delete;

  /// Appends `n` bytes; IoError naming the file and the operating system's error (e.g. "No space
  /// left on device").
  void write(const void* data, std::size_t n);
  /// write() that records the first failure (error()) instead of throwing; false once one
  /// happened. For callbacks of libraries that cannot propagate exceptions.
  bool try_write(const void* data, std::size_t n) noexcept;
  /// errno of the first failed try_write(), 0 when none failed.
  int error() const { return error_; }
  /// fsync, close and rename onto final(). IoError naming both names on failure (the temporary
  /// file is then removed).
  void commit();
  /// The name the file gets on commit().
  const std::filesystem::path& final_path() const { return final_; }
  /// The temporary name it is written under.
  const std::filesystem::path& path() const { return path_; }
  /// The open descriptor (-1 after commit()).
  int fd() const { return fd_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  std::filesystem::path final_, path_;
  int fd_ = -1;
  int error_ = 0;
  bool committed_ = false;
};

/// Writes `bytes` to `final` through a NewFile (exclusive temporary file, fsync, rename). Throws
/// IoError naming `final`. Not collective.
void write_file_atomically(const std::filesystem::path& final, const std::string& bytes);

/// An unbuffered std::streambuf appending to a NewFile, for libraries that write to a
/// std::ostream. A failed write makes the stream bad; NewFile::error() then holds errno.
class NewFileBuf : public std::streambuf {
 public:
  explicit NewFileBuf(NewFile& file) : file_(file) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int_type overflow(int_type c) override;

 private:
  NewFile& file_;
};

/// The lock file of `out`: "<dir>/.<name>.lock", shortened like partial_path() (with a hash of
/// the full name) when that would be longer than the file system allows.
std::filesystem::path lock_path(const std::filesystem::path& out);

/// Takes an exclusive advisory lock (flock) on lock_path(out) and holds it until the process
/// ends, so that a second run writing `out` is refused at once; the kernel releases it when the
/// process dies, so a crash leaves no lock that blocks the next run. The lock file holds the
/// holder's pid, host and start time and is removed on a normal exit. Taking a lock this process
/// already holds does nothing. Throws IoError (exit code 2) naming `out` and the other run when
/// another process holds the lock, or when the lock file cannot be created (a symbolic link is
/// never followed). On a file system without locks it logs a warning and returns false (true when
/// the lock is held). Not collective: one rank takes it.
bool lock_output(const std::filesystem::path& out);

/// Removes what runs that died left of `final`'s temporary files: partial_path(final, tag) for any
/// 12-hex-digit tag, and the per-rank ".data.<r>" / ".metadata.<r>" files Open MPI's 'individual'
/// shared-file-pointer component keeps next to an open MPI-IO file. Only for the holder of
/// lock_output(final) (no live run can be writing them then). Returns how many were removed. Not
/// collective.
std::size_t remove_stale_partials(const std::filesystem::path& final);

}  // namespace sfb
