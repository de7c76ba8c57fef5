// Kernel declarations. Shape vocabulary: N = rows (B*T flattened), C = channels, V = vocab, B = batch,
// NH = heads, HS = head size, Tq/Tk = query/key lengths. Forward takes outputs first, then saved statistics,
// then inputs, weights and dims; backward takes input gradients first (accumulated with +=), then dout, then
// what forward saved (llm.c order). A null weight-gradient pointer means "frozen: skip".
#pragma once
#include <cstdint>

namespace sp {

// A read-only operand held as fp32 or as bf16 bits (activations saved for backward in bf16): exactly one is set.
// Forward kernels that produce such an activation take an optional uint16_t* that receives its bf16 copy.
struct Src {
  const float* f = nullptr;
  const uint16_t* h = nullptr;
};

// ---- matmul (nn.Linear layout: weight is (OC, C)) ----
// out (N, OC) = inp (N, C) @ weight^T (+ bias (OC)); accumulate: out += instead of =.
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC, bool accumulate);
// dinp (N, C) += dout (N, OC) @ weight (OC, C); dweight (OC, C) += dout^T @ inp; dbias (OC) += sum_n dout.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t C, int64_t OC);
// General row-major C = alpha op(A) op(B) + beta C, threaded over rows (or columns when M is small).
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// ---- norms ----
// rmsnorm (T5LayerNorm, LlamaRMSNorm): out = w * x / sqrt(mean(x^2) + eps). rstd (N) saved.
// inp16 (N, C), when given, receives bf16(inp) (the copy backward reads).
void rmsnorm_forward(float* out, float* rstd, Src inp, const float* w, int64_t N, int64_t C, float eps,
                     uint16_t* inp16 = nullptr);
void rmsnorm_backward(float* dinp, float* dw, const float* dout, Src inp, const float* w, const float* rstd,
                      int64_t N, int64_t C);
// layernorm (GPT-2): out = (x - mean) * rstd * w + b. mean, rstd (N) saved.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                       int64_t N, int64_t C, float eps);
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int64_t N, int64_t C);

// ---- activations ----
enum Act : int { ACT_RELU = 0, ACT_GELU_TANH = 1, ACT_GELU_ERF = 2, ACT_SILU = 3 };
// inp16 / a16, b16, when given, receive bf16 copies of the inputs (what backward reads).
void act_forward(int act, float* out, const float* inp, int64_t n, uint16_t* inp16 = nullptr);
void act_backward(int act, float* dinp, const float* dout, Src inp, int64_t n);  // dinp +=
// Gated (T5 v1.1 gated-gelu, LLaMA SwiGLU): out = act(a) * b. a and b are both fp32 or both bf16 in backward.
void gated_forward(int act, float* out, const float* a, const float* b, int64_t n, uint16_t* a16 = nullptr,
                   uint16_t* b16 = nullptr);
void gated_backward(int act, float* da, float* db, const float* dout, Src a, Src b, int64_t n);

// ---- attention ----
// For each (b, h): S = scale * Q K^T + bias[h] (NH, Tq, Tk) + mask[b] (B, Tk) (+ causal), P = softmax(S),
// out = P V. q/k/v rows are strided: element (b, t, h, i) sits at x[b*xBatch + t*xRow + h*HS + i], so fused
// qkv buffers and KV caches work without copies. out (B, Tq, NH*HS) contiguous. probs (B, NH, Tq, Tk) saved.
// causal: key j is visible to query i iff j <= i + (Tk - Tq).
struct AttnDims {
  int64_t B, NH, Tq, Tk, HS;
  int64_t NKV;  // key/value heads (grouped-query attention); NH % NKV == 0, query head h reads kv head h / (NH/NKV)
  int64_t qRow, kRow, vRow, qBatch, kBatch, vBatch;
  bool causal;
  float scale;
  // Dropout on the attention probabilities (T5 training): P' = P * keep / (1 - dropP), keep regenerated from
  // dropSeed and the element's index in probs, so backward needs no stored mask. dropP = 0: off.
  float dropP = 0.0f;
  uint64_t dropSeed = 0;
};
// Saving in bf16: probs16 (B, NH, Tq, Tk) replaces probs (one of the two is set), and q16/k16/v16 (each optional,
// same strides as q/k/v) receive bf16 copies of q, k, v, written per (batch, head) while they are in cache.
struct AttnSave16 {
  uint16_t* probs = nullptr;
  uint16_t* q = nullptr;
  uint16_t* k = nullptr;
  uint16_t* v = nullptr;
};
void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v, const float* bias,
                       const float* mask, const AttnDims& d, const AttnSave16& save16 = {});
// dq/dk/dv use the same strides as q/k/v and are accumulated (+=). Any of them may be null (skipped).
// q/k/v/probs may each be bf16 (widened per (batch, head) block in the task's scratch).
// dbias (NH, Tq, Tk) += dLoss/d(bias) summed over the batch (T5's relative position bias); null: skipped.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, Src q, Src k, Src v, Src probs,
                        const AttnDims& d, float* dbias);

// ---- elementwise ----
// Counter-based keep decision shared by dropout kernels: uniform(seed, i) >= p.
bool dropout_keep(uint64_t seedHash, uint64_t i, float p);
uint64_t dropout_seed_hash(uint64_t seed);
void add_forward(float* out, const float* a, const float* b, int64_t n);  // out = a + b (out may alias a or b)
void axpy(float* y, const float* x, float alpha, int64_t n);              // y += alpha x
void scale_inplace(float* x, float alpha, int64_t n);
void fill_zero(float* x, int64_t n);  // x = 0, split across the pool (gradient buffers that kernels accumulate into)
// out (N, C) = table[ids[n]]; returns the index of the first out-of-range id, or -1.
int64_t embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t V);
// dtable[ids[n]] += dout[n] for n < N (scatter-add, repeated ids accumulate). ids must be in [0, V): the
// binding checks them.
void embedding_backward(float* dtable, const int32_t* ids, const float* dout, int64_t N, int64_t C);
// Inverted dropout with a counter-based RNG: keep[i] = hash(seed, i) >= p; out = inp * keep / (1 - p).
void dropout_forward(float* out, uint8_t* keep, const float* inp, float p, uint64_t seed, int64_t n);
void dropout_backward(float* dinp, const float* dout, const uint8_t* keep, float p, int64_t n);  // dinp =

// ---- cross-entropy ----
// losses[n] = logsumexp(logits[n]) - logits[n][t] for targets t != ignore, 0 otherwise; lse[n] saved (may be
// null). If dlogits != null: dlogits[n] = (softmax(logits[n]) - onehot(t)) * gradScale (0 rows when ignored).
// dlogits may alias logits. Returns the number of non-ignored rows, or -(n+1) for a target out of range.
int64_t cross_entropy(float* losses, float* lse, float* dlogits, const float* logits, const int32_t* targets,
                      int64_t N, int64_t V, float gradScale, int32_t ignoreIndex);

// out[n] = the index of the largest of x[n][0..V) (the first on ties): greedy decoding's next token.
void argmax_rows(int32_t* out, const float* x, int64_t N, int64_t V);

}  // namespace sp
