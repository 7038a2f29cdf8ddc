#include "experiments/common/options.hpp"

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "experiments/common/output.hpp"
#include "experiments/common/parallel.hpp"

namespace experiments {

double Context::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Experiment::Experiment(std::string name, std::string description) : app_(std::move(description), name) {
  context_.name = std::move(name);
  context_.threads = std::max(1u, std::thread::hardware_concurrency());
  out_ = "results/" + context_.name;
  app_.add_option("--seed", context_.seed, "base seed of every random stream (draw k uses seed + k)")
      ->capture_default_str();
  app_.add_option("--threads", context_.threads, "worker threads (default: all cores); results do not depend on it")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app_.add_option("--out", out_, "output folder")->capture_default_str();
  app_.add_flag("--quick", context_.quick, "small sizes: runs in seconds (what the tests run)");
}

CLI::Option* Experiment::last_option() {
  const auto options = app_.get_options();
  return options.empty() ? nullptr : const_cast<CLI::Option*>(options.back());
}

void require(bool ok, const std::string& flag, const std::string& message) {
  if (!ok) throw std::invalid_argument(fmt::format("{}: {}", flag, message));
}

int Experiment::main(int argc, char** argv, const std::function<void(const Context&)>& body) {
  context_.start = std::chrono::steady_clock::now();
  for (int i = 0; i < argc; ++i) context_.command_line += (i ? " " : "") + std::string(argv[i]);
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", context_.name.c_str(), e.what());
    return 2;
  }
  if (context_.quick)
    for (const auto& override_value : overrides_) override_value();
  context_.out = out_;
  try {
    prepare_output_folder(context_.out);
    // OpenBLAS on one thread for the whole run: a product split over another number of BLAS
    // threads may round differently, and results must not depend on --threads. (Parallelism
    // comes from the experiment's own sweeps; one that wants BLAS threads for a large product
    // raises them there with BlasThreads and keeps its outputs independent of them.)
    const BlasThreads single_threaded_blas(1);
    body(context_);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: error: %s\n", context_.name.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", context_.name.c_str(), e.what());
    return 1;
  }
  return 0;
}

}  // namespace experiments
