// Attention over strided q/k/v, one task per (batch, kv head) so that gradient writes never race.
// Scores and P @ V go through single-threaded sgemm; bias, masks and softmax are fused in between.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

namespace sp {
namespace {

SP_MULTIVERSION
void bias_mask_softmax(float* P, const float* bias_h, const float* mask_b, const AttnDims& d) {
  // P (Tq, Tk) holds scale * Q K^T on entry and softmax(... + bias + mask) on exit.
  const int64_t Tq = d.Tq, Tk = d.Tk;
  for (int64_t i = 0; i < Tq; i++) {
    float* row = P + i * Tk;
    // causal with Tq > Tk: the first Tq - Tk queries see no key (visible clamps at 0: a zero row, zero output)
    const int64_t visible = d.causal ? std::clamp<int64_t>(i + (Tk - Tq) + 1, 0, Tk) : Tk;
    if (bias_h != nullptr) {
      const float* br = bias_h + i * Tk;
      for (int64_t j = 0; j < visible; j++) row[j] += br[j];
    }
    if (mask_b != nullptr)
      for (int64_t j = 0; j < visible; j++) row[j] += mask_b[j];
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < visible; j++) mx = row[j] > mx ? row[j] : mx;
    for (int64_t j = 0; j < visible; j++) row[j] = fast_expf(row[j] - mx);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < visible; j++) sum += row[j];
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t j = 0; j < visible; j++) row[j] *= inv;
    for (int64_t j = visible; j < Tk; j++) row[j] = 0.0f;
  }
}

SP_MULTIVERSION
void softmax_backward_rows(float* dS, const float* P, int64_t Tq, int64_t Tk) {
  // in: dS = dP; out: dS = P * (dP - sum_j P dP)
  for (int64_t i = 0; i < Tq; i++) {
    float* g = dS + i * Tk;
    const float* p = P + i * Tk;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < Tk; j++) dot += p[j] * g[j];
    for (int64_t j = 0; j < Tk; j++) g[j] = p[j] * (g[j] - dot);
  }
}

// Pd = P * keep / (1 - p) for the (Tq, Tk) block starting at flat index `base` of probs.
void dropout_probs(float* Pd, const float* P, int64_t n, uint64_t base, const AttnDims& d, uint64_t seedHash) {
  const float s = 1.0f / (1.0f - d.dropP);
  for (int64_t i = 0; i < n; i++) Pd[i] = dropout_keep(seedHash, base + i, d.dropP) ? P[i] * s : 0.0f;
}

// bf16 copies of saved blocks: widen_rows makes dst (rows, HS) contiguous from src rows `row` apart; round_rows
// rounds src into dst, both rows `row` apart.
SP_MULTIVERSION void widen_rows(float* dst, const uint16_t* src, int64_t rows, int64_t row, int64_t HS) {
  for (int64_t t = 0; t < rows; t++)
    for (int64_t i = 0; i < HS; i++) dst[t * HS + i] = from_bf16(src[t * row + i]);
}
SP_MULTIVERSION void round_rows(uint16_t* dst, const float* src, int64_t rows, int64_t row, int64_t HS) {
  for (int64_t t = 0; t < rows; t++)
    for (int64_t i = 0; i < HS; i++) dst[t * row + i] = to_bf16(src[t * row + i]);
}

// An operand block (rows, HS) at element offset `off` of x (rows `row` apart): in place when fp32, else widened
// into `scratch` (then rows HS apart). Returns the pointer and sets ld.
const float* block(Src x, int64_t off, int64_t rows, int64_t row, int64_t HS, float* scratch, int64_t& ld) {
  if (x.f != nullptr) {
    ld = row;
    return x.f + off;
  }
  widen_rows(scratch, x.h + off, rows, row, HS);
  ld = HS;
  return scratch;
}

}  // namespace

void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v, const float* bias,
                       const float* mask, const AttnDims& d, const AttnSave16& save16) {
  const int64_t group = d.NH / d.NKV, C = d.NH * d.HS;
  const bool drop = d.dropP > 0.0f;
  const uint64_t seedHash = dropout_seed_hash(d.dropSeed);
  parallel_tasks(d.B * d.NKV, [&](int64_t task) {
    thread_local std::vector<float> scratch, pbuf;
    if (drop) scratch.resize(static_cast<size_t>(d.Tq * d.Tk));
    if (save16.probs != nullptr) pbuf.resize(static_cast<size_t>(d.Tq * d.Tk));
    const int64_t b = task / d.NKV, kvh = task % d.NKV;
    const int64_t kOff = b * d.kBatch + kvh * d.HS, vOff = b * d.vBatch + kvh * d.HS;
    const float* K = k + kOff;
    const float* V = v + vOff;
    if (save16.k != nullptr) round_rows(save16.k + kOff, K, d.Tk, d.kRow, d.HS);
    if (save16.v != nullptr) round_rows(save16.v + vOff, V, d.Tk, d.vRow, d.HS);
    for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
      const int64_t qOff = b * d.qBatch + h * d.HS;
      const float* Q = q + qOff;
      if (save16.q != nullptr) round_rows(save16.q + qOff, Q, d.Tq, d.qRow, d.HS);
      const int64_t base = (b * d.NH + h) * d.Tq * d.Tk;
      float* P = save16.probs != nullptr ? pbuf.data() : probs + base;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d.Tq, d.Tk, d.HS, d.scale, Q, d.qRow, K, d.kRow, 0.0f, P,
                  d.Tk);
      bias_mask_softmax(P, bias != nullptr ? bias + h * d.Tq * d.Tk : nullptr,
                        mask != nullptr ? mask + b * d.Tk : nullptr, d);
      if (save16.probs != nullptr) round_rows(save16.probs + base, P, d.Tq, d.Tk, d.Tk);
      const float* Pv = P;
      if (drop) {
        dropout_probs(scratch.data(), P, d.Tq * d.Tk, static_cast<uint64_t>(base), d, seedHash);
        Pv = scratch.data();
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.Tq, d.HS, d.Tk, 1.0f, Pv, d.Tk, V, d.vRow, 0.0f,
                  out + b * d.Tq * C + h * d.HS, C);
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, Src q, Src k, Src v, Src probs,
                        const AttnDims& d, float* dbias) {
  const int64_t group = d.NH / d.NKV, C = d.NH * d.HS;
  const bool drop = d.dropP > 0.0f;
  // dbias (NH, Tq, Tk) sums dS over the batch, but tasks run per (b, kv head): each task keeps its dS blocks in
  // dSAll (B, NH, Tq, Tk) and one pass sums them afterwards in batch order, so the result is thread-independent.
  std::vector<float> dSAll(dbias != nullptr ? static_cast<size_t>(d.B * d.NH * d.Tq * d.Tk) : 0);
  const uint64_t seedHash = dropout_seed_hash(d.dropSeed);
  const float dropScale = drop ? 1.0f / (1.0f - d.dropP) : 1.0f;
  parallel_tasks(d.B * d.NKV, [&](int64_t task) {
    thread_local std::vector<float> scratch, wide;
    const int64_t TT = d.Tq * d.Tk;
    scratch.resize(static_cast<size_t>(TT * (drop ? 2 : 1)));
    // bf16 operands widened per block: P (Tq, Tk), Q (Tq, HS), K and V (Tk, HS)
    wide.resize(static_cast<size_t>((probs.h != nullptr ? TT : 0) + (d.Tq + 2 * d.Tk) * d.HS));
    float* Pw = wide.data();
    float* Qw = Pw + (probs.h != nullptr ? TT : 0);
    float* Kw = Qw + d.Tq * d.HS;
    float* Vw = Kw + d.Tk * d.HS;
    float* dS = scratch.data();
    float* Pd = drop ? scratch.data() + TT : nullptr;
    const int64_t b = task / d.NKV, kvh = task % d.NKV;
    int64_t kRow = 0, vRow = 0, qRow = 0;
    const float* K = block(k, b * d.kBatch + kvh * d.HS, d.Tk, d.kRow, d.HS, Kw, kRow);
    const float* V = block(v, b * d.vBatch + kvh * d.HS, d.Tk, d.vRow, d.HS, Vw, vRow);
    for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
      const float* Q = block(q, b * d.qBatch + h * d.HS, d.Tq, d.qRow, d.HS, Qw, qRow);
      const int64_t base = (b * d.NH + h) * TT;
      const float* P = probs.f != nullptr ? probs.f + base : Pw;
      if (probs.h != nullptr) widen_rows(Pw, probs.h + base, 1, TT, TT);
      const float* dO = dout + b * d.Tq * C + h * d.HS;
      const float* Pv = P;
      if (drop) {
        dropout_probs(Pd, P, TT, static_cast<uint64_t>(base), d, seedHash);
        Pv = Pd;
      }
      // forward: out = P' V  =>  dP' = dO V^T, dV += P'^T dO
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d.Tq, d.Tk, d.HS, 1.0f, dO, C, V, vRow, 0.0f, dS, d.Tk);
      if (dv != nullptr)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.Tk, d.HS, d.Tq, 1.0f, Pv, d.Tk, dO, C, 1.0f,
                    dv + b * d.vBatch + kvh * d.HS, d.vRow);
      // forward: P' = dropout(P)  =>  dP = dP' * keep / (1 - p); Pd is zero exactly where keep is 0 or P is 0
      if (drop)
        for (int64_t i = 0; i < TT; i++)
          dS[i] = dropout_keep(seedHash, static_cast<uint64_t>(base + i), d.dropP) ? dS[i] * dropScale : 0.0f;
      // forward: P = softmax(S), S = scale Q K^T + bias + mask  =>  dS = P (dP - rowsum(P dP))
      softmax_backward_rows(dS, P, d.Tq, d.Tk);
      if (dbias != nullptr) std::copy(dS, dS + TT, dSAll.data() + base);
      if (dq != nullptr)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.Tq, d.HS, d.Tk, d.scale, dS, d.Tk, K, kRow, 1.0f,
                    dq + b * d.qBatch + h * d.HS, d.qRow);
      if (dk != nullptr)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.Tk, d.HS, d.Tq, d.scale, dS, d.Tk, Q, qRow, 1.0f,
                    dk + b * d.kBatch + kvh * d.HS, d.kRow);
    }
  });
  if (dbias != nullptr) {
    const int64_t per = d.NH * d.Tq * d.Tk;
    parallel_for(per, 1024, [&](int64_t i0, int64_t i1) {
      for (int64_t b = 0; b < d.B; b++) {
        const float* src = dSAll.data() + b * per;
        for (int64_t i = i0; i < i1; i++) dbias[i] += src[i];
      }
    });
  }
}

}  // namespace sp
