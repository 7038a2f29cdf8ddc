// Neural-network models as f(x, w) with one flat weight vector: include this one header.
#pragma once

#include "nn/activation.hpp"
#include "nn/dense.hpp"
#include "nn/io.hpp"
#include "nn/mlp.hpp"
#include "nn/model.hpp"
#include "nn/random.hpp"
#include "nn/sgd.hpp"
#include "nn/train.hpp"
#include "nn/wrappers.hpp"
