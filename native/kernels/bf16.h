// bfloat16 GEMM, the opt-in fast path for frozen weights: a weight is rounded to bf16 once, activations are rounded
// on the fly, and products are summed in fp32 with VDPBF16PS (AVX512-BF16) where the CPU has it; elsewhere the
// bf16 values are widened back to fp32 and go through cblas_sgemm, so results agree to fp32 rounding and the
// binary runs on any x86-64. Shapes follow matmul: inp (N, C), weight (OC, C) in nn.Linear layout, out (N, OC).
#pragma once
#include <cstdint>

namespace sp {

// out[i] = bf16(in[i]), round to nearest even; NaN stays NaN (quietened, sign kept), +-Inf stays +-Inf.
void f32_to_bf16(uint16_t* out, const float* in, int64_t n);
void bf16_to_f32(float* out, const uint16_t* in, int64_t n);  // exact
// out (rows, cols) contiguous = bf16(in (rows, cols)), in's rows ld apart.
void f32_to_bf16_rows(uint16_t* out, const float* in, int64_t rows, int64_t cols, int64_t ld);
// out (N, C) = widened rows ids[n] of a bf16 table (V, C); ids must be in [0, V) (the caller checks).
void embedding_bf16(float* out, const int32_t* ids, const uint16_t* table, int64_t N, int64_t C);
// out (cols, rows) = bf16(in (rows, cols))^T: the weight's transpose, the "NT" operand of the input gradient.
void transpose_to_bf16(uint16_t* out, const float* in, int64_t rows, int64_t cols);
// the same with in's rows ld apart
void transpose_to_bf16_strided(uint16_t* out, const float* in, int64_t rows, int64_t cols, int64_t ld);

// C (M, N) = A (M, K) . W (N, K)^T + beta C; A and W rows are K apart, C rows ldc apart. fp32 accumulation.
// beta = 0 does not read C. Threaded over M, or over N when M is small.
void gemm_bf16_nt(float* C, const uint16_t* A_bf16, const uint16_t* W_bf16, int64_t M, int64_t N, int64_t K,
                  int64_t ldc, float beta);
// True when gemm_bf16_nt runs on VDPBF16PS; false on CPUs without AVX512-BF16 or when the environment variable
// SOFTPROMPT_BF16_FALLBACK is set (read once), which forces the sgemm path.
bool bf16_native();

// matmul_forward with a bf16 weight (OC, C): out (N, OC) = bf16(inp (N, C)) @ weight^T (+ bias (OC));
// accumulate: out += instead of =. inp is rounded into a thread-local scratch.
void matmul_forward_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t N,
                         int64_t C, int64_t OC, bool accumulate);
// dinp (N, C) += bf16(dout (N, OC)) @ weight (OC, C), given weightT = weight^T (C, OC) from transpose_to_bf16.
void matmul_backward_input_bf16(float* dinp, const float* dout, const uint16_t* weightT, int64_t N, int64_t C,
                                int64_t OC);

}  // namespace sp
