#include <cmath>

#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

namespace sp {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

// y = f(x) and f'(x) for each activation.
inline float act_value(int act, float x) {
  switch (act) {
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ACT_GELU_TANH: {  // HF gelu_new / NewGELUActivation
      float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + fast_tanhf(u));
    }
    case ACT_GELU_ERF: return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
    default: return x / (1.0f + fast_expf(-x));  // ACT_SILU
  }
}

inline float act_grad(int act, float x) {
  switch (act) {
    case ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case ACT_GELU_TANH: {
      float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
      float t = fast_tanhf(u);
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
    }
    case ACT_GELU_ERF: return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * fast_expf(-0.5f * x * x);
    default: {
      float s = 1.0f / (1.0f + fast_expf(-x));
      return s * (1.0f + x * (1.0f - s));
    }
  }
}

template <int ACT>
SP_MULTIVERSION void act_fwd_range(float* out, const float* inp, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) out[i] = act_value(ACT, inp[i]);
}
template <int ACT>
SP_MULTIVERSION void act_fwd_save_range(float* out, uint16_t* inp16, const float* inp, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) {
    out[i] = act_value(ACT, inp[i]);
    inp16[i] = to_bf16(inp[i]);
  }
}
template <int ACT, typename T>
SP_MULTIVERSION void act_bwd_range(float* dinp, const float* dout, const T* inp, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) dinp[i] += dout[i] * act_grad(ACT, ld(inp, i));
}
template <int ACT>
SP_MULTIVERSION void gated_fwd_range(float* out, const float* a, const float* g, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) out[i] = act_value(ACT, a[i]) * g[i];
}
template <int ACT>
SP_MULTIVERSION void gated_fwd_save_range(float* out, uint16_t* a16, uint16_t* g16, const float* a, const float* g,
                                          int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) {
    out[i] = act_value(ACT, a[i]) * g[i];
    a16[i] = to_bf16(a[i]);
    g16[i] = to_bf16(g[i]);
  }
}
template <int ACT, typename T>
SP_MULTIVERSION void gated_bwd_range(float* da, float* dg, const float* dout, const T* a, const T* g, int64_t b,
                                     int64_t e) {
  for (int64_t i = b; i < e; i++) {
    const float ai = ld(a, i), gi = ld(g, i);
    if (da != nullptr) da[i] += dout[i] * gi * act_grad(ACT, ai);
    if (dg != nullptr) dg[i] += dout[i] * act_value(ACT, ai);
  }
}

template <typename F>
void dispatch(int act, F&& f) {
  switch (act) {
    case ACT_RELU: f(std::integral_constant<int, ACT_RELU>{}); break;
    case ACT_GELU_TANH: f(std::integral_constant<int, ACT_GELU_TANH>{}); break;
    case ACT_GELU_ERF: f(std::integral_constant<int, ACT_GELU_ERF>{}); break;
    default: f(std::integral_constant<int, ACT_SILU>{}); break;
  }
}

constexpr int64_t kGrain = 1 << 14;

}  // namespace

void act_forward(int act, float* out, const float* inp, int64_t n, uint16_t* inp16) {
  dispatch(act, [&](auto a) {
    constexpr int A = decltype(a)::value;
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      if (inp16 != nullptr) act_fwd_save_range<A>(out, inp16, inp, b, e);
      else act_fwd_range<A>(out, inp, b, e);
    });
  });
}
void act_backward(int act, float* dinp, const float* dout, Src inp, int64_t n) {
  dispatch(act, [&](auto a) {
    constexpr int A = decltype(a)::value;
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      if (inp.h != nullptr) act_bwd_range<A>(dinp, dout, inp.h, b, e);
      else act_bwd_range<A>(dinp, dout, inp.f, b, e);
    });
  });
}
void gated_forward(int act, float* out, const float* a, const float* g, int64_t n, uint16_t* a16, uint16_t* g16) {
  dispatch(act, [&](auto k) {
    constexpr int A = decltype(k)::value;
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      if (a16 != nullptr && g16 != nullptr) gated_fwd_save_range<A>(out, a16, g16, a, g, b, e);
      else gated_fwd_range<A>(out, a, g, b, e);
    });
  });
}
void gated_backward(int act, float* da, float* dg, const float* dout, Src a, Src g, int64_t n) {
  dispatch(act, [&](auto k) {
    constexpr int A = decltype(k)::value;
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      if (a.h != nullptr) gated_bwd_range<A>(da, dg, dout, a.h, g.h, b, e);
      else gated_bwd_range<A>(da, dg, dout, a.f, g.f, b, e);
    });
  });
}

}  // namespace sp
