// Portable fast math for autovectorised loops. Kernels that use it are compiled for several ISAs
// (SP_MULTIVERSION) and the best one is picked at load time, so one binary runs on any x86-64.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SP_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SP_MULTIVERSION
#endif

namespace sp {

// exp(x) with ~2 ulp error for x in [-87, 88]; below -87 returns 0 (softmax masks rely on that).
// Branch-free so that loops calling it vectorise.
static inline float fast_expf(float x) {
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float log2e = 1.44269504088896341f;
  float t = xc * log2e;
  float fi = std::floor(t + 0.5f);
  float f = t - fi;  // [-0.5, 0.5]: degree-6 Taylor of 2^f is exact to ~1.2e-7 relative here
  float p = 1.5403530393381609e-4f;
  p = p * f + 1.3333558146428443e-3f;
  p = p * f + 9.6181291076284772e-3f;
  p = p * f + 5.5504108664821580e-2f;
  p = p * f + 2.4022650695910071e-1f;
  p = p * f + 6.9314718055994531e-1f;
  p = p * f + 1.0f;
  int32_t e = static_cast<int32_t>(fi) + 127;
  float scale = __builtin_bit_cast(float, e << 23);
  return x < -87.0f ? 0.0f : p * scale;
}

// bfloat16 bits <-> fp32: widening is exact; rounding is to nearest, ties to even (a NaN stays a NaN).
static inline float from_bf16(uint16_t h) { return __builtin_bit_cast(float, static_cast<uint32_t>(h) << 16); }
static inline uint16_t to_bf16(float f) {
  const uint32_t u = __builtin_bit_cast(uint32_t, f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
// Element i of an fp32 or bf16 operand, as fp32 (kernels templated on the saved activation's type).
static inline float ld(const float* p, int64_t i) { return p[i]; }
static inline float ld(const uint16_t* p, int64_t i) { return from_bf16(p[i]); }

static inline float fast_tanhf(float x) {
  // tanh(x) = 1 - 2 / (exp(2x) + 1), saturated for |x| > 9
  if (x > 9.0f) return 1.0f;
  if (x < -9.0f) return -1.0f;
  float e = fast_expf(2.0f * x);
  return (e - 1.0f) / (e + 1.0f);
}

}  // namespace sp
