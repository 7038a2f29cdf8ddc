// Why: every experiment binary answers the same questions the same way — which seed, how many
// threads, where the results go, and whether this is a quick run — so a reader who knows one
// experiment's command line knows them all, and every failure looks alike: one line on stderr
// naming what was wrong, exit status 2 for a bad command line and 1 for anything else.
//
//   int main(int argc, char** argv) {
//     Settings s;                                  // defaults = the post's settings
//     experiments::Experiment e("lazy-weights", "How far the weights move ...");
//     e.app().add_option("--widths", s.widths, "hidden widths")->capture_default_str();
//     e.quick(s.widths, {10, 100});               // --quick uses this unless --widths is given
//     return e.main(argc, argv, [&](const experiments::Context& ctx) { ... });
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace experiments {

struct Context {
  std::string name;                 // e.g. "kappa-width"
  std::uint64_t seed = 0;           // --seed: the base of every random stream of the run
  unsigned threads = 1;             // --threads (default: all cores)
  std::filesystem::path out;        // --out (default: results/<name>)
  bool quick = false;               // --quick: small sizes, seconds
  std::string command_line;         // as typed, for summary.json
  std::chrono::steady_clock::time_point start;
  double seconds() const;           // since start
  std::filesystem::path file(const std::string& name) const { return out / name; }
};

class Experiment {
 public:
  Experiment(std::string name, std::string description);

  // Add the experiment's own options here before main().
  CLI::App& app() { return app_; }

  // Under --quick, `value` becomes `quick_value` unless its option was given on the command line.
  // Call after adding the option that writes `value`.
  template <class T>
  void quick(T& value, T quick_value) {
    CLI::Option* option = last_option();
    overrides_.push_back([option, &value, quick_value = std::move(quick_value)] {
      if (option == nullptr || option->count() == 0) value = quick_value;
    });
  }

  // Parses the command line, prepares the output folder and runs body. Errors thrown by body
  // (or by the parsing) become one line on stderr and a nonzero exit status.
  int main(int argc, char** argv, const std::function<void(const Context&)>& body);

 private:
  CLI::Option* last_option();

  CLI::App app_;
  Context context_;
  std::string out_;
  std::vector<std::function<void()>> overrides_;
};

// Throws std::invalid_argument("--flag: message") unless ok: for checks of option values that
// CLI11's validators do not express (a list's order, one option against another).
void require(bool ok, const std::string& flag, const std::string& message);

}  // namespace experiments
