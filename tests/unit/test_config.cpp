#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "core/error.hpp"

namespace sfb {
namespace {

struct Fixture {
  CommonConfig common;
  int64_t iters = 20;
  double eps = 8.0 / 255;
  bool check = true;
  std::vector<double> ratios{0.0, 0.5};
  std::vector<std::string> attacks{"fgsm"};
  std::string mode = "fast";
  ConfigSchema schema;
  Fixture() {
    common.register_keys(schema);
    schema.add_int("bench.iters", &iters, "iterations", 1, 1000);
    schema.add_float("attack.eps", &eps, "radius", 0.0, 1.0);
    schema.add("bench.check", &check, "verify");
    schema.add("interactions.ratios", &ratios, "orders");
    schema.add("attack.names", &attacks, "attacks");
    schema.add("attack.mode", &mode, "mode", {"fast", "standard"});
  }
};

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError thrown";
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(Config, DefaultsSurviveAnEmptyFile) {
  Fixture f;
  f.schema.load_string("", "empty");
  EXPECT_EQ(f.iters, 20);
  EXPECT_EQ(f.common.device, "auto");
}

TEST(Config, FileThenOverridesInOrder) {
  Fixture f;
  f.schema.load_string(
      "seed = 7\n[bench]\niters = 5\n[attack]\neps = 1\nnames = [\"pgd\", \"cw\"]\n", "a.toml");
  EXPECT_EQ(f.common.seed, 7);
  EXPECT_EQ(f.iters, 5);
  EXPECT_DOUBLE_EQ(f.eps, 1.0);  // an integer is accepted for a float key
  EXPECT_EQ(f.attacks, (std::vector<std::string>{"pgd", "cw"}));
  f.schema.apply_override("bench.iters=9");
  f.schema.apply_override("bench.iters=11");
  f.schema.apply_override("out=runs/x y.h5");  // strings are taken literally
  f.schema.apply_override("interactions.ratios=[0.1, 1]");
  f.schema.apply_override("bench.check=false");
  f.schema.apply_override("attack.mode=\"standard\"");
  EXPECT_EQ(f.iters, 11);
  EXPECT_EQ(f.common.out, "runs/x y.h5");
  EXPECT_EQ(f.ratios, (std::vector<double>{0.1, 1.0}));
  EXPECT_FALSE(f.check);
  EXPECT_EQ(f.mode, "standard");
}

TEST(Config, UnknownKeyNamesKeyFileLineAndSuggestion) {
  Fixture f;
  auto m = message_of([&] { f.schema.load_string("seed = 1\n[bench]\niter = 3\n", "cfg.toml"); });
  EXPECT_TRUE(contains(m, "unknown config key 'bench.iter'")) << m;
  EXPECT_TRUE(contains(m, "cfg.toml line 3")) << m;
  EXPECT_TRUE(contains(m, "did you mean 'bench.iters'")) << m;
  auto m2 = message_of([&] { f.schema.load_string("[nosuch]\nx = 1\n", "cfg.toml"); });
  EXPECT_TRUE(contains(m2, "unknown config key 'nosuch'")) << m2;
  auto m3 = message_of([&] { f.schema.apply_override("bogus=1"); });
  EXPECT_TRUE(contains(m3, "'bogus'") && contains(m3, "--set bogus=1")) << m3;
}

TEST(Config, WrongTypeNamesKeyValueAndExpectedType) {
  Fixture f;
  auto m = message_of([&] { f.schema.load_string("[bench]\niters = \"many\"\n", "c.toml"); });
  EXPECT_TRUE(contains(m, "'bench.iters'") && contains(m, "\"many\"") && contains(m, "a string") &&
              contains(m, "expected an integer"))
      << m;
  auto m2 = message_of([&] { f.schema.apply_override("bench.iters=2.5"); });
  EXPECT_TRUE(contains(m2, "2.5") && contains(m2, "expected an integer")) << m2;
  auto m3 = message_of([&] { f.schema.apply_override("bench.check=yes"); });
  EXPECT_TRUE(contains(m3, "'yes'") && contains(m3, "boolean")) << m3;
  auto m4 =
      message_of([&] { f.schema.load_string("[interactions]\nratios = [0.1, \"x\"]\n", "c"); });
  EXPECT_TRUE(contains(m4, "array containing a string")) << m4;
}

TEST(Config, RangesAndChoicesAreEnforced) {
  Fixture f;
  auto m = message_of([&] { f.schema.apply_override("bench.iters=0"); });
  EXPECT_TRUE(contains(m, "outside the allowed range [1, 1000]")) << m;
  auto m2 = message_of([&] { f.schema.apply_override("attack.eps=2"); });
  EXPECT_TRUE(contains(m2, "outside the allowed range")) << m2;
  auto m3 = message_of([&] { f.schema.apply_override("device=gpu"); });
  EXPECT_TRUE(contains(m3, "not one of auto|cpu|cuda")) << m3;
  auto m4 = message_of([&] { f.schema.apply_override("noequals"); });
  EXPECT_TRUE(contains(m4, "key=value")) << m4;
}

TEST(Config, SyntaxErrorsAndMissingFilesNameTheFile) {
  Fixture f;
  auto m = message_of([&] { f.schema.load_string("seed = = 3\n", "broken.toml"); });
  EXPECT_TRUE(contains(m, "broken.toml' line 1")) << m;
  auto m2 = message_of([&] { f.schema.load_file("/nonexistent/dir/x.toml"); });
  EXPECT_TRUE(contains(m2, "/nonexistent/dir/x.toml") && contains(m2, "no such file")) << m2;
}

TEST(Config, ResolvedTomlRoundTripsAndIsCanonical) {
  Fixture a;
  a.schema.apply_override("bench.iters=3");
  a.schema.apply_override("attack.names=[\"x\", \"y\"]");
  const std::string text = a.schema.to_toml();
  Fixture b;
  b.schema.load_string(text, "resolved");
  EXPECT_EQ(b.iters, 3);
  EXPECT_EQ(b.attacks, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(b.schema.to_toml(), text);
  auto j = a.schema.to_json();
  EXPECT_EQ(j["bench"]["iters"], 3);
  EXPECT_EQ(j["seed"], 0);
  Fixture c;
  EXPECT_NE(c.schema.to_toml(), text);
}

TEST(Config, DuplicateRegistrationIsAProgrammingError) {
  Fixture f;
  int64_t x = 0;
  EXPECT_THROW(f.schema.add("seed", &x, "again"), Error);
}

TEST(Config, LoadFileReadsRealFiles) {
  const auto p = std::filesystem::temp_directory_path() / "sfb_cfg_test.toml";
  std::ofstream(p) << "seed = 99\n[attack]\nmode = \"standard\"\n";
  Fixture f;
  f.schema.load_file(p);
  EXPECT_EQ(f.common.seed, 99);
  EXPECT_EQ(f.mode, "standard");
  std::filesystem::remove(p);
}

// A command's schema holds only its sections; `all` holds every command's keys.
TEST(Config, ScopedSchemaSkipsOtherCommandsSectionsOfAFileAndRefusesTheirOverrides) {
  Fixture all;
  CommonConfig common;
  double eps = 8.0 / 255;
  ConfigSchema sf;  // a command that reads the top-level keys and attack.eps only
  common.register_keys(sf);
  sf.add_float("attack.eps", &eps, "radius", 0.0, 1.0);
  sf.set_scope("sfbench sf", &all.schema);
  const std::vector<std::string> keys_before = sf.keys();
  sf.load_string("seed = 4\n[bench]\niters = 7\n[attack]\neps = 0.5\nmode = \"standard\"\n",
                 "f.toml");
  EXPECT_EQ(common.seed, 4);
  EXPECT_EQ(eps, 0.5);
  EXPECT_EQ(sf.keys(), keys_before);
  EXPECT_EQ(sf.to_toml().find("iters"), std::string::npos);  // not part of the resolved config
  EXPECT_EQ(sf.to_toml().find("mode"), std::string::npos);
  // Another command's keys in a file are still checked: a bad value or a typo fails.
  EXPECT_NE(
      message_of([&] { sf.load_string("[bench]\niters = 0\n", "g.toml"); }).find("'bench.iters'"),
      std::string::npos);
  EXPECT_NE(message_of([&] {
              sf.load_string("[bench]\niter = 2\n", "h.toml");
            }).find("unknown config key 'bench.iter'"),
            std::string::npos);
  // An override of another command's key is refused and names the sections this command reads.
  const std::string m = message_of([&] { sf.apply_override("bench.iters=3"); });
  EXPECT_NE(m.find("'bench.iters' (--set bench.iters=3) belongs to another command"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("sfbench sf reads only its top-level keys, [attack]"), std::string::npos) << m;
  // A key nobody knows is still "unknown".
  EXPECT_NE(message_of([&] { sf.apply_override("nope.x=1"); }).find("unknown config key 'nope.x'"),
            std::string::npos);
}

TEST(Config, RemoveIfDropsKeys) {
  Fixture f;
  f.schema.remove_if(
      [](const std::string& k) { return k.rfind("attack.", 0) == 0 && k != "attack.eps"; });
  EXPECT_TRUE(f.schema.has("attack.eps"));
  EXPECT_FALSE(f.schema.has("attack.mode"));
  EXPECT_FALSE(f.schema.has("attack.names"));
  EXPECT_TRUE(f.schema.has("bench.iters"));
}

}  // namespace
}  // namespace sfb
