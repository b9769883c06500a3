// initialize(): Keras's initialisers from a seed, one PRNG stream per variable.
#include <cmath>
#include <cstring>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/random.h"

namespace cnnc {

namespace {

// Keras divides by this so that the truncated normal keeps the wanted stddev.
constexpr double kTruncatedStddevCorrection = 0.87962566103423978;

void check_fans(const ParamInfo& p) {
  if (p.fan_in <= 0 || p.fan_out <= 0) {
    throw Error(std::string("variable '") + p.name + "' has fans " + std::to_string(p.fan_in) +
                    "/" + std::to_string(p.fan_out) +
                    "; Glorot/He initialisers need positive fans (a compiler bug: report it)",
                1);
  }
}

void fill_variable(const ParamInfo& p, float* w, uint64_t seed, uint64_t index) {
  detail::Rng rng(seed, detail::Stream::Init, index);
  switch (p.init) {
    case Init::Zeros:
    case Init::Ones: {
      float value = p.init == Init::Ones ? 1.0f : 0.0f;
      for (size_t i = 0; i < p.size; ++i) w[i] = value;
      return;
    }
    case Init::GlorotUniform:
    case Init::HeUniform: {
      check_fans(p);
      double limit = p.init == Init::GlorotUniform ? std::sqrt(6.0 / double(p.fan_in + p.fan_out))
                                                   : std::sqrt(6.0 / double(p.fan_in));
      for (size_t i = 0; i < p.size; ++i) {
        w[i] = static_cast<float>(limit * (2.0 * rng.uniform() - 1.0));
      }
      return;
    }
    case Init::GlorotNormal:
    case Init::HeNormal: {
      check_fans(p);
      double stddev = p.init == Init::GlorotNormal ? std::sqrt(2.0 / double(p.fan_in + p.fan_out))
                                                   : std::sqrt(2.0 / double(p.fan_in));
      stddev /= kTruncatedStddevCorrection;
      for (size_t i = 0; i < p.size; ++i) {
        w[i] = static_cast<float>(stddev * rng.truncated_normal());
      }
      return;
    }
  }
  throw Error(std::string("variable '") + p.name + "' has an unknown initialiser", 1);
}

}  // namespace

void initialize(Network& net, uint64_t seed) {
  const ModelInfo& info = net.info();
  float* params = net.params();
  for (size_t i = 0; i < info.params.size(); ++i) {
    const ParamInfo& p = info.params[i];
    if (p.offset + p.size > info.param_floats) {
      throw Error(std::string("variable '") + p.name + "' lies outside the parameter block", 1);
    }
    fill_variable(p, params + p.offset, seed, i);
  }
  std::memset(net.velocity(), 0, info.param_floats * sizeof(float));
}

}  // namespace cnnc
