// The whole AD core: include this one header.
#pragma once

#include "autodiff/anomaly.hpp"
#include "autodiff/backward.hpp"
#include "autodiff/dot.hpp"
#include "autodiff/explain.hpp"
#include "autodiff/gradcheck.hpp"
#include "autodiff/linear_operator.hpp"
#include "autodiff/listing.hpp"
#include "autodiff/observe.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "autodiff/transforms.hpp"
