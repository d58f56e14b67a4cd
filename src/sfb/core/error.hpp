#pragma once
#include <stdexcept>
#include <string>

namespace sfb {

/// Process exit codes (DESIGN.md "Running"): 0 success, 2 bad input or configuration, 3 runtime
/// failure.
enum class ExitCode : int { kOk = 0, kBadInput = 2, kRuntime = 3 };

/// Base of every error sfbench throws. The message names the file, key, sample index or call that
/// failed; exit_code() says how the process ends when the error reaches a main.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ExitCode code = ExitCode::kRuntime)
      : std::runtime_error(what), code_(code) {}
  /// The exit code a main uses for this error.
  ExitCode exit_code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

/// A configuration problem: unknown key, wrong type, bad value, unreadable config file. Exit
/// code 2.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what) : Error(what, ExitCode::kBadInput) {}
};

/// Bad input data: missing, truncated or mis-sized file, label out of range. Exit code 2.
class DataError : public Error {
 public:
  explicit DataError(const std::string& what) : Error(what, ExitCode::kBadInput) {}
};

/// A file-system or HDF5 failure. Exit code 3 unless the cause is the user's input (then 2).
class IoError : public Error {
 public:
  explicit IoError(const std::string& what, ExitCode code = ExitCode::kRuntime)
      : Error(what, code) {}
};

/// An MPI or NCCL failure, or a collective called with inconsistent arguments. Exit code 3.
class CommError : public Error {
 public:
  explicit CommError(const std::string& what) : Error(what, ExitCode::kRuntime) {}
};

/// A CUDA runtime failure. Exit code 3.
class CudaError : public Error {
 public:
  explicit CudaError(const std::string& what) : Error(what, ExitCode::kRuntime) {}
};

namespace detail {
/// Throws Error("internal invariant violated: <cond> (<msg>) at file:line"). Used by SFB_ASSERT.
[[noreturn]] void assert_fail(const char* cond, const std::string& msg, const char* file, int line);
}  // namespace detail

}  // namespace sfb

/// Checks an internal invariant in every build type; throws sfb::Error naming the condition.
#define SFB_ASSERT(cond, msg)                                                  \
  do {                                                                         \
    if (!(cond)) ::sfb::detail::assert_fail(#cond, (msg), __FILE__, __LINE__); \
  } while (0)
