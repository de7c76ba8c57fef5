// GEMMs go to OpenBLAS (pinned to one thread) and are split across the engine's pool: by rows when there are
// enough of them, by output columns otherwise (decoder steps have few rows but a wide vocab or d_ff).
#include <cblas.h>

#include <algorithm>

#include "kernels.h"
#include "thread_pool.h"

namespace sp {

void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = transB ? CblasTrans : CblasNoTrans;
  const int64_t threads = pool_size();
  const double flops = 2.0 * M * N * K;
  if (threads == 1 || flops < 2e5) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (M >= 16 * threads || M >= N) {
    // split rows of C: rows of op(A)
    parallel_for(M, 8, [&](int64_t r0, int64_t r1) {
      const float* a = transA ? A + r0 : A + r0 * lda;
      cblas_sgemm(CblasRowMajor, ta, tb, r1 - r0, N, K, alpha, a, lda, B, ldb, beta, C + r0 * ldc, ldc);
    });
  } else {
    // split columns of C: columns of op(B)
    parallel_for(N, 64, [&](int64_t c0, int64_t c1) {
      const float* b = transB ? B + c0 * ldb : B + c0;
      cblas_sgemm(CblasRowMajor, ta, tb, M, c1 - c0, K, alpha, A, lda, b, ldb, beta, C + c0, ldc);
    });
  }
}

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC, bool accumulate) {
  // out (N, OC) = inp (N, C) @ weight (OC, C)^T
  float beta = accumulate ? 1.0f : 0.0f;
  if (bias != nullptr) {
    if (!accumulate) {
      parallel_for(N, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) std::copy(bias, bias + OC, out + r * OC);
      });
    } else {
      parallel_for(N, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++)
          for (int64_t o = 0; o < OC; o++) out[r * OC + o] += bias[o];
      });
    }
    beta = 1.0f;
  }
  gemm(false, true, N, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t C, int64_t OC) {
  // forward: out = inp @ weight^T, so dinp += dout @ weight, dweight += dout^T @ inp, dbias += sum_rows(dout)
  if (dinp != nullptr) gemm(false, false, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
  if (dweight != nullptr) gemm(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  if (dbias != nullptr) {
    parallel_for(OC, 64, [&](int64_t o0, int64_t o1) {
      for (int64_t r = 0; r < N; r++)
        for (int64_t o = o0; o < o1; o++) dbias[o] += dout[r * OC + o];
    });
  }
}

}  // namespace sp
