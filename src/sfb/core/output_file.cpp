#include "core/output_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/provenance.hpp"

namespace sfb {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kDefaultNameMax = 255;

fs::path dir_of(const fs::path& file) {
  return file.has_parent_path() ? file.parent_path() : fs::path(".");
}

// The first `n` bytes of `s`, moved back so no UTF-8 character is cut in two.
std::string clip_utf8(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// "<prefix><name><suffix>" in the directory of `file`, <name> shortened to fit the file system.
// `hash_when_clipped`: a shortened name ends in 16 hex digits of the full name's SHA-256, so two
// long names that share a prefix still give two names.
fs::path sibling_name(const fs::path& file, const std::string& prefix, const std::string& suffix,
                      bool hash_when_clipped) {
  const std::string name = file.filename().string();
  const std::size_t max = max_name_length(dir_of(file));
  const std::size_t fixed = prefix.size() + suffix.size();
  std::string mid = name;
  if (fixed + name.size() > max) {
    const std::string hash = hash_when_clipped ? "-" + sha256_hex(name).substr(0, 16) : "";
    const std::size_t room = max > fixed + hash.size() ? max - fixed - hash.size() : 0;
    mid = clip_utf8(name, room) + hash;
  }
  return file.has_parent_path() ? file.parent_path() / (prefix + mid + suffix)
                                : fs::path(prefix + mid + suffix);
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

std::string random_tag() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist(0, (uint64_t{1} << 48) - 1);
  const uint64_t v = dist(rd);
  static const char* kHex = "0123456789abcdef";
  std::string out(12, '0');
  for (int i = 0; i < 12; ++i) out[11 - i] = kHex[(v >> (4 * i)) & 0xF];
  return out;
}

std::size_t max_name_length(const fs::path& dir) {
  errno = 0;
  const long v = pathconf(dir.c_str(), _PC_NAME_MAX);
  return v > 0 ? static_cast<std::size_t>(v) : kDefaultNameMax;
}

fs::path partial_path(const fs::path& final, const std::string& tag) {
  return sibling_name(final, "", "." + tag + ".partial", /*hash_when_clipped=*/true);
}

void check_name_length(const fs::path& file, const std::string& what) {
  const std::size_t max = max_name_length(dir_of(file));
  const std::size_t len = file.filename().string().size();
  if (len > max) {
    throw IoError("file name '" + file.string() + "'" + (what.empty() ? "" : " (" + what + ")") +
                      " has " + std::to_string(len) + " bytes; its file system allows at most " +
                      std::to_string(max) + " (choose a shorter --out)",
                  ExitCode::kBadInput);
  }
}

std::string storage_error_text(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EROFS:
    case EFBIG:
      return errno_text(err);
    default:
      return "";
  }
}

// ---- NewFile ------------------------------------------------------------------------------------

NewFile::NewFile(fs::path final, const std::string& tag)
    : final_(std::move(final)), path_(partial_path(final_, tag)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int err = errno;
    const bool in_the_way = err == EEXIST || err == ELOOP;
    throw IoError(
        "cannot write '" + final_.string() + "': cannot create its temporary file '" +
            path_.string() + "': " +
            (in_the_way ? std::string("a file or symbolic link of that name is in the way")
                        : errno_text(err)),
        in_the_way ? ExitCode::kBadInput : ExitCode::kRuntime);
  }
}

NewFile::~NewFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(path_.c_str());
}

void NewFile::fail(const std::string& what, int err) {
  const std::string sys = errno_text(err);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(path_.c_str());
  committed_ = true;  // nothing left to clean up
  throw IoError("cannot write '" + final_.string() + "': " + what + ": " + sys +
                " (temporary file '" + path_.string() + "' removed)");
}

bool NewFile::try_write(const void* data, std::size_t n) noexcept {
  if (error_ != 0) return false;
  if (fd_ < 0) {
    error_ = EBADF;
    return false;
  }
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      error_ = errno;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

void NewFile::write(const void* data, std::size_t n) {
  if (!try_write(data, n)) fail("write failed", error_);
}

void NewFile::commit() {
  SFB_ASSERT(!committed_ && fd_ >= 0, "NewFile::commit called twice");
  if (error_ != 0) fail("write failed", error_);
  if (::fsync(fd_) != 0) fail("fsync failed", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close failed", errno);
  if (::rename(path_.c_str(), final_.c_str()) != 0) {
    fail("renaming '" + path_.string() + "' into place failed", errno);
  }
  committed_ = true;
}

void write_file_atomically(const fs::path& final, const std::string& bytes) {
  NewFile f(final);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

std::streamsize NewFileBuf::xsputn(const char* s, std::streamsize n) {
  return file_.try_write(s, static_cast<std::size_t>(n)) ? n : 0;
}

NewFileBuf::int_type NewFileBuf::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  const char ch = traits_type::to_char_type(c);
  return file_.try_write(&ch, 1) ? c : traits_type::eof();
}

// ---- output locks -------------------------------------------------------------------------------

namespace {

struct HeldLock {
  fs::path path;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
};

// The locks this process holds, released (file removed, then closed) when the process ends.
class LockRegistry {
 public:
  ~LockRegistry() {
    for (const auto& l : locks_) {
      // Remove the file only while it is still ours: another run may only ever have locked this
      // inode after we close it, and it checks that the path still names the inode it locked.
      struct stat st {};
      if (::stat(l.path.c_str(), &st) == 0 && st.st_dev == l.dev && st.st_ino == l.ino) {
        ::unlink(l.path.c_str());
      }
      ::close(l.fd);
    }
  }
  bool holds(dev_t dev, ino_t ino) const {
    for (const auto& l : locks_) {
      if (l.dev == dev && l.ino == ino) return true;
    }
    return false;
  }
  void add(HeldLock l) { locks_.push_back(std::move(l)); }

 private:
  std::vector<HeldLock> locks_;
};

LockRegistry& registry() {
  static LockRegistry r;
  return r;
}

std::string holder_text() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return "pid " + std::to_string(::getpid()) + " on " + host + ", started " + utc_now_iso8601();
}

std::string read_holder(int fd) {
  char buf[512] = {0};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

fs::path lock_path(const fs::path& out) {
  return sibling_name(out, ".", ".lock", /*hash_when_clipped=*/true);
}

bool lock_output(const fs::path& out) {
  const fs::path lock = lock_path(out);
  // A holder that ends removes the file: the inode we opened may be gone from the directory by
  // the time we lock it. Then we hold nothing that others see; reopen and try again.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      const int err = errno;
      throw IoError(
          "cannot lock output '" + out.string() + "': cannot open the lock file '" + lock.string() +
              "': " + (err == ELOOP ? std::string("it is a symbolic link") : errno_text(err)),
          ExitCode::kBadInput);
    }
    struct stat mine {};
    if (::fstat(fd, &mine) != 0 || registry().holds(mine.st_dev, mine.st_ino)) {
      ::close(fd);
      return true;  // this process holds it already
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) {
        const std::string holder = read_holder(fd);
        ::close(fd);
        throw IoError("output '" + out.string() + "' is being written by another sfbench run" +
                          (holder.empty() ? std::string() : " (" + holder + ")") +
                          "; wait for it to end or choose another --out (lock file '" +
                          lock.string() + "')",
                      ExitCode::kBadInput);
      }
      ::close(fd);
      if (err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL) {
        log::warn("the file system of '" + out.string() +
                  "' does not support locks: a second run writing it at the same time is not "
                  "detected (" +
                  errno_text(err) + ")");
        return false;
      }
      throw IoError("cannot lock output '" + out.string() + "' (lock file '" + lock.string() +
                    "'): " + errno_text(err));
    }
    struct stat now {};
    if (::stat(lock.c_str(), &now) != 0 || now.st_dev != mine.st_dev || now.st_ino != mine.st_ino) {
      ::close(fd);  // the previous holder removed the file between our open and our lock
      continue;
    }
    const std::string text = holder_text() + "\n";
    if (::ftruncate(fd, 0) == 0) {
      const ssize_t ignored = ::pwrite(fd, text.data(), text.size(), 0);  // informative only
      (void)ignored;
    }
    registry().add({lock, fd, mine.st_dev, mine.st_ino});
    return true;
  }
  throw IoError("cannot lock output '" + out.string() + "': its lock file '" + lock.string() +
                "' keeps being replaced");
}

std::size_t remove_stale_partials(const fs::path& final) {
  const std::string zeros(12, '0');
  const std::string probe = partial_path(final, zeros).filename().string();
  const std::string prefix = probe.substr(0, probe.size() - zeros.size() - 8);  // ".partial"
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_of(final), ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() < prefix.size() + 20 || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string tag = name.substr(prefix.size(), 12);
    if (tag.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
    const std::string rest = name.substr(prefix.size() + 12);
    auto is_rank_file = [&](const std::string& kind) {
      const std::string head = ".partial." + kind + ".";
      return rest.size() > head.size() && rest.compare(0, head.size(), head) == 0 &&
             rest.find_first_not_of("0123456789", head.size()) == std::string::npos;
    };
    if (rest == ".partial" || is_rank_file("data") || is_rank_file("metadata")) {
      std::error_code rm;
      if (fs::remove(e.path(), rm)) ++removed;
    }
  }
  return removed;
}

}  // namespace sfb
