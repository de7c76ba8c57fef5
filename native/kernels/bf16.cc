// bf16 GEMM on VDPBF16PS. One instruction does, for each of 16 fp32 lanes, acc += a0*b0 + a1*b1 where (a0, a1)
// and (b0, b1) are bf16 pairs sharing a 32-bit slot. So K is consumed in pairs: a row of A (M, K) gives its pair
// (A[m][2q], A[m][2q+1]) as one 32-bit word broadcast to all lanes, and W (N, K) is packed so that one zmm holds
// the same pair for 16 consecutive columns n:
//   packed W, per K block of kKC and per tile of 48 columns:  [q = k-pair][3 panels of 16 columns][lane][pair]
// The micro-kernel keeps an MR x 48 block of C in 3*MR zmm accumulators (MR <= 8: 24 accumulators + 3 W + 1 A),
// Goto-style blocking around it: W packed once per call and shared by all threads (a K block of one tile, 24 KB,
// stays in L1 while MC rows of A stream past it); K odd and N not a multiple of 48 are zero-padded in the pack.
// Few rows (decoding) skip the pack, which would cost more than the product: dot_kernel reads W in place, 32 bf16
// of a row at a time, so the weight crosses memory once, at half the bytes of fp32.
#include "bf16.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

#if defined(__x86_64__)
#define SP_BF16_TARGET __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))
#endif

namespace sp {
namespace {

constexpr int64_t kNR = 48;   // columns of C per micro-tile: 3 zmm of 16 fp32
constexpr int64_t kKC = 256;  // K per packed block (even): a tile's block is 48 * 256 * 2 B = 24 KB
constexpr int64_t kMC = 192;  // rows of A per pass over a packed block: 192 * 256 * 2 B = 96 KB in L2
constexpr int64_t kDotMaxRows = 64;  // M below this: dot_kernel, no packing (measured crossover)

inline uint16_t round_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN: keep it a NaN
  // round to nearest, ties to even: add 0x7fff plus the lowest kept bit, then truncate (Inf stays Inf)
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float widen_bf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

SP_MULTIVERSION void round_range(uint16_t* out, const float* in, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) out[i] = round_bf16(in[i]);
}

SP_MULTIVERSION void widen_range(float* out, const uint16_t* in, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) out[i] = widen_bf16(in[i]);
}

#if defined(__x86_64__)  // the VDPBF16PS kernels; other CPUs take the sgemm fallback below
// Packs W[n0 : n0+48, k0 : k0+kc] (row-major (N, K)) into dst[q][c][2] for k-pair q and column c of the tile,
// zeros past column N and past K (odd kc), so padded lanes and the odd pair's missing half add nothing.
void pack_tile(uint16_t* dst, const uint16_t* W, int64_t N, int64_t K, int64_t n0, int64_t k0, int64_t kc) {
  const int64_t kp = kc / 2, kcp = (kc + 1) / 2;
  for (int64_t c = 0; c < kNR; c++) {
    uint16_t* d = dst + 2 * c;
    if (n0 + c >= N) {
      for (int64_t q = 0; q < kcp; q++) d[q * 2 * kNR] = d[q * 2 * kNR + 1] = 0;
      continue;
    }
    const uint16_t* w = W + (n0 + c) * K + k0;
    for (int64_t q = 0; q < kp; q++) std::memcpy(d + q * 2 * kNR, w + 2 * q, 4);
    if (kc & 1) {
      d[kp * 2 * kNR] = w[kc - 1];
      d[kp * 2 * kNR + 1] = 0;
    }
  }
}

// C[0:MR, 0:nr] = beta C + A[0:MR, 0:kc] . Wtile^T, with Bp the packed tile (kcp pairs of 96 bf16, 64-byte aligned).
template <int MR>
SP_BF16_TARGET void micro_kernel(const uint16_t* A, int64_t lda, const uint16_t* Bp, int64_t kc, float* C,
                                 int64_t ldc, int64_t nr, float beta) {
  __m512 acc[MR][3];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = acc[r][2] = _mm512_setzero_ps();
  const int64_t kp = kc / 2;
  for (int64_t q = 0; q < kp; q++) {
    const uint16_t* b = Bp + q * 2 * kNR;
    const __m512bh b0 = (__m512bh)_mm512_load_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(b + 32);
    const __m512bh b2 = (__m512bh)_mm512_load_si512(b + 64);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      int32_t pair;
      std::memcpy(&pair, A + r * lda + 2 * q, 4);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
      acc[r][2] = _mm512_dpbf16_ps(acc[r][2], a, b2);
    }
  }
  if (kc & 1) {  // last, half-empty pair: A's second half must be 0 too (it is the next row's first element)
    const uint16_t* b = Bp + kp * 2 * kNR;
    const __m512bh b0 = (__m512bh)_mm512_load_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(b + 32);
    const __m512bh b2 = (__m512bh)_mm512_load_si512(b + 64);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int32_t>(A[r * lda + kc - 1]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
      acc[r][2] = _mm512_dpbf16_ps(acc[r][2], a, b2);
    }
  }
  const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
    float* c = C + r * ldc;
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++) {
      const int64_t cols = nr - 16 * j;
      if (cols <= 0) break;
      const __mmask16 m = cols >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << cols) - 1);
      __m512 v = acc[r][j];
      if (beta != 0.0f) v = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m, c + 16 * j), v);
      _mm512_mask_storeu_ps(c + 16 * j, m, v);
    }
  }
}

void run_micro(int64_t mr, const uint16_t* A, int64_t lda, const uint16_t* Bp, int64_t kc, float* C, int64_t ldc,
               int64_t nr, float beta) {
  switch (mr) {
    case 8: micro_kernel<8>(A, lda, Bp, kc, C, ldc, nr, beta); break;
    case 7: micro_kernel<7>(A, lda, Bp, kc, C, ldc, nr, beta); break;
    case 6: micro_kernel<6>(A, lda, Bp, kc, C, ldc, nr, beta); break;
    case 5: micro_kernel<5>(A, lda, Bp, kc, C, ldc, nr, beta); break;
    case 4: micro_kernel<4>(A, lda, Bp, kc, C, ldc, nr, beta); break;
    case 3: micro_kernel<3>(A, lda, Bp, kc, C, ldc, nr, beta); break;
    case 2: micro_kernel<2>(A, lda, Bp, kc, C, ldc, nr, beta); break;
    default: micro_kernel<1>(A, lda, Bp, kc, C, ldc, nr, beta); break;
  }
}

// Sum of the 16 lanes by full-width swaps. (The masked forms, all-ones mask: GCC 12 builds the unmasked ones and
// _mm512_reduce_add_ps on an undefined pass-through operand and warns "may be used uninitialized".)
SP_BF16_TARGET inline float hsum(__m512 v) {
  const __mmask16 all = 0xffff;
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, all, v, v, 0x4e));  // 256-bit halves
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, all, v, v, 0xb1));  // 128-bit quarters
  v = _mm512_add_ps(v, _mm512_mask_permute_ps(v, all, v, 0x4e));        // pairs within 128 bits
  v = _mm512_add_ps(v, _mm512_mask_permute_ps(v, all, v, 0xb1));        // neighbours
  return _mm512_cvtss_f32(v);
}

// C[0:MR, n : n+nc] = beta C + A[0:MR] . W[n : n+nc]^T (nc <= 4) as dot products over K, 32 bf16 per step; the
// K tail is loaded masked (zeros). A rows are K apart; W rows are read in place.
template <int MR>
SP_BF16_TARGET void dot_kernel(const uint16_t* A, const uint16_t* W, int64_t n, int64_t nc, int64_t K, float* C,
                               int64_t ldc, float beta) {
  __m512 acc[MR][4];
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm512_setzero_ps();
  const uint16_t* w[4];
  for (int j = 0; j < 4; j++) w[j] = W + (n + (j < nc ? j : 0)) * K;
  const int64_t kfull = K / 32 * 32;
  for (int64_t k = 0; k < kfull; k += 32) {
    __m512bh wv[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) wv[j] = (__m512bh)_mm512_loadu_si512(w[j] + k);
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
      const __m512bh a = (__m512bh)_mm512_loadu_si512(A + r * K + k);
#pragma GCC unroll 4
      for (int j = 0; j < 4; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, wv[j]);
    }
  }
  if (kfull < K) {
    const __mmask32 m = static_cast<__mmask32>((1ull << (K - kfull)) - 1);
    __m512bh wv[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) wv[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, w[j] + kfull);
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
      const __m512bh a = (__m512bh)_mm512_maskz_loadu_epi16(m, A + r * K + kfull);
#pragma GCC unroll 4
      for (int j = 0; j < 4; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, wv[j]);
    }
  }
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < nc; j++) {
      const float s = hsum(acc[r][j]);
      float* c = C + r * ldc + n + j;
      *c = beta == 0.0f ? s : s + beta * *c;
    }
}

// Columns [n0, n1) of all M rows, 4 columns at a time; their W rows (4 K bf16) stay in cache across row groups.
void dot_columns(float* C, const uint16_t* A, const uint16_t* W, int64_t M, int64_t n0, int64_t n1, int64_t K,
                 int64_t ldc, float beta) {
  for (int64_t n = n0; n < n1; n += 4) {
    const int64_t nc = std::min<int64_t>(4, n1 - n);
    for (int64_t m = 0; m < M; m += 4) {
      const uint16_t* a = A + m * K;
      float* c = C + m * ldc;
      switch (std::min<int64_t>(4, M - m)) {
        case 4: dot_kernel<4>(a, W, n, nc, K, c, ldc, beta); break;
        case 3: dot_kernel<3>(a, W, n, nc, K, c, ldc, beta); break;
        case 2: dot_kernel<2>(a, W, n, nc, K, c, ldc, beta); break;
        default: dot_kernel<1>(a, W, n, nc, K, c, ldc, beta); break;
      }
    }
  }
}

void gemm_bf16_dot(float* C, const uint16_t* A, const uint16_t* W, int64_t M, int64_t N, int64_t K, int64_t ldc,
                   float beta) {
  // split the columns in blocks of 4; at least ~64 K of work per chunk
  const int64_t blocks = (N + 3) / 4, grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, M * K));
  parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
    dot_columns(C, A, W, M, b0 * 4, std::min(N, b1 * 4), K, ldc, beta);
  });
}

// Packed W: K block kb starts at tiles * 96 * (kb * kKC / 2); tile t of it at + t * kcp * 96.
struct Packed {
  const uint16_t* data;
  int64_t tiles;
  const uint16_t* tile(int64_t kb, int64_t t, int64_t kcp) const {
    return data + tiles * 2 * kNR * (kb * kKC / 2) + t * kcp * 2 * kNR;
  }
};

// C rows [m0, m1) x tiles [t0, t1): every K block, beta applied with the first one.
void compute_block(float* C, const uint16_t* A, const Packed& W, int64_t m0, int64_t m1, int64_t t0, int64_t t1,
                   int64_t N, int64_t K, int64_t ldc, float beta) {
  for (int64_t k0 = 0, kb = 0; k0 < K; k0 += kKC, kb++) {
    const int64_t kc = std::min(kKC, K - k0), kcp = (kc + 1) / 2;
    const float b = kb == 0 ? beta : 1.0f;
    for (int64_t ic = m0; ic < m1; ic += kMC) {
      const int64_t ie = std::min(ic + kMC, m1);
      for (int64_t t = t0; t < t1; t++) {
        const uint16_t* bp = W.tile(kb, t, kcp);
        const int64_t nr = std::min(kNR, N - t * kNR);
        for (int64_t ir = ic; ir < ie; ir += 8)
          run_micro(std::min<int64_t>(8, ie - ir), A + ir * K + k0, K, bp, kc, C + ir * ldc + t * kNR, ldc, nr, b);
      }
    }
  }
}

void gemm_bf16_native(float* C, const uint16_t* A, const uint16_t* W, int64_t M, int64_t N, int64_t K, int64_t ldc,
                      float beta) {
  const int64_t tiles = (N + kNR - 1) / kNR, kblocks = (K + kKC - 1) / kKC;
  thread_local std::vector<uint16_t> buf;
  buf.resize(static_cast<size_t>(tiles * 2 * kNR * ((K + 1) / 2) + 32));
  uint16_t* pack = buf.data();
  pack += (64 - reinterpret_cast<uintptr_t>(pack) % 64) % 64 / 2;  // 64-byte aligned for the zmm loads
  const Packed P{pack, tiles};
  parallel_for(kblocks * tiles, 4, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; u++) {
      const int64_t kb = u / tiles, t = u % tiles, k0 = kb * kKC, kc = std::min(kKC, K - k0);
      pack_tile(const_cast<uint16_t*>(P.tile(kb, t, (kc + 1) / 2)), W, N, K, t * kNR, k0, kc);
    }
  });
  const int64_t mblocks = (M + 7) / 8;
  if (2.0 * M * N * K < 2e5) {
    compute_block(C, A, P, 0, M, 0, tiles, N, K, ldc, beta);
  } else if (mblocks >= 4 * pool_size() || mblocks >= tiles) {
    // split rows (in blocks of 8, the micro-kernel's height); every thread reads all of packed W
    parallel_for(mblocks, 1, [&](int64_t b0, int64_t b1) {
      compute_block(C, A, P, b0 * 8, std::min(M, b1 * 8), 0, tiles, N, K, ldc, beta);
    });
  } else {
    // few rows (decoding): split the 48-column tiles
    parallel_for(tiles, 1, [&](int64_t t0, int64_t t1) { compute_block(C, A, P, 0, M, t0, t1, N, K, ldc, beta); });
  }
}

#endif  // __x86_64__

// Without AVX512-BF16: the same bf16 values, widened (exactly) to fp32, through the threaded sgemm.
void gemm_bf16_fallback(float* C, const uint16_t* A, const uint16_t* W, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, float beta) {
  std::vector<float> a(static_cast<size_t>(M * K)), w(static_cast<size_t>(N * K));
  parallel_for(M * K, 1 << 15, [&](int64_t b, int64_t e) { widen_range(a.data(), A, b, e); });
  parallel_for(N * K, 1 << 15, [&](int64_t b, int64_t e) { widen_range(w.data(), W, b, e); });
  gemm(false, true, M, N, K, 1.0f, a.data(), K, w.data(), K, beta, C, ldc);
}

}  // namespace

bool bf16_native() {
#if defined(__x86_64__)
  static const bool native = __builtin_cpu_supports("avx512bf16") && std::getenv("SOFTPROMPT_BF16_FALLBACK") == nullptr;
  return native;
#else
  return false;
#endif
}

void f32_to_bf16(uint16_t* out, const float* in, int64_t n) {
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) { round_range(out, in, b, e); });
}

void bf16_to_f32(float* out, const uint16_t* in, int64_t n) {
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) { widen_range(out, in, b, e); });
}

void f32_to_bf16_rows(uint16_t* out, const float* in, int64_t rows, int64_t cols, int64_t ld) {
  if (ld == cols) return f32_to_bf16(out, in, rows * cols);
  parallel_for(rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, cols)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) round_range(out + r * cols, in + r * ld, 0, cols);
  });
}

void embedding_bf16(float* out, const int32_t* ids, const uint16_t* table, int64_t N, int64_t C) {
  parallel_for(N, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) widen_range(out + r * C, table + static_cast<int64_t>(ids[r]) * C, 0, C);
  });
}

void transpose_to_bf16(uint16_t* out, const float* in, int64_t rows, int64_t cols) {
  transpose_to_bf16_strided(out, in, rows, cols, cols);
}

void transpose_to_bf16_strided(uint16_t* out, const float* in, int64_t rows, int64_t cols, int64_t ld) {
  // out (cols, rows): 32 x 32 tiles so that both sides touch whole cache lines
  parallel_for(cols, 32, [&](int64_t c0, int64_t c1) {
    for (int64_t cb = c0; cb < c1; cb += 32)
      for (int64_t rb = 0; rb < rows; rb += 32)
        for (int64_t c = cb; c < std::min(cb + 32, c1); c++)
          for (int64_t r = rb; r < std::min(rb + 32, rows); r++) out[c * rows + r] = round_bf16(in[r * ld + c]);
  });
}

void gemm_bf16_nt(float* C, const uint16_t* A_bf16, const uint16_t* W_bf16, int64_t M, int64_t N, int64_t K,
                  int64_t ldc, float beta) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // empty sum: C = beta C
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) C[m * ldc + n] = beta == 0.0f ? 0.0f : beta * C[m * ldc + n];
    return;
  }
#if defined(__x86_64__)
  if (bf16_native()) {
    if (M < kDotMaxRows)
      gemm_bf16_dot(C, A_bf16, W_bf16, M, N, K, ldc, beta);
    else
      gemm_bf16_native(C, A_bf16, W_bf16, M, N, K, ldc, beta);
    return;
  }
#endif
  gemm_bf16_fallback(C, A_bf16, W_bf16, M, N, K, ldc, beta);
}

void matmul_forward_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t N,
                         int64_t C, int64_t OC, bool accumulate) {
  // out (N, OC) = bf16(inp) (N, C) @ weight (OC, C)^T, bias as in matmul_forward
  thread_local std::vector<uint16_t> scratch;
  scratch.resize(static_cast<size_t>(N * C));
  f32_to_bf16(scratch.data(), inp, N * C);
  float beta = accumulate ? 1.0f : 0.0f;
  if (bias != nullptr) {
    parallel_for(N, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++)
        for (int64_t o = 0; o < OC; o++) out[r * OC + o] = (accumulate ? out[r * OC + o] : 0.0f) + bias[o];
    });
    beta = 1.0f;
  }
  gemm_bf16_nt(out, scratch.data(), weight, N, OC, C, OC, beta);
}

void matmul_backward_input_bf16(float* dinp, const float* dout, const uint16_t* weightT, int64_t N, int64_t C,
                                int64_t OC) {
  // forward: out = inp @ weight^T  =>  dinp += dout @ weight = dout (N, OC) . weightT (C, OC)^T
  thread_local std::vector<uint16_t> scratch;
  scratch.resize(static_cast<size_t>(N * OC));
  f32_to_bf16(scratch.data(), dout, N * OC);
  gemm_bf16_nt(dinp, scratch.data(), weightT, N, C, OC, C, 1.0f);
}

}  // namespace sp
