#include <cmath>

#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

namespace sp {

template <typename T>
SP_MULTIVERSION static void rmsnorm_rows(float* out, float* rstd, const T* inp, const float* w, int64_t r0,
                                         int64_t r1, int64_t C, float eps, uint16_t* inp16) {
  for (int64_t r = r0; r < r1; r++) {
    const T* x = inp + r * C;
    float* y = out + r * C;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < C; i++) ss += ld(x, i) * ld(x, i);
    // T5LayerNorm: variance = hidden_states.pow(2).mean(-1); hidden_states * torch.rsqrt(variance + eps)
    float rs = 1.0f / std::sqrt(ss / C + eps);
    for (int64_t i = 0; i < C; i++) y[i] = w[i] * (ld(x, i) * rs);
    if (rstd != nullptr) rstd[r] = rs;
    if (inp16 != nullptr)
      for (int64_t i = 0; i < C; i++) inp16[r * C + i] = to_bf16(ld(x, i));
  }
}

void rmsnorm_forward(float* out, float* rstd, Src inp, const float* w, int64_t N, int64_t C, float eps,
                     uint16_t* inp16) {
  parallel_for(N, 16, [&](int64_t r0, int64_t r1) {
    if (inp.h != nullptr) rmsnorm_rows(out, rstd, inp.h, w, r0, r1, C, eps, inp16);
    else rmsnorm_rows(out, rstd, inp.f, w, r0, r1, C, eps, inp16);
  });
}

template <typename T>
SP_MULTIVERSION static void rmsnorm_backward_rows(float* dinp, const float* dout, const T* inp, const float* w,
                                                  const float* rstd, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const T* x = inp + r * C;
    const float* dy = dout + r * C;
    float* dx = dinp + r * C;
    const float rs = rstd[r];
    // y_j = w_j x_j rs, rs = (mean(x^2)+eps)^-1/2  =>  dx_j = rs (w_j dy_j - x_j rs^2 mean_i(w_i dy_i x_i))
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < C; i++) dot += w[i] * dy[i] * ld(x, i);
    const float c = rs * rs * dot / C;
    for (int64_t i = 0; i < C; i++) dx[i] += rs * (w[i] * dy[i] - ld(x, i) * c);
  }
}

template <typename T>
static void rmsnorm_backward_t(float* dinp, float* dw, const float* dout, const T* inp, const float* w,
                               const float* rstd, int64_t N, int64_t C) {
  if (dinp != nullptr)
    parallel_for(N, 16, [&](int64_t r0, int64_t r1) { rmsnorm_backward_rows(dinp, dout, inp, w, rstd, r0, r1, C); });
  if (dw != nullptr) {
    parallel_for(C, 16, [&](int64_t c0, int64_t c1) {
      for (int64_t r = 0; r < N; r++)
        for (int64_t i = c0; i < c1; i++) dw[i] += dout[r * C + i] * ld(inp, r * C + i) * rstd[r];
    });
  }
}

void rmsnorm_backward(float* dinp, float* dw, const float* dout, Src inp, const float* w, const float* rstd,
                      int64_t N, int64_t C) {
  if (inp.h != nullptr) rmsnorm_backward_t(dinp, dw, dout, inp.h, w, rstd, N, C);
  else rmsnorm_backward_t(dinp, dw, dout, inp.f, w, rstd, N, C);
}

SP_MULTIVERSION
static void layernorm_rows(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                           int64_t r0, int64_t r1, int64_t C, float eps) {
  for (int64_t r = r0; r < r1; r++) {
    const float* x = inp + r * C;
    float* y = out + r * C;
    float m = 0.0f;
    for (int64_t i = 0; i < C; i++) m += x[i];
    m /= C;
    float v = 0.0f;
    for (int64_t i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
    v /= C;
    float rs = 1.0f / std::sqrt(v + eps);
    for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) * rs * w[i] + (b != nullptr ? b[i] : 0.0f);
    if (mean != nullptr) mean[r] = m;
    if (rstd != nullptr) rstd[r] = rs;
  }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                       int64_t N, int64_t C, float eps) {
  parallel_for(N, 16, [&](int64_t r0, int64_t r1) { layernorm_rows(out, mean, rstd, inp, w, b, r0, r1, C, eps); });
}

SP_MULTIVERSION
static void layernorm_backward_rows(float* dinp, const float* dout, const float* inp, const float* w,
                                    const float* mean, const float* rstd, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const float* x = inp + r * C;
    const float* dy = dout + r * C;
    float* dx = dinp + r * C;
    const float m = mean[r], rs = rstd[r];
    float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
    for (int64_t i = 0; i < C; i++) {
      float norm = (x[i] - m) * rs;
      float dn = w[i] * dy[i];
      dnorm_mean += dn;
      dnorm_norm_mean += dn * norm;
    }
    dnorm_mean /= C;
    dnorm_norm_mean /= C;
    for (int64_t i = 0; i < C; i++) {
      float norm = (x[i] - m) * rs;
      float dn = w[i] * dy[i];
      dx[i] += (dn - dnorm_mean - norm * dnorm_norm_mean) * rs;
    }
  }
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int64_t N, int64_t C) {
  if (dinp != nullptr)
    parallel_for(N, 16, [&](int64_t r0, int64_t r1) {
      layernorm_backward_rows(dinp, dout, inp, w, mean, rstd, r0, r1, C);
    });
  if (dw != nullptr || db != nullptr) {
    parallel_for(C, 16, [&](int64_t c0, int64_t c1) {
      for (int64_t r = 0; r < N; r++)
        for (int64_t i = c0; i < c1; i++) {
          float d = dout[r * C + i];
          if (dw != nullptr) dw[i] += d * (inp[r * C + i] - mean[r]) * rstd[r];
          if (db != nullptr) db[i] += d;
        }
    });
  }
}

}  // namespace sp
