#include "autodiff/anomaly.hpp"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "autodiff/listing.hpp"
#include "autodiff/observe.hpp"

namespace autodiff {

namespace detail {
thread_local bool t_detect_anomaly = false;
}  // namespace detail

namespace {

// "NaN at element 3 of shape [2, 4]", or nothing when every entry is finite.
std::optional<std::string> non_finite(const Tensor& t) {
  const double* data = t.data();
  for (std::size_t i = 0, n = t.size(); i < n; ++i)
    if (!std::isfinite(data[i]))
      return fmt::format("{} at element {} of shape {}", std::isnan(data[i]) ? "NaN" : data[i] > 0 ? "+inf" : "-inf", i,
                         to_string(t.shape()));
  return std::nullopt;
}

// "%7 = log(%5) at tape position 7, inputs: %5 [3]" (the op, its attributes, its inputs' shapes).
std::string where(const Tape& tape, std::uint32_t index) {
  const Node& node = tape.node(index);
  std::string out = fmt::format("{} at tape position {}", node_expression(tape, index), index);
  if (node.n_inputs > 0) {
    out += ", inputs:";
    for (std::uint32_t k = 0; k < node.n_inputs; ++k) {
      const std::uint32_t input = tape.input(node, k);
      out += fmt::format("{} %{} {}", k == 0 ? "" : ",", input, to_string(tape.node(input).value.shape()));
    }
  }
  return out;
}

[[noreturn]] void report(const Tape& tape, std::uint32_t index, const std::string& what) {
  throw AnomalyError(fmt::format("anomaly: {}: {}", where(tape, index), what), index, node_kind(tape.node(index)));
}

// Watches the adjoints of numeric reverse sweeps; forwards everything to the observer that was
// installed before it (explain mode, say), so both work together.
class AnomalyObserver final : public SweepObserver {
 public:
  explicit AnomalyObserver(SweepObserver* next) : next_(next), install_(*this) {}

  void begin(const Tape& tape, std::uint32_t output, const Tensor& seed) override {
    if (auto bad = non_finite(seed)) report(tape, output, fmt::format("the reverse sweep's seed has {}", *bad));
    if (next_ != nullptr) next_->begin(tape, output, seed);
  }
  void reached(const Tape& tape, std::uint32_t node, const Tensor& adjoint) override {
    // Contributions are checked as they come (below), so only a seed or a sum can be bad here.
    if (auto bad = non_finite(adjoint)) report(tape, node, fmt::format("its adjoint has {}", *bad));
    if (next_ != nullptr) next_->reached(tape, node, adjoint);
  }
  void contributed(const Tape& tape, std::uint32_t node, std::uint32_t position, const Tensor& adjoint,
                   const Tensor& term) override {
    if (auto bad = non_finite(term)) {
      const std::uint32_t input = tape.input(tape.node(node), position);
      throw AnomalyError(
          fmt::format("anomaly: the adjoint of {} became non-finite in the reverse sweep: the VJP rule of the forward "
                      "op {} gave {} for its input {} (its own adjoint is finite)",
                      where(tape, input), where(tape, node), *bad, position),
          input, node_kind(tape.node(input)));
    }
    if (next_ != nullptr) next_->contributed(tape, node, position, adjoint, term);
  }
  void end(const Tape& tape) override {
    if (next_ != nullptr) next_->end(tape);
  }

 private:
  SweepObserver* next_;
  ObserveSweeps install_;  // this observer is the thread's until it is destroyed
};

}  // namespace

namespace detail {

void check_pushed_node(const Tape& tape, std::uint32_t index) {
  const Node& node = tape.node(index);
  if (auto bad = non_finite(node.value)) report(tape, index, fmt::format("its value has {} (forward)", *bad));
  if (node.has_tangent)
    if (auto bad = non_finite(node.tangent)) report(tape, index, fmt::format("its tangent has {} (forward mode)", *bad));
}

}  // namespace detail

bool anomaly_detection_enabled() { return detail::t_detect_anomaly; }

DetectAnomaly::DetectAnomaly()
    : previous_enabled_(detail::t_detect_anomaly),
      previous_observer_(sweep_observer()),
      observer_(new AnomalyObserver(previous_observer_)) {
  detail::t_detect_anomaly = true;
}

DetectAnomaly::~DetectAnomaly() {
  delete observer_;  // restores previous_observer_ as the thread's sweep observer
  detail::t_detect_anomaly = previous_enabled_;
}

}  // namespace autodiff
