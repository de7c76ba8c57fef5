// bf16 GEMMs through oneDNN (Debian's libdnnl 2.6: brgemm kernels, AMX on CPUs that have it) for frozen weights.
// A weight W (N, K) in nn.Linear layout is rounded to bf16 and reordered ONCE into the blocked layout oneDNN's
// matmul prefers for out = A . W^T; that blocked copy is the only copy of the weight. The other use,
// out = A . W (the input gradient), needs W blocked the other way round: oneDNN's matmul does not take the forward
// layout through a permuted descriptor (it falls to its reference kernel), so each such call first reorders the
// forward copy into a per-thread scratch (a memory-bound pass over N*K bf16, ~2 % of a training GEMM).
// Primitives are cached per shape. Activations are rounded to bf16 on the fly; products accumulate in fp32.
#pragma once
#include <cstdint>
#include <string>

namespace sp {

struct OnednnWeight;  // opaque: the blocked bf16 copy of one weight

// True when the CPU runs bf16 natively (AVX512-BF16 or AMX) and SOFTPROMPT_BF16_FALLBACK is unset; without it
// oneDNN would emulate bf16 slowly, so callers run fp32 instead.
bool onednn_bf16_available();
// "oneDNN 2.6.3, isa avx512_core_amx, runtime omp" (for logs and tests)
std::string onednn_info();

// A weight (N, K) from fp32 (w32) or bf16 bits (w16), exactly one non-null. Returns null and sets err on failure.
OnednnWeight* onednn_weight_create(const float* w32, const uint16_t* w16, int64_t N, int64_t K, std::string& err);
void onednn_weight_destroy(OnednnWeight* w);
int64_t onednn_weight_rows(const OnednnWeight* w);  // N
int64_t onednn_weight_cols(const OnednnWeight* w);  // K
int64_t onednn_weight_bytes(const OnednnWeight* w);
// The weight back as fp32 (N, K) row-major (exact: bf16 widens to fp32 without rounding).
bool onednn_weight_to_f32(const OnednnWeight* w, float* out, std::string& err);

// Re-rounds a weight in place from new fp32 values (N, K) (a trained weight's bf16 copy after an optimizer step).
bool onednn_weight_update(OnednnWeight* w, const float* w32, std::string& err);

// The weight gradient of a linear layer in bf16: dw (OC, C) [+]= bf16(dy (N, OC))^T . bf16(x (N, C)), fp32
// accumulation; dy rows ldy apart, x rows ldx apart, dw rows ldw apart. impl (may be null) receives the kernel's
// name (for tests). Primitives cached per shape.
bool onednn_weight_grad(float* dw, int64_t ldw, const float* dy, int64_t ldy, const float* x, int64_t ldx, int64_t N,
                        int64_t OC, int64_t C, bool accumulate, std::string* impl, std::string& err);

// transposed = false: out (M, N) [+]= A (M, K) . W^T (+ bias (N));  transposed = true: out (M, K) [+]= A (M, N) . W.
// A is fp32 (a32) or bf16 bits (a16), rows lda apart; out rows ldc apart; bias only when !transposed.
bool onednn_matmul(const OnednnWeight* w, float* out, int64_t ldc, const float* a32, const uint16_t* a16, int64_t lda,
                   int64_t M, bool transposed, bool accumulate, const float* bias, std::string& err);

}  // namespace sp
