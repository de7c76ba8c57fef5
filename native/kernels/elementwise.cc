#include <cstring>

#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

namespace sp {
namespace {

constexpr int64_t kGrain = 1 << 15;

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

SP_MULTIVERSION void add_range(float* out, const float* a, const float* b, int64_t s, int64_t e) {
  for (int64_t i = s; i < e; i++) out[i] = a[i] + b[i];
}
SP_MULTIVERSION void axpy_range(float* y, const float* x, float alpha, int64_t s, int64_t e) {
  for (int64_t i = s; i < e; i++) y[i] += alpha * x[i];
}
SP_MULTIVERSION void scale_range(float* x, float alpha, int64_t s, int64_t e) {
  for (int64_t i = s; i < e; i++) x[i] *= alpha;
}

}  // namespace

uint64_t dropout_seed_hash(uint64_t seed) { return splitmix64(seed); }

bool dropout_keep(uint64_t seedHash, uint64_t i, float p) {
  // 24 random bits -> uniform in [0, 1)
  float u = static_cast<float>(splitmix64(seedHash ^ i) >> 40) * (1.0f / 16777216.0f);
  return u >= p;
}

void add_forward(float* out, const float* a, const float* b, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) { add_range(out, a, b, s, e); });
}
void axpy(float* y, const float* x, float alpha, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) { axpy_range(y, x, alpha, s, e); });
}
void scale_inplace(float* x, float alpha, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) { scale_range(x, alpha, s, e); });
}

void fill_zero(float* x, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t s, int64_t e) { std::memset(x + s, 0, static_cast<size_t>(e - s) * sizeof(float)); });
}

int64_t embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t V) {
  for (int64_t r = 0; r < N; r++)
    if (ids[r] < 0 || ids[r] >= V) return r;
  parallel_for(N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) std::memcpy(out + r * C, table + static_cast<int64_t>(ids[r]) * C, C * 4);
  });
  return -1;
}

void embedding_backward(float* dtable, const int32_t* ids, const float* dout, int64_t N, int64_t C) {
  // Threads split the columns, not the rows: two rows with the same id never race, and each thread reads
  // every row once in order (the C-wide rows are long, so the column slices stay vector-friendly).
  parallel_for(C, 64, [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < N; r++) {
      float* dst = dtable + static_cast<int64_t>(ids[r]) * C;
      const float* src = dout + r * C;
      for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
    }
  });
}

void dropout_forward(float* out, uint8_t* keep, const float* inp, float p, uint64_t seed, int64_t n) {
  const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const uint64_t base = dropout_seed_hash(seed);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      uint8_t k = dropout_keep(base, static_cast<uint64_t>(i), p) ? 1 : 0;
      keep[i] = k;
      out[i] = k ? inp[i] * s : 0.0f;
    }
  });
}

void dropout_backward(float* dinp, const float* dout, const uint8_t* keep, float p, int64_t n) {
  const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) dinp[i] = keep[i] ? dout[i] * s : 0.0f;
  });
}

}  // namespace sp
