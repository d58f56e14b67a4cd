// The pickle reader behind read_torch_save(). It interprets the opcodes Python's pickle module
// writes at protocols 2 to 4 for the values torch.save stores (dicts, lists, tuples, numbers,
// strings, GLOBAL + REDUCE for OrderedDict and tensor rebuilding, BINPERSID for storages) and
// keeps every other object opaque; it never runs anything a file names.
#include "models/torch_save.hpp"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <map>

#include "core/error.hpp"

namespace sfb::models {
namespace {

DataError bad_torch_save(const std::filesystem::path& file, const std::string& why) {
  return DataError("torch.save file " + file.string() + ": " + why);
}

/// A Python global (GLOBAL / STACK_GLOBAL): "module.name".
struct Global {
  std::string name;
};

/// A storage named by a persistent id: its bytes as a 1-D tensor of its dtype.
struct Storage {
  torch::Tensor flat;
};

/// The pickle machine's values: SavedValue plus what only exists while unpickling.
struct Item {
  SavedValue value;
  std::shared_ptr<Global> global;            // set for a global
  std::shared_ptr<Storage> storage;          // set for a storage (a persistent id's result)
  std::shared_ptr<std::vector<Item>> tuple;  // set for a tuple: its items as unpickled
};

torch::ScalarType storage_dtype(const std::string& type) {
  static const std::map<std::string, torch::ScalarType> kTypes = {
      {"torch.FloatStorage", torch::kFloat32},
      {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},
      {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},
      {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},
      {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},
      {"torch.BoolStorage", torch::kBool},
      {"torch.ComplexFloatStorage", torch::kComplexFloat},
      {"torch.ComplexDoubleStorage", torch::kComplexDouble}};
  const auto it = kTypes.find(type);
  if (it == kTypes.end()) throw std::runtime_error("unsupported storage type " + type);
  return it->second;
}

class Unpickler {
 public:
  Unpickler(caffe2::serialize::PyTorchStreamReader& reader, const char* data, size_t size)
      : reader_(reader), d_(data), n_(size) {}

  SavedValue run() {
    for (;;) {
      const auto op = static_cast<uint8_t>(byte());
      switch (op) {
        case 0x80:
          byte();
          break;  // PROTO
        case 0x95:
          take(8);
          break;  // FRAME (protocol 4)
        case '.':
          return pop().value;  // STOP
        case '(':
          marks_.push_back(st_.size());
          break;  // MARK
        case 'N':
          push(SavedValue{});
          break;
        case 0x88:
          push(SavedValue{{true}});
          break;  // NEWTRUE
        case 0x89:
          push(SavedValue{{false}});
          break;  // NEWFALSE
        case 'K':
          push(SavedValue{{int64_t{static_cast<uint8_t>(byte())}}});
          break;  // BININT1
        case 'M':
          push(SavedValue{{static_cast<int64_t>(le<uint16_t>())}});
          break;  // BININT2
        case 'J':
          push(SavedValue{{static_cast<int64_t>(le<int32_t>())}});
          break;  // BININT
        case 0x8a:
          push(SavedValue{{long1()}});
          break;  // LONG1
        case 'G':
          push(SavedValue{{binfloat()}});
          break;
        case 'X':
          push(SavedValue{{take_string(le<uint32_t>())}});
          break;  // BINUNICODE
        case 0x8c:
          push(SavedValue{{take_string(static_cast<uint8_t>(byte()))}});
          break;
        case 'T':
          push(SavedValue{{take_string(le<uint32_t>())}});
          break;  // BINSTRING
        case 'U':
          push(SavedValue{{take_string(static_cast<uint8_t>(byte()))}});
          break;
        case 'B':
          push(SavedValue{{take_string(le<uint32_t>())}});
          break;  // BINBYTES
        case 'C':
          push(SavedValue{{take_string(static_cast<uint8_t>(byte()))}});
          break;
        case ')':
          push_tuple({});
          break;  // EMPTY_TUPLE
        case 't':
          push_tuple(since_mark());
          break;
        case 0x85:
          push_tuple(pop_n(1));
          break;  // TUPLE1
        case 0x86:
          push_tuple(pop_n(2));
          break;  // TUPLE2
        case 0x87:
          push_tuple(pop_n(3));
          break;  // TUPLE3
        case ']':
          push(SavedValue{{SavedValue::List{}}});
          break;
        case '}':
          push(SavedValue{{std::make_shared<SavedValue::Dict>()}});
          break;
        case 'q':
          memo_[static_cast<uint8_t>(byte())] = top();
          break;  // BINPUT
        case 'r':
          memo_[le<uint32_t>()] = top();
          break;  // LONG_BINPUT
        case 0x94:
          memo_[static_cast<uint32_t>(memo_.size())] = top();
          break;  // MEMOIZE
        case 'h':
          st_.push_back(memo(static_cast<uint8_t>(byte())));
          break;  // BINGET
        case 'j':
          st_.push_back(memo(le<uint32_t>()));
          break;     // LONG_BINGET
        case 'c': {  // GLOBAL
          std::string module = line();
          push_global(module + "." + line());
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const std::string name = string_of(pop()), module = string_of(pop());
          push_global(module + "." + name);
          break;
        }
        case 'a': {  // APPEND
          Item x = pop();
          list_of(top()).push_back(x.value);
          break;
        }
        case 'e': {  // APPENDS
          auto xs = since_mark();
          auto& l = list_of(top());
          for (auto& x : xs) l.push_back(x.value);
          break;
        }
        case 's': {  // SETITEM
          Item v = pop(), k = pop();
          dict_of(top()).emplace_back(k.value, v.value);
          break;
        }
        case 'u': {  // SETITEMS
          auto xs = since_mark();
          if (xs.size() % 2 != 0) throw std::runtime_error("SETITEMS with an odd item count");
          auto& d = dict_of(top());
          for (size_t i = 0; i < xs.size(); i += 2) d.emplace_back(xs[i].value, xs[i + 1].value);
          break;
        }
        case 'R': {  // REDUCE
          Item args = pop(), f = pop();
          push_item(reduce(f, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
          pop();
          Item cls = pop();
          push(opaque(cls));
          break;
        }
        case 'b':
          pop();
          break;  // BUILD: an object's state (OrderedDict._metadata, __dict__)
        case 'Q':
          push_item(persistent(pop()));
          break;  // BINPERSID
        default:
          throw std::runtime_error(
              fmt::format("unsupported pickle opcode 0x{:02x} at byte {}", op, pos_ - 1));
      }
    }
  }

 private:
  char byte() {
    if (pos_ >= n_) throw std::runtime_error("the pickle ends early (truncated file?)");
    return d_[pos_++];
  }
  const char* take(size_t k) {
    if (k > n_ - pos_) throw std::runtime_error("the pickle ends early (truncated file?)");
    const char* p = d_ + pos_;
    pos_ += k;
    return p;
  }
  std::string take_string(size_t k) { return std::string(take(k), k); }
  template <typename T>
  T le() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));  // pickle integers are little-endian, as is x86
    return v;
  }
  int64_t long1() {
    const auto k = static_cast<uint8_t>(byte());
    if (k > 8) throw std::runtime_error("an integer of more than 64 bits");
    const char* p = take(k);
    uint64_t v = 0;
    for (size_t i = 0; i < k; ++i)
      v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
    if (k > 0 && k < 8 && (static_cast<uint8_t>(p[k - 1]) & 0x80) != 0)
      v |= ~uint64_t{0} << (8 * k);
    return static_cast<int64_t>(v);
  }
  double binfloat() {  // big-endian IEEE 754
    const char* p = take(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(p[i]);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  std::string line() {
    std::string s;
    for (char c = byte(); c != '\n'; c = byte()) s += c;
    return s;
  }

  void push(SavedValue v) {
    Item it;
    it.value = std::move(v);
    st_.push_back(std::move(it));
  }
  void push_item(Item it) { st_.push_back(std::move(it)); }
  void push_tuple(std::vector<Item> xs) {
    Item it;
    SavedValue::List l;
    for (const auto& x : xs) l.push_back(x.value);
    it.value.v = std::move(l);
    it.tuple = std::make_shared<std::vector<Item>>(std::move(xs));
    st_.push_back(std::move(it));
  }
  void push_global(std::string name) {
    Item it;
    it.global = std::make_shared<Global>(Global{std::move(name)});
    it.value.v = SavedValue::Opaque{it.global->name};
    st_.push_back(std::move(it));
  }
  Item pop() {
    if (st_.empty() || (!marks_.empty() && st_.size() == marks_.back())) {
      throw std::runtime_error("pickle stack underflow");
    }
    Item it = std::move(st_.back());
    st_.pop_back();
    return it;
  }
  std::vector<Item> pop_n(size_t k) {
    std::vector<Item> xs(k);
    for (size_t i = k; i-- > 0;) xs[i] = pop();
    return xs;
  }
  std::vector<Item> since_mark() {
    if (marks_.empty()) throw std::runtime_error("pickle MARK missing");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Item> xs(std::make_move_iterator(st_.begin() + static_cast<std::ptrdiff_t>(m)),
                         std::make_move_iterator(st_.end()));
    st_.resize(m);
    return xs;
  }
  Item& top() {
    if (st_.empty()) throw std::runtime_error("pickle stack underflow");
    return st_.back();
  }
  Item memo(uint32_t k) const {
    const auto it = memo_.find(k);
    if (it == memo_.end()) throw std::runtime_error("pickle memo entry missing");
    return it->second;
  }
  static SavedValue::List& list_of(Item& it) {
    if (!std::holds_alternative<SavedValue::List>(it.value.v)) {
      throw std::runtime_error("APPEND to something not a list");
    }
    return std::get<SavedValue::List>(it.value.v);
  }
  static SavedValue::Dict& dict_of(Item& it) {
    if (!it.value.is_dict()) throw std::runtime_error("SETITEM on something not a dict");
    return *std::get<std::shared_ptr<SavedValue::Dict>>(it.value.v);
  }
  static std::string string_of(const Item& it) {
    if (!it.value.is_string()) throw std::runtime_error("STACK_GLOBAL without strings");
    return std::get<std::string>(it.value.v);
  }
  static SavedValue opaque(const Item& cls) {
    return SavedValue{SavedValue::Opaque{cls.global ? cls.global->name : "object"}};
  }
  static const std::vector<Item>& args_of(const Item& t) {
    if (!t.tuple) throw std::runtime_error("arguments that are not a tuple");
    return *t.tuple;
  }

  Item reduce(const Item& f, const Item& args) {
    const std::string name = f.global ? f.global->name : "";
    Item out;
    if (name == "collections.OrderedDict") {
      out.value.v = std::make_shared<SavedValue::Dict>();
    } else if (name == "torch._utils._rebuild_tensor_v2" ||
               name == "torch._utils._rebuild_tensor") {
      const auto& a = args_of(args);
      if (a.size() < 4 || !a[0].storage) throw std::runtime_error(name + " without a storage");
      const torch::Tensor& flat = a[0].storage->flat;
      const int64_t offset = std::get<int64_t>(a[1].value.v);
      const std::vector<int64_t> size = ints(a[2]), stride = ints(a[3]);
      int64_t last = offset;  // the largest element index the view reaches
      for (size_t i = 0; i < size.size(); ++i) {
        if (size[i] == 0) last = -1;
        if (last >= 0) last += (size[i] - 1) * stride[i];
      }
      if (last >= flat.numel()) throw std::runtime_error("a tensor reaches past its storage");
      out.value.v = flat.as_strided(size, stride, offset);
    } else if (name == "torch._utils._rebuild_parameter" ||
               name == "torch._utils._rebuild_parameter_with_state") {
      const auto& a = args_of(args);
      if (a.empty() || !a[0].value.is_tensor()) throw std::runtime_error(name + " without data");
      out.value = a[0].value;
    } else {
      out.value = opaque(f);
    }
    return out;
  }

  static std::vector<int64_t> ints(const Item& t) {
    std::vector<int64_t> v;
    const auto* l = std::get_if<SavedValue::List>(&t.value.v);
    if (l == nullptr) throw std::runtime_error("a tensor's size or stride is not a tuple");
    for (const auto& x : *l) v.push_back(std::get<int64_t>(x.v));
    return v;
  }

  Item persistent(const Item& pid) {
    // ('storage', <storage class>, key, location, numel)
    const auto& a = args_of(pid);
    if (a.size() < 5 || !a[1].global) throw std::runtime_error("an unknown persistent id");
    const std::string key = std::get<std::string>(a[2].value.v);
    const int64_t numel = std::get<int64_t>(a[4].value.v);
    auto& s = storages_[key];
    if (!s) {
      const torch::ScalarType dtype = storage_dtype(a[1].global->name);
      const size_t nbytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
      s = std::make_shared<Storage>();
      s->flat = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
      if (nbytes > 0) {
        const std::string record = "data/" + key;
        if (!reader_.hasRecord(record)) throw std::runtime_error("no record " + record);
        auto [ptr, got] = reader_.getRecord(record);
        if (got < nbytes) {
          throw std::runtime_error(
              fmt::format("record {} holds {} bytes, its storage needs {}", record, got, nbytes));
        }
        std::memcpy(s->flat.data_ptr(), ptr.get(), nbytes);
      }
    }
    Item out;
    out.storage = s;
    out.value.v = SavedValue::Opaque{"storage"};
    return out;
  }

  caffe2::serialize::PyTorchStreamReader& reader_;
  const char* d_;
  size_t n_;
  size_t pos_ = 0;
  std::vector<Item> st_;
  std::vector<size_t> marks_;
  std::map<uint32_t, Item> memo_;
  std::map<std::string, std::shared_ptr<Storage>> storages_;
};

bool starts_with_zip(const std::filesystem::path& file, bool* legacy) {
  std::ifstream in(file, std::ios::binary);
  char head[4] = {0, 0, 0, 0};
  in.read(head, 4);
  if (legacy != nullptr) {
    // pickle PROTO 2 then LONG1 of 10 bytes: the legacy format's magic number
    *legacy = in.gcount() == 4 && static_cast<uint8_t>(head[0]) == 0x80 && head[1] == 2 &&
              static_cast<uint8_t>(head[2]) == 0x8a && head[3] == 0x0a;
  }
  return in.gcount() == 4 && std::memcmp(head, "PK\x03\x04", 4) == 0;
}

}  // namespace

std::string SavedValue::describe() const {
  struct Visit {
    std::string operator()(std::monostate) const { return "None"; }
    std::string operator()(bool) const { return "a bool"; }
    std::string operator()(int64_t) const { return "an int"; }
    std::string operator()(double) const { return "a float"; }
    std::string operator()(const std::string&) const { return "a string"; }
    std::string operator()(const torch::Tensor& t) const {
      return "a tensor " + c10::str(t.sizes());
    }
    std::string operator()(const List& l) const { return "a list of " + std::to_string(l.size()); }
    std::string operator()(const std::shared_ptr<Dict>& d) const {
      return "a dict of " + std::to_string(d->size()) + " entries";
    }
    std::string operator()(const Opaque& o) const { return "a " + o.type; }
  };
  return std::visit(Visit{}, v);
}

bool is_torch_save_file(const std::filesystem::path& file) {
  try {
    if (!starts_with_zip(file, nullptr)) return false;
    caffe2::serialize::PyTorchStreamReader reader(file.string());
    return reader.hasRecord("data.pkl") && !reader.hasRecord("constants.pkl");
  } catch (const std::exception&) {
    return false;
  }
}

SavedValue read_torch_save(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw bad_torch_save(file, "no such file");
  bool legacy = false;
  if (!starts_with_zip(file, &legacy)) {
    throw bad_torch_save(
        file, legacy ? "written in torch.save's legacy format (PyTorch < 1.6); re-save it "
                       "in Python with torch.save(torch.load(f, weights_only=True), new_f)"
                     : "not a zip archive (neither torch.save's format nor truncated?)");
  }
  try {
    caffe2::serialize::PyTorchStreamReader reader(file.string());
    if (!reader.hasRecord("data.pkl")) throw bad_torch_save(file, "the archive has no data.pkl");
    auto [data, size] = reader.getRecord("data.pkl");
    Unpickler u(reader, static_cast<const char*>(data.get()), size);
    return u.run();
  } catch (const DataError&) {
    throw;
  } catch (const c10::Error& e) {
    throw bad_torch_save(
        file, std::string("unreadable archive (truncated?): ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw bad_torch_save(file, e.what());
  }
}

}  // namespace sfb::models
