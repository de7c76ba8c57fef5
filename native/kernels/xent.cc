#include <atomic>
#include <cmath>

#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

namespace sp {
namespace {

SP_MULTIVERSION float row_max(const float* x, int64_t V) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t j = 1; j < V; j++) m = x[j] > m ? x[j] : m;
  return m;
}
SP_MULTIVERSION float row_sumexp(const float* x, float m, int64_t V) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < V; j++) s += fast_expf(x[j] - m);
  return s;
}
SP_MULTIVERSION void row_grad(float* dx, const float* x, float lse, float scale, int64_t V) {
  for (int64_t j = 0; j < V; j++) dx[j] = fast_expf(x[j] - lse) * scale;
}

}  // namespace

int64_t cross_entropy(float* losses, float* lse, float* dlogits, const float* logits, const int32_t* targets,
                      int64_t N, int64_t V, float gradScale, int32_t ignoreIndex) {
  for (int64_t n = 0; n < N; n++)
    if (targets[n] != ignoreIndex && (targets[n] < 0 || targets[n] >= V)) return -(n + 1);
  std::atomic<int64_t> valid{0};
  parallel_for(N, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t n = r0; n < r1; n++) {
      const float* x = logits + n * V;
      const int32_t t = targets[n];
      const float m = row_max(x, V);
      const float l = m + std::log(row_sumexp(x, m, V));
      if (lse != nullptr) lse[n] = l;
      const bool ignored = t == ignoreIndex;
      if (!ignored) valid++;
      if (losses != nullptr) losses[n] = ignored ? 0.0f : l - x[t];
      if (dlogits != nullptr) {
        float* dx = dlogits + n * V;
        if (ignored) {
          for (int64_t j = 0; j < V; j++) dx[j] = 0.0f;
        } else {
          row_grad(dx, x, l, gradScale, V);
          dx[t] -= gradScale;
        }
      }
    }
  });
  return valid.load();
}

void argmax_rows(int32_t* out, const float* x, int64_t N, int64_t V) {
  parallel_for(N, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t n = r0; n < r1; n++) {
      const float* row = x + n * V;
      int64_t best = 0;
      float bestV = row[0];
      for (int64_t j = 1; j < V; j++)
        if (row[j] > bestV) {
          bestV = row[j];
          best = j;
        }
      out[n] = static_cast<int32_t>(best);
    }
  });
}

}  // namespace sp
