// N-API surface only: check arguments, unwrap buffers, call the kernel, wrap errors. Every buffer argument is
// checked against the element count the kernel will touch, so a wrong shape from JS becomes a RangeError naming
// the kernel, the argument and the dims, never an out-of-bounds write.
#include <cblas.h>
#include <malloc.h>
#include <sys/mman.h>
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>

#include "bf16.h"
#include "kernels.h"
#include "onednn.h"
#include "signals.h"
#include "thread_pool.h"

extern "C" void openblas_set_num_threads(int);

namespace {

using sp::AttnDims;

// Product of element counts, or -1 (which no buffer check accepts) when any factor is negative or it overflows.
int64_t prod(std::initializer_list<int64_t> xs) {
  int64_t r = 1;
  for (int64_t x : xs)
    if (x < 0 || __builtin_mul_overflow(r, x, &r)) return -1;
  return r;
}

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* kernel) : info_(info), kernel_(kernel) {}

  // Counts, dims and strides: integers with |v| < 2^31 (1.9, NaN, Inf, 2^32 are refused, never truncated), so a
  // product of two fits int64 and a larger one goes through prod() below.
  int64_t num(size_t i) {
    if (i >= info_.Length() || !info_[i].IsNumber()) return fail(i, "a number");
    const double d = info_[i].As<Napi::Number>().DoubleValue();
    if (!(d > -2147483648.0 && d < 2147483648.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
      if (error_.empty())
        error_ = std::string(kernel_) + ": argument " + std::to_string(i) + " must be an integer in (-2^31, 2^31), got " +
                 info_[i].ToString().Utf8Value();
      return 0;
    }
    return static_cast<int64_t>(d);
  }
  double real(size_t i) {
    if (i >= info_.Length() || !info_[i].IsNumber()) return static_cast<double>(fail(i, "a number"));
    return info_[i].As<Napi::Number>().DoubleValue();
  }
  bool flag(size_t i) { return i < info_.Length() && info_[i].ToBoolean().Value(); }

  template <typename T>
  T* typed(size_t i, int64_t need, napi_typedarray_type type, const char* tname, bool nullable) {
    if (i >= info_.Length() || info_[i].IsNull() || info_[i].IsUndefined()) {
      if (nullable) return nullptr;
      fail(i, tname);
      return nullptr;
    }
    if (!info_[i].IsTypedArray() || info_[i].As<Napi::TypedArray>().TypedArrayType() != type) {
      fail(i, tname);
      return nullptr;
    }
    auto arr = info_[i].As<Napi::TypedArray>();
    if (need < 0 || static_cast<int64_t>(arr.ElementLength()) < need) {
      if (error_.empty())
        error_ = std::string(kernel_) + ": argument " + std::to_string(i) + " needs " + std::to_string(need) + " " +
                 tname + " elements, got " + std::to_string(arr.ElementLength());
      return nullptr;
    }
    // The data pointer straight from napi_get_typedarray_info: arr.ArrayBuffer().Data() is a fatal error (abort)
    // when the array sits on a SharedArrayBuffer.
    void* data = nullptr;
    size_t len = 0;
    napi_typedarray_type t;
    if (napi_get_typedarray_info(info_.Env(), arr, &t, &len, &data, nullptr, nullptr) != napi_ok || (data == nullptr && len > 0)) {
      if (error_.empty()) error_ = std::string(kernel_) + ": argument " + std::to_string(i) + " has no readable buffer";
      return nullptr;
    }
    return static_cast<T*>(data);
  }
  float* f32(size_t i, int64_t need, bool nullable = false) {
    return typed<float>(i, need, napi_float32_array, "Float32Array", nullable);
  }
  uint16_t* u16(size_t i, int64_t need, bool nullable = false) {
    return typed<uint16_t>(i, need, napi_uint16_array, "Uint16Array", nullable);
  }
  // An operand that may be fp32 (Float32Array) or bf16 bits (Uint16Array): a saved activation.
  sp::Src src(size_t i, int64_t need, bool nullable = false) {
    sp::Src s;
    if (i < info_.Length() && info_[i].IsTypedArray() &&
        info_[i].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array)
      s.h = u16(i, need);
    else
      s.f = typed<float>(i, need, napi_float32_array, "Float32Array or Uint16Array (bf16)", nullable);
    return s;
  }
  int32_t* i32(size_t i, int64_t need) { return typed<int32_t>(i, need, napi_int32_array, "Int32Array", false); }
  uint8_t* u8(size_t i, int64_t need) { return typed<uint8_t>(i, need, napi_uint8_array, "Uint8Array", false); }

  // Dims must be positive (or zero where allowed) before they size a buffer check.
  void positive(int64_t v, const char* name) {
    if (v <= 0 && error_.empty()) error_ = std::string(kernel_) + ": " + name + " must be > 0, got " + std::to_string(v);
  }
  void require(bool cond, const std::string& what) {
    if (!cond && error_.empty()) error_ = std::string(kernel_) + ": " + what;
  }
  bool ok() {
    if (error_.empty()) return true;
    Napi::RangeError::New(info_.Env(), error_).ThrowAsJavaScriptException();
    return false;
  }

 private:
  int64_t fail(size_t i, const char* what) {
    if (error_.empty()) error_ = std::string(kernel_) + ": argument " + std::to_string(i) + " must be " + what;
    return 0;
  }
  const Napi::CallbackInfo& info_;
  const char* kernel_;
  std::string error_;
};

constexpr size_t kMmapBytes = size_t{1} << 20;

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Args a(info, "alloc");
  int64_t n = a.num(0);
  // at most 4 GiB, the largest ArrayBuffer this Node makes: a larger external buffer is a double free on failure
  a.require(n >= 0 && n <= (int64_t{1} << 30), "n must be in [0, 2^30] floats, got " + std::to_string(n));
  if (!a.ok()) return info.Env().Undefined();
  size_t bytes = ((static_cast<size_t>(n) * 4 + 63) / 64) * 64;
  if (bytes == 0) bytes = 64;
  // Large buffers come straight from mmap: zero pages that cost no memory until written, so the part of a
  // workspace buffer kept as headroom for longer batches (Workspace grows by 25 %) is not resident until used.
  const bool mapped = bytes >= kMmapBytes;
  void* p = nullptr;
  if (mapped) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) p = nullptr;
  } else {
    p = std::aligned_alloc(64, bytes);
    if (p != nullptr) std::memset(p, 0, bytes);
  }
  if (p == nullptr) {
    Napi::Error::New(info.Env(), "alloc: out of memory allocating " + std::to_string(bytes) + " bytes")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(bytes));
  auto ab = Napi::ArrayBuffer::New(info.Env(), p, bytes, [bytes, mapped](Napi::Env env, void* data) {
    if (mapped) munmap(data, bytes);
    else std::free(data);
    Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(bytes));
  });
  return Napi::Float32Array::New(info.Env(), static_cast<size_t>(n), ab, 0);
}

constexpr int64_t kMaxThreads = 1024;

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setThreads");
  int64_t n = a.num(0);
  // 100000 threads abort the process (thread creation fails inside the pool)
  a.require(n >= 1 && n <= kMaxThreads, "threads must be in [1, " + std::to_string(kMaxThreads) + "], got " + std::to_string(n));
  if (!a.ok()) return info.Env().Undefined();
  sp::set_pool_size(static_cast<int>(n));
  return Napi::Number::New(info.Env(), sp::pool_size());
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), sp::pool_size()); }

// watchSignals(on): catch SIGINT/SIGTERM into a flag (see signals.cc); pendingSignal() -> 0 or the signal number
Napi::Value WatchSignals(const Napi::CallbackInfo& info) {
  sp::watch_signals(info.Length() > 0 && info[0].ToBoolean().Value());
  return info.Env().Undefined();
}
Napi::Value PendingSignal(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), sp::pending_signal()); }

// gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args a(info, "gemm");
  bool ta = a.flag(0), tb = a.flag(1);
  int64_t M = a.num(2), N = a.num(3), K = a.num(4);
  float alpha = static_cast<float>(a.real(5));
  int64_t lda = a.num(7), ldb = a.num(9), ldc = a.num(12);
  float beta = static_cast<float>(a.real(10));
  int64_t arows = ta ? K : M, brows = tb ? N : K;
  const float* A = a.f32(6, (arows - 1) * lda + (ta ? M : K));
  const float* B = a.f32(8, (brows - 1) * ldb + (tb ? K : N));
  float* C = a.f32(11, (M - 1) * ldc + N);
  a.positive(M, "M");
  a.positive(N, "N");
  a.positive(K, "K");
  // row-major leading dimensions must cover a row, or OpenBLAS silently returns without computing
  a.require(lda >= (ta ? M : K), "lda=" + std::to_string(lda) + " is smaller than a row of A (" + std::to_string(ta ? M : K) + ")");
  a.require(ldb >= (tb ? K : N), "ldb=" + std::to_string(ldb) + " is smaller than a row of B (" + std::to_string(tb ? K : N) + ")");
  a.require(ldc >= N, "ldc=" + std::to_string(ldc) + " is smaller than N=" + std::to_string(N));
  if (!a.ok()) return info.Env().Undefined();
  sp::gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return info.Env().Undefined();
}

// matmulForward(out, inp, weight, bias|null, N, C, OC, accumulate)
Napi::Value MatmulForward(const Napi::CallbackInfo& info) {
  Args a(info, "matmulForward");
  int64_t N = a.num(4), C = a.num(5), OC = a.num(6);
  a.positive(N, "N");
  a.positive(C, "C");
  a.positive(OC, "OC");
  float* out = a.f32(0, N * OC);
  const float* inp = a.f32(1, N * C);
  const float* w = a.f32(2, OC * C);
  const float* bias = a.f32(3, OC, true);
  bool acc = a.flag(7);
  if (!a.ok()) return info.Env().Undefined();
  sp::matmul_forward(out, inp, w, bias, N, C, OC, acc);
  return info.Env().Undefined();
}

// matmulBackward(dinp|null, dweight|null, dbias|null, dout, inp|null, weight, N, C, OC)
Napi::Value MatmulBackward(const Napi::CallbackInfo& info) {
  Args a(info, "matmulBackward");
  int64_t N = a.num(6), C = a.num(7), OC = a.num(8);
  a.positive(N, "N");
  a.positive(C, "C");
  a.positive(OC, "OC");
  float* dinp = a.f32(0, N * C, true);
  float* dw = a.f32(1, OC * C, true);
  float* db = a.f32(2, OC, true);
  const float* dout = a.f32(3, N * OC);
  const float* inp = a.f32(4, N * C, dw == nullptr);
  const float* w = a.f32(5, OC * C, dinp == nullptr);
  if (!a.ok()) return info.Env().Undefined();
  sp::matmul_backward(dinp, dw, db, dout, inp, w, N, C, OC);
  return info.Env().Undefined();
}

// rmsnormForward(out, rstd|null, inp (fp32 or bf16), w, N, C, eps, inp16?|null)
Napi::Value RmsnormForward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormForward");
  int64_t N = a.num(4), C = a.num(5);
  a.positive(N, "N");
  a.positive(C, "C");
  float* out = a.f32(0, N * C);
  float* rstd = a.f32(1, N, true);
  const sp::Src inp = a.src(2, N * C);
  const float* w = a.f32(3, C);
  float eps = static_cast<float>(a.real(6));
  uint16_t* inp16 = a.u16(7, N * C, true);
  if (!a.ok()) return info.Env().Undefined();
  sp::rmsnorm_forward(out, rstd, inp, w, N, C, eps, inp16);
  return info.Env().Undefined();
}

// rmsnormBackward(dinp|null, dw|null, dout, inp (fp32 or bf16), w, rstd, N, C)
Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormBackward");
  int64_t N = a.num(6), C = a.num(7);
  a.positive(N, "N");
  a.positive(C, "C");
  float* dinp = a.f32(0, N * C, true);
  float* dw = a.f32(1, C, true);
  const float* dout = a.f32(2, N * C);
  const sp::Src inp = a.src(3, N * C);
  const float* w = a.f32(4, C);
  const float* rstd = a.f32(5, N);
  if (!a.ok()) return info.Env().Undefined();
  sp::rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C);
  return info.Env().Undefined();
}

// layernormForward(out, mean|null, rstd|null, inp, w, b|null, N, C, eps)
Napi::Value LayernormForward(const Napi::CallbackInfo& info) {
  Args a(info, "layernormForward");
  int64_t N = a.num(6), C = a.num(7);
  a.positive(N, "N");
  a.positive(C, "C");
  float* out = a.f32(0, N * C);
  float* mean = a.f32(1, N, true);
  float* rstd = a.f32(2, N, true);
  const float* inp = a.f32(3, N * C);
  const float* w = a.f32(4, C);
  const float* b = a.f32(5, C, true);
  float eps = static_cast<float>(a.real(8));
  if (!a.ok()) return info.Env().Undefined();
  sp::layernorm_forward(out, mean, rstd, inp, w, b, N, C, eps);
  return info.Env().Undefined();
}

// layernormBackward(dinp|null, dw|null, db|null, dout, inp, w, mean, rstd, N, C)
Napi::Value LayernormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "layernormBackward");
  int64_t N = a.num(8), C = a.num(9);
  a.positive(N, "N");
  a.positive(C, "C");
  float* dinp = a.f32(0, N * C, true);
  float* dw = a.f32(1, C, true);
  float* db = a.f32(2, C, true);
  const float* dout = a.f32(3, N * C);
  const float* inp = a.f32(4, N * C);
  const float* w = a.f32(5, C);
  const float* mean = a.f32(6, N);
  const float* rstd = a.f32(7, N);
  if (!a.ok()) return info.Env().Undefined();
  sp::layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
  return info.Env().Undefined();
}

int act_kind(Args& a, size_t i) {
  int64_t k = a.num(i);
  if (k < 0 || k > 3) return -1;
  return static_cast<int>(k);
}

// actForward(kind, out, inp, n, inp16?|null) / actBackward(kind, dinp, dout, inp (fp32 or bf16), n)
Napi::Value ActForward(const Napi::CallbackInfo& info) {
  Args a(info, "actForward");
  int k = act_kind(a, 0);
  int64_t n = a.num(3);
  float* out = a.f32(1, n);
  const float* inp = a.f32(2, n);
  uint16_t* inp16 = a.u16(4, n, true);
  if (k < 0) a.positive(0, "activation kind in 0..3");
  if (!a.ok()) return info.Env().Undefined();
  sp::act_forward(k, out, inp, n, inp16);
  return info.Env().Undefined();
}
Napi::Value ActBackward(const Napi::CallbackInfo& info) {
  Args a(info, "actBackward");
  int k = act_kind(a, 0);
  int64_t n = a.num(4);
  float* dinp = a.f32(1, n);
  const float* dout = a.f32(2, n);
  const sp::Src inp = a.src(3, n);
  if (k < 0) a.positive(0, "activation kind in 0..3");
  if (!a.ok()) return info.Env().Undefined();
  sp::act_backward(k, dinp, dout, inp, n);
  return info.Env().Undefined();
}
// gatedForward(kind, out, a, g, n, a16?|null, g16?|null) / gatedBackward(kind, da|null, dg|null, dout, a, g, n)
// (a and g both fp32 or both bf16)
Napi::Value GatedForward(const Napi::CallbackInfo& info) {
  Args a(info, "gatedForward");
  int k = act_kind(a, 0);
  int64_t n = a.num(4);
  float* out = a.f32(1, n);
  const float* x = a.f32(2, n);
  const float* g = a.f32(3, n);
  uint16_t* x16 = a.u16(5, n, true);
  uint16_t* g16 = a.u16(6, n, true);
  a.require((x16 == nullptr) == (g16 == nullptr), "a16 and g16 are both given or both null");
  if (k < 0) a.positive(0, "activation kind in 0..3");
  if (!a.ok()) return info.Env().Undefined();
  sp::gated_forward(k, out, x, g, n, x16, g16);
  return info.Env().Undefined();
}
Napi::Value GatedBackward(const Napi::CallbackInfo& info) {
  Args a(info, "gatedBackward");
  int k = act_kind(a, 0);
  int64_t n = a.num(6);
  float* dx = a.f32(1, n, true);
  float* dg = a.f32(2, n, true);
  const float* dout = a.f32(3, n);
  const sp::Src x = a.src(4, n);
  const sp::Src g = a.src(5, n);
  a.require((x.h == nullptr) == (g.h == nullptr), "a and g are both Float32Array or both Uint16Array (bf16)");
  if (k < 0) a.positive(0, "activation kind in 0..3");
  if (!a.ok()) return info.Env().Undefined();
  sp::gated_backward(k, dx, dg, dout, x, g, n);
  return info.Env().Undefined();
}

// dims object: {B, NH, NKV, Tq, Tk, HS, qRow, kRow, vRow, qBatch, kBatch, vBatch, causal, scale}
bool read_attn_dims(const Napi::CallbackInfo& info, size_t i, AttnDims& d, std::string& err) {
  if (i >= info.Length() || !info[i].IsObject()) {
    err = "attention: dims must be an object";
    return false;
  }
  auto o = info[i].As<Napi::Object>();
  auto get = [&](const char* k, int64_t& out) {
    Napi::Value v = o.Get(k);
    if (!v.IsNumber()) {
      err = std::string("attention: dims.") + k + " must be a number";
      return false;
    }
    const double x = v.As<Napi::Number>().DoubleValue();
    if (!(x > -2147483648.0 && x < 2147483648.0) || x != static_cast<double>(static_cast<int64_t>(x))) {
      err = std::string("attention: dims.") + k + " must be an integer in (-2^31, 2^31), got " + v.ToString().Utf8Value();
      return false;
    }
    out = static_cast<int64_t>(x);
    return true;
  };
  if (!get("B", d.B) || !get("NH", d.NH) || !get("NKV", d.NKV) || !get("Tq", d.Tq) || !get("Tk", d.Tk) ||
      !get("HS", d.HS) || !get("qRow", d.qRow) || !get("kRow", d.kRow) || !get("vRow", d.vRow) ||
      !get("qBatch", d.qBatch) || !get("kBatch", d.kBatch) || !get("vBatch", d.vBatch))
    return false;
  d.causal = o.Get("causal").ToBoolean().Value();
  Napi::Value s = o.Get("scale");
  d.scale = s.IsNumber() ? s.As<Napi::Number>().FloatValue() : 1.0f;
  Napi::Value dp = o.Get("dropP");
  d.dropP = dp.IsNumber() ? dp.As<Napi::Number>().FloatValue() : 0.0f;
  Napi::Value ds = o.Get("dropSeed");
  d.dropSeed = ds.IsNumber() ? static_cast<uint64_t>(ds.As<Napi::Number>().DoubleValue()) : 0;
  if (!(d.dropP >= 0.0f && d.dropP < 1.0f)) {  // NaN fails too
    err = "attention: dims.dropP must be in [0, 1), got " + std::to_string(d.dropP);
    return false;
  }
  if (d.B <= 0 || d.NH <= 0 || d.NKV <= 0 || d.Tq <= 0 || d.Tk <= 0 || d.HS <= 0 || d.NH % d.NKV != 0) {
    err = "attention: bad dims B=" + std::to_string(d.B) + " NH=" + std::to_string(d.NH) +
          " NKV=" + std::to_string(d.NKV) + " Tq=" + std::to_string(d.Tq) + " Tk=" + std::to_string(d.Tk) +
          " HS=" + std::to_string(d.HS);
    return false;
  }
  // Strides must not let rows or heads overlap or run backwards: together with the buffer-length checks this
  // keeps every access in bounds.
  const int64_t qw = d.NH * d.HS, kw = d.NKV * d.HS;
  if (d.qRow < qw || d.kRow < kw || d.vRow < kw || d.qBatch < 0 || d.kBatch < 0 || d.vBatch < 0) {
    err = "attention: row strides must cover a row (qRow >= NH*HS = " + std::to_string(qw) + ", kRow/vRow >= NKV*HS = " +
          std::to_string(kw) + ") and batch strides must be >= 0; got qRow=" + std::to_string(d.qRow) +
          " kRow=" + std::to_string(d.kRow) + " vRow=" + std::to_string(d.vRow);
    return false;
  }
  return true;
}

// Elements a strided (B, T, heads*HS) view reaches.
int64_t strided_need(int64_t B, int64_t T, int64_t batch, int64_t row, int64_t width) {
  int64_t r = 0, s = 0;
  if (__builtin_mul_overflow(B - 1, batch, &r) || __builtin_mul_overflow(T - 1, row, &s) || __builtin_add_overflow(r, s, &r) ||
      __builtin_add_overflow(r, width, &r))
    return -1;
  return r;
}

// attentionForward(out, probs, q, k, v, bias|null, mask|null, dims)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  AttnDims d{};
  std::string err;
  if (!read_attn_dims(info, 7, d, err)) {
    Napi::RangeError::New(info.Env(), err).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Args a(info, "attentionForward");
  const int64_t nq = strided_need(d.B, d.Tq, d.qBatch, d.qRow, d.NH * d.HS);
  const int64_t nk = strided_need(d.B, d.Tk, d.kBatch, d.kRow, d.NKV * d.HS);
  const int64_t nv = strided_need(d.B, d.Tk, d.vBatch, d.vRow, d.NKV * d.HS);
  float* out = a.f32(0, prod({d.B, d.Tq, d.NH, d.HS}));
  const sp::Src probs = a.src(1, prod({d.B, d.NH, d.Tq, d.Tk}));
  const float* q = a.f32(2, nq);
  const float* k = a.f32(3, nk);
  const float* v = a.f32(4, nv);
  const float* bias = a.f32(5, prod({d.NH, d.Tq, d.Tk}), true);
  const float* mask = a.f32(6, d.B * d.Tk, true);
  sp::AttnSave16 save16;
  save16.probs = const_cast<uint16_t*>(probs.h);
  save16.q = a.u16(8, nq, true);
  save16.k = a.u16(9, nk, true);
  save16.v = a.u16(10, nv, true);
  if (!a.ok()) return info.Env().Undefined();
  sp::attention_forward(out, const_cast<float*>(probs.f), q, k, v, bias, mask, d, save16);
  return info.Env().Undefined();
}

// attentionBackward(dq|null, dk|null, dv|null, dout, q, k, v, probs, dims, dbias?|null); q, k, v, probs each fp32 or bf16
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  AttnDims d{};
  std::string err;
  if (!read_attn_dims(info, 8, d, err)) {
    Napi::RangeError::New(info.Env(), err).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Args a(info, "attentionBackward");
  const int64_t nq = strided_need(d.B, d.Tq, d.qBatch, d.qRow, d.NH * d.HS);
  const int64_t nk = strided_need(d.B, d.Tk, d.kBatch, d.kRow, d.NKV * d.HS);
  const int64_t nv = strided_need(d.B, d.Tk, d.vBatch, d.vRow, d.NKV * d.HS);
  float* dq = a.f32(0, nq, true);
  float* dk = a.f32(1, nk, true);
  float* dv = a.f32(2, nv, true);
  const float* dout = a.f32(3, prod({d.B, d.Tq, d.NH, d.HS}));
  const sp::Src q = a.src(4, nq);
  const sp::Src k = a.src(5, nk);
  const sp::Src v = a.src(6, nv);
  const sp::Src probs = a.src(7, prod({d.B, d.NH, d.Tq, d.Tk}));
  float* dbias = a.f32(9, prod({d.NH, d.Tq, d.Tk}), true);
  if (!a.ok()) return info.Env().Undefined();
  sp::attention_backward(dq, dk, dv, dout, q, k, v, probs, d, dbias);
  return info.Env().Undefined();
}

// add(out, a, b, n)
Napi::Value Add(const Napi::CallbackInfo& info) {
  Args a(info, "add");
  int64_t n = a.num(3);
  float* out = a.f32(0, n);
  const float* x = a.f32(1, n);
  const float* y = a.f32(2, n);
  if (!a.ok()) return info.Env().Undefined();
  sp::add_forward(out, x, y, n);
  return info.Env().Undefined();
}
// axpy(y, x, alpha, n)
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args a(info, "axpy");
  int64_t n = a.num(3);
  float* y = a.f32(0, n);
  const float* x = a.f32(1, n);
  float alpha = static_cast<float>(a.real(2));
  if (!a.ok()) return info.Env().Undefined();
  sp::axpy(y, x, alpha, n);
  return info.Env().Undefined();
}
// scale(x, alpha, n)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  Args a(info, "scale");
  int64_t n = a.num(2);
  float* x = a.f32(0, n);
  float alpha = static_cast<float>(a.real(1));
  if (!a.ok()) return info.Env().Undefined();
  sp::scale_inplace(x, alpha, n);
  return info.Env().Undefined();
}

// zero(x, n)
Napi::Value Zero(const Napi::CallbackInfo& info) {
  Args a(info, "zero");
  int64_t n = a.num(1);
  float* x = a.f32(0, n);
  if (!a.ok()) return info.Env().Undefined();
  sp::fill_zero(x, n);
  return info.Env().Undefined();
}

// embedding(out, ids, table, N, C, V) -> index of first bad id or -1
Napi::Value Embedding(const Napi::CallbackInfo& info) {
  Args a(info, "embedding");
  int64_t N = a.num(3), C = a.num(4), V = a.num(5);
  float* out = a.f32(0, N * C);
  const int32_t* ids = a.i32(1, N);
  const float* table = a.f32(2, V * C);
  if (!a.ok()) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(sp::embedding_forward(out, ids, table, N, C, V)));
}

// embeddingBackward(dtable, ids, dout, N, C, V) -> index of the first out-of-range id (nothing written), or -1
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingBackward");
  int64_t N = a.num(3), C = a.num(4), V = a.num(5);
  a.require(N >= 0 && C > 0 && V > 0, "N >= 0, C > 0 and V > 0 required");
  float* dtable = a.f32(0, V * C);
  const int32_t* ids = a.i32(1, N);
  const float* dout = a.f32(2, N * C);
  if (!a.ok()) return info.Env().Undefined();
  for (int64_t r = 0; r < N; r++)
    if (ids[r] < 0 || ids[r] >= V) return Napi::Number::New(info.Env(), static_cast<double>(r));
  sp::embedding_backward(dtable, ids, dout, N, C);
  return Napi::Number::New(info.Env(), -1);
}

// dropoutForward(out, keep, inp, p, seed, n) / dropoutBackward(dinp, dout, keep, p, n)
Napi::Value DropoutForward(const Napi::CallbackInfo& info) {
  Args a(info, "dropoutForward");
  int64_t n = a.num(5);
  float* out = a.f32(0, n);
  uint8_t* keep = a.u8(1, n);
  const float* inp = a.f32(2, n);
  float p = static_cast<float>(a.real(3));
  double seed = a.real(4);
  a.require(p >= 0.0f && p < 1.0f, "p must be in [0, 1), got " + std::to_string(p));  // NaN fails too
  if (!a.ok()) return info.Env().Undefined();
  sp::dropout_forward(out, keep, inp, p, static_cast<uint64_t>(seed), n);
  return info.Env().Undefined();
}
Napi::Value DropoutBackward(const Napi::CallbackInfo& info) {
  Args a(info, "dropoutBackward");
  int64_t n = a.num(4);
  float* dinp = a.f32(0, n);
  const float* dout = a.f32(1, n);
  const uint8_t* keep = a.u8(2, n);
  float p = static_cast<float>(a.real(3));
  a.require(p >= 0.0f && p < 1.0f, "p must be in [0, 1), got " + std::to_string(p));
  if (!a.ok()) return info.Env().Undefined();
  sp::dropout_backward(dinp, dout, keep, p, n);
  return info.Env().Undefined();
}

// crossEntropy(losses|null, lse|null, dlogits|null, logits, targets, N, V, gradScale, ignoreIndex) -> valid rows
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Args a(info, "crossEntropy");
  int64_t N = a.num(5), V = a.num(6);
  a.positive(N, "N");
  a.positive(V, "V");
  float* losses = a.f32(0, N, true);
  float* lse = a.f32(1, N, true);
  float* dlogits = a.f32(2, N * V, true);
  const float* logits = a.f32(3, N * V);
  const int32_t* targets = a.i32(4, N);
  float gs = static_cast<float>(a.real(7));
  int32_t ignore = static_cast<int32_t>(a.num(8));
  if (!a.ok()) return info.Env().Undefined();
  int64_t r = sp::cross_entropy(losses, lse, dlogits, logits, targets, N, V, gs, ignore);
  if (r < 0) {
    int64_t row = -r - 1;
    Napi::RangeError::New(info.Env(), "crossEntropy: target " + std::to_string(targets[row]) + " at row " +
                                          std::to_string(row) + " is outside the vocabulary [0, " +
                                          std::to_string(V) + ")")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

// argmaxRows(out: Int32Array (N), x (N, V), N, V)
Napi::Value ArgmaxRows(const Napi::CallbackInfo& info) {
  Args a(info, "argmaxRows");
  int64_t N = a.num(2), V = a.num(3);
  a.positive(N, "N");
  a.positive(V, "V");
  int32_t* out = a.i32(0, N);
  const float* x = a.f32(1, N * V);
  if (!a.ok()) return info.Env().Undefined();
  sp::argmax_rows(out, x, N, V);
  return info.Env().Undefined();
}

// ---- bf16 (opt-in): weights held as Uint16Array of bfloat16 bits ----
uint16_t* bf16_arg(Args& a, size_t i, int64_t need) {
  return a.typed<uint16_t>(i, need, napi_uint16_array, "Uint16Array", false);
}

// bf16Native() -> true when the bf16 GEMM runs on AVX512-BF16 (else the sgemm fallback)
Napi::Value Bf16Native(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), sp::bf16_native()); }

// toBf16(out: Uint16Array, inp, n)
Napi::Value ToBf16(const Napi::CallbackInfo& info) {
  Args a(info, "toBf16");
  int64_t n = a.num(2);
  uint16_t* out = bf16_arg(a, 0, n);
  const float* inp = a.f32(1, n);
  if (!a.ok()) return info.Env().Undefined();
  sp::f32_to_bf16(out, inp, n);
  return info.Env().Undefined();
}

// widenBf16(out, inp: Uint16Array, n): out = fp32(inp), exact
Napi::Value WidenBf16(const Napi::CallbackInfo& info) {
  Args a(info, "widenBf16");
  int64_t n = a.num(2);
  float* out = a.f32(0, n);
  const uint16_t* inp = bf16_arg(a, 1, n);
  if (!a.ok()) return info.Env().Undefined();
  sp::bf16_to_f32(out, inp, n);
  return info.Env().Undefined();
}

// transposeToBf16(out: Uint16Array (cols, rows), w (rows, cols), rows, cols)
Napi::Value TransposeToBf16(const Napi::CallbackInfo& info) {
  Args a(info, "transposeToBf16");
  int64_t rows = a.num(2), cols = a.num(3);
  a.positive(rows, "rows");
  a.positive(cols, "cols");
  uint16_t* out = bf16_arg(a, 0, rows * cols);
  const float* w = a.f32(1, rows * cols);
  if (!a.ok()) return info.Env().Undefined();
  sp::transpose_to_bf16(out, w, rows, cols);
  return info.Env().Undefined();
}

// gemmBf16(C, A: Uint16Array (M, K), W: Uint16Array (N, K), M, N, K, ldc, beta): C = A W^T + beta C
Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  Args a(info, "gemmBf16");
  int64_t M = a.num(3), N = a.num(4), K = a.num(5), ldc = a.num(6);
  float beta = static_cast<float>(a.real(7));
  a.positive(M, "M");
  a.positive(N, "N");
  a.positive(K, "K");
  float* C = a.f32(0, (M - 1) * ldc + N);
  const uint16_t* A = bf16_arg(a, 1, M * K);
  const uint16_t* W = bf16_arg(a, 2, N * K);
  if (!a.ok()) return info.Env().Undefined();
  if (ldc < N) {  // rows of C would overlap (or, negative, run before C)
    Napi::RangeError::New(info.Env(), "gemmBf16: ldc must be >= N = " + std::to_string(N) + ", got " + std::to_string(ldc))
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  sp::gemm_bf16_nt(C, A, W, M, N, K, ldc, beta);
  return info.Env().Undefined();
}

// matmulForwardBf16(out, inp, weight: Uint16Array (OC, C), bias|null, N, C, OC, accumulate)
Napi::Value MatmulForwardBf16(const Napi::CallbackInfo& info) {
  Args a(info, "matmulForwardBf16");
  int64_t N = a.num(4), C = a.num(5), OC = a.num(6);
  a.positive(N, "N");
  a.positive(C, "C");
  a.positive(OC, "OC");
  float* out = a.f32(0, N * OC);
  const float* inp = a.f32(1, N * C);
  const uint16_t* w = bf16_arg(a, 2, OC * C);
  const float* bias = a.f32(3, OC, true);
  bool acc = a.flag(7);
  if (!a.ok()) return info.Env().Undefined();
  sp::matmul_forward_bf16(out, inp, w, bias, N, C, OC, acc);
  return info.Env().Undefined();
}

// matmulBackwardInputBf16(dinp, dout, weightT: Uint16Array (C, OC), N, C, OC): dinp += dout @ weight
Napi::Value MatmulBackwardInputBf16(const Napi::CallbackInfo& info) {
  Args a(info, "matmulBackwardInputBf16");
  int64_t N = a.num(3), C = a.num(4), OC = a.num(5);
  a.positive(N, "N");
  a.positive(C, "C");
  a.positive(OC, "OC");
  float* dinp = a.f32(0, N * C);
  const float* dout = a.f32(1, N * OC);
  const uint16_t* wT = bf16_arg(a, 2, C * OC);
  if (!a.ok()) return info.Env().Undefined();
  sp::matmul_backward_input_bf16(dinp, dout, wT, N, C, OC);
  return info.Env().Undefined();
}

// ---- oneDNN bf16 matmul with frozen weights held once, blocked (see onednn.h) ----
// A weight handle is an External tagged with kWeightTag, so no other JS value can pass for one.
const napi_type_tag kWeightTag = {0x5f0b3c1d2e4a4f61ULL, 0x9a7d1c2b3e4f5061ULL};

// A dimension: an integer in [lo, 2^31) (JS numbers that are not integers, NaN, +-Inf are refused).
int64_t dim_arg(Args& a, const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, const char* kernel) {
  int64_t v = a.num(i);
  if (i < info.Length() && info[i].IsNumber()) {
    const double d = info[i].As<Napi::Number>().DoubleValue();
    if (!(d == static_cast<double>(static_cast<int64_t>(d))) || d < static_cast<double>(lo) || d >= 2147483648.0) {
      a.require(false, std::string(name) + " must be an integer in [" + std::to_string(lo) + ", 2^31), got " +
                           info[i].ToString().Utf8Value());
      (void)kernel;
      return lo;
    }
  }
  return v;
}

// Elements a (rows, cols) view with rows ld apart reaches, or -1 when that overflows or ld < cols.
int64_t strided_count(int64_t rows, int64_t cols, int64_t ld) {
  if (rows <= 0 || cols <= 0 || ld < cols) return -1;
  int64_t r;
  if (__builtin_mul_overflow(rows - 1, ld, &r) || __builtin_add_overflow(r, cols, &r)) return -1;
  return r;
}

sp::OnednnWeight* weight_arg(const Napi::CallbackInfo& info, size_t i, Args& a) {
  if (i < info.Length() && info[i].IsExternal()) {
    auto ext = info[i].As<Napi::External<sp::OnednnWeight>>();
    if (ext.CheckTypeTag(&kWeightTag) && ext.Data() != nullptr) return ext.Data();
  }
  a.require(false, "argument " + std::to_string(i) + " must be a bf16 weight handle (from bf16WeightCreate)");
  return nullptr;
}

Napi::Value OnednnAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), sp::onednn_bf16_available());
}
Napi::Value OnednnInfo(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), sp::onednn_info()); }

// bf16WeightCreate(w: Float32Array | Uint16Array (N, K), N, K) -> handle
Napi::Value Bf16WeightCreate(const Napi::CallbackInfo& info) {
  Args a(info, "bf16WeightCreate");
  const int64_t N = dim_arg(a, info, 1, "N", 1, "bf16WeightCreate"), K = dim_arg(a, info, 2, "K", 1, "bf16WeightCreate");
  int64_t need = -1;
  if (a.ok()) need = strided_count(N, K, K);
  else return info.Env().Undefined();
  const bool is16 = info.Length() > 0 && info[0].IsTypedArray() &&
                    info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  const float* w32 = is16 ? nullptr : a.f32(0, need);
  const uint16_t* w16 = is16 ? a.typed<uint16_t>(0, need, napi_uint16_array, "Uint16Array", false) : nullptr;
  if (!a.ok()) return info.Env().Undefined();
  std::string err;
  sp::OnednnWeight* w = sp::onednn_weight_create(w32, w16, N, K, err);
  if (w == nullptr) {
    Napi::Error::New(info.Env(), "bf16WeightCreate: " + err).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const int64_t bytes = sp::onednn_weight_bytes(w);
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), bytes);
  auto ext = Napi::External<sp::OnednnWeight>::New(info.Env(), w, [bytes](Napi::Env env, sp::OnednnWeight* p) {
    sp::onednn_weight_destroy(p);
    Napi::MemoryManagement::AdjustExternalMemory(env, -bytes);
  });
  ext.TypeTag(&kWeightTag);
  return ext;
}

// bf16WeightInfo(handle) -> {rows, cols, bytes}
Napi::Value Bf16WeightInfo(const Napi::CallbackInfo& info) {
  Args a(info, "bf16WeightInfo");
  sp::OnednnWeight* w = weight_arg(info, 0, a);
  if (!a.ok()) return info.Env().Undefined();
  auto o = Napi::Object::New(info.Env());
  o.Set("rows", Napi::Number::New(info.Env(), static_cast<double>(sp::onednn_weight_rows(w))));
  o.Set("cols", Napi::Number::New(info.Env(), static_cast<double>(sp::onednn_weight_cols(w))));
  o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(sp::onednn_weight_bytes(w))));
  return o;
}

// bf16WeightToF32(handle, out: Float32Array (N, K))
Napi::Value Bf16WeightToF32(const Napi::CallbackInfo& info) {
  Args a(info, "bf16WeightToF32");
  sp::OnednnWeight* w = weight_arg(info, 0, a);
  if (!a.ok()) return info.Env().Undefined();
  float* out = a.f32(1, sp::onednn_weight_rows(w) * sp::onednn_weight_cols(w));
  if (!a.ok()) return info.Env().Undefined();
  std::string err;
  if (!sp::onednn_weight_to_f32(w, out, err)) Napi::Error::New(info.Env(), "bf16WeightToF32: " + err).ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

// bf16Matmul(handle, out, ldc, a: Float32Array | Uint16Array, lda, M, transposed, accumulate, bias|null)
//   transposed = false: out (M, N) [+]= a (M, K) . W^T (+ bias (N));  true: out (M, K) [+]= a (M, N) . W
Napi::Value Bf16Matmul(const Napi::CallbackInfo& info) {
  Args a(info, "bf16Matmul");
  sp::OnednnWeight* w = weight_arg(info, 0, a);
  const int64_t ldc = dim_arg(a, info, 2, "ldc", 1, ""), lda = dim_arg(a, info, 4, "lda", 1, ""),
                M = dim_arg(a, info, 5, "M", 1, "");
  const bool trans = a.flag(6), acc = a.flag(7);
  if (!a.ok()) return info.Env().Undefined();
  const int64_t N = sp::onednn_weight_rows(w), K = sp::onednn_weight_cols(w);
  const int64_t kin = trans ? N : K, nout = trans ? K : N;
  const int64_t need_c = strided_count(M, nout, ldc), need_a = strided_count(M, kin, lda);
  a.require(need_c >= 0, "ldc=" + std::to_string(ldc) + " must be >= the output width " + std::to_string(nout));
  a.require(need_a >= 0, "lda=" + std::to_string(lda) + " must be >= the input width " + std::to_string(kin));
  if (!a.ok()) return info.Env().Undefined();
  float* out = a.f32(1, need_c);
  const bool is16 = info.Length() > 3 && info[3].IsTypedArray() &&
                    info[3].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  const float* a32 = is16 ? nullptr : a.f32(3, need_a);
  const uint16_t* a16 = is16 ? a.typed<uint16_t>(3, need_a, napi_uint16_array, "Uint16Array", false) : nullptr;
  const float* bias = a.f32(8, nout, true);
  a.require(bias == nullptr || !trans, "bias is only for transposed = false");
  if (!a.ok()) return info.Env().Undefined();
  std::string err;
  if (!sp::onednn_matmul(w, out, ldc, a32, a16, lda, M, trans, acc, bias, err))
    Napi::Error::New(info.Env(), "bf16Matmul: " + err).ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

// bf16WeightUpdate(handle, w: Float32Array (N, K)): re-round the weight's bf16 copy from new fp32 values
Napi::Value Bf16WeightUpdate(const Napi::CallbackInfo& info) {
  Args a(info, "bf16WeightUpdate");
  sp::OnednnWeight* w = weight_arg(info, 0, a);
  if (!a.ok()) return info.Env().Undefined();
  const float* w32 = a.f32(1, sp::onednn_weight_rows(w) * sp::onednn_weight_cols(w));
  if (!a.ok()) return info.Env().Undefined();
  std::string err;
  if (!sp::onednn_weight_update(w, w32, err)) Napi::Error::New(info.Env(), "bf16WeightUpdate: " + err).ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

// bf16WeightGrad(dw, ldw, dy, ldy, x, ldx, N, OC, C, accumulate) -> the kernel's name
//   dw (OC, C) [+]= bf16(dy (N, OC))^T . bf16(x (N, C)), fp32 accumulation; rows ldw / ldy / ldx apart
Napi::Value Bf16WeightGrad(const Napi::CallbackInfo& info) {
  Args a(info, "bf16WeightGrad");
  const int64_t ldw = dim_arg(a, info, 1, "ldw", 1, ""), ldy = dim_arg(a, info, 3, "ldy", 1, ""),
                ldx = dim_arg(a, info, 5, "ldx", 1, ""), N = dim_arg(a, info, 6, "N", 1, ""),
                OC = dim_arg(a, info, 7, "OC", 1, ""), C = dim_arg(a, info, 8, "C", 1, "");
  const bool acc = a.flag(9);
  if (!a.ok()) return info.Env().Undefined();
  const int64_t need_w = strided_count(OC, C, ldw), need_y = strided_count(N, OC, ldy), need_x = strided_count(N, C, ldx);
  a.require(need_w >= 0, "ldw=" + std::to_string(ldw) + " must be >= C = " + std::to_string(C));
  a.require(need_y >= 0, "ldy=" + std::to_string(ldy) + " must be >= OC = " + std::to_string(OC));
  a.require(need_x >= 0, "ldx=" + std::to_string(ldx) + " must be >= C = " + std::to_string(C));
  if (!a.ok()) return info.Env().Undefined();
  float* dw = a.f32(0, need_w);
  const float* dy = a.f32(2, need_y);
  const float* x = a.f32(4, need_x);
  if (!a.ok()) return info.Env().Undefined();
  std::string err, impl;
  if (!sp::onednn_weight_grad(dw, ldw, dy, ldy, x, ldx, N, OC, C, acc, &impl, err)) {
    Napi::Error::New(info.Env(), "bf16WeightGrad: " + err).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::String::New(info.Env(), impl);
}

// embeddingBf16(out, ids, table: Uint16Array (V, C), N, C, V) -> index of the first out-of-range id (nothing
// written), or -1
Napi::Value EmbeddingBf16(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingBf16");
  const int64_t N = dim_arg(a, info, 3, "N", 0, ""), C = dim_arg(a, info, 4, "C", 1, ""), V = dim_arg(a, info, 5, "V", 1, "");
  if (!a.ok()) return info.Env().Undefined();
  float* out = a.f32(0, N * C);
  const int32_t* ids = a.i32(1, N);
  const uint16_t* table = bf16_arg(a, 2, V * C);
  if (!a.ok()) return info.Env().Undefined();
  for (int64_t r = 0; r < N; r++)
    if (ids[r] < 0 || ids[r] >= V) return Napi::Number::New(info.Env(), static_cast<double>(r));
  sp::embedding_bf16(out, ids, table, N, C);
  return Napi::Number::New(info.Env(), -1);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  openblas_set_num_threads(1);  // the engine's pool owns all cores
  // Large blocks (weights, activations) come straight from mmap and go back to the OS when freed. glibc otherwise
  // raises its mmap threshold after the first large free, and the fp32 tensors a bf16 model is converted from
  // then stay in the heap as retained RSS (~200 MB for T5-base).
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("watchSignals", Napi::Function::New(env, WatchSignals));
  exports.Set("pendingSignal", Napi::Function::New(env, PendingSignal));
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("matmulForward", Napi::Function::New(env, MatmulForward));
  exports.Set("matmulBackward", Napi::Function::New(env, MatmulBackward));
  exports.Set("rmsnormForward", Napi::Function::New(env, RmsnormForward));
  exports.Set("rmsnormBackward", Napi::Function::New(env, RmsnormBackward));
  exports.Set("layernormForward", Napi::Function::New(env, LayernormForward));
  exports.Set("layernormBackward", Napi::Function::New(env, LayernormBackward));
  exports.Set("actForward", Napi::Function::New(env, ActForward));
  exports.Set("actBackward", Napi::Function::New(env, ActBackward));
  exports.Set("gatedForward", Napi::Function::New(env, GatedForward));
  exports.Set("gatedBackward", Napi::Function::New(env, GatedBackward));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  exports.Set("add", Napi::Function::New(env, Add));
  exports.Set("axpy", Napi::Function::New(env, Axpy));
  exports.Set("scale", Napi::Function::New(env, Scale));
  exports.Set("zero", Napi::Function::New(env, Zero));
  exports.Set("embedding", Napi::Function::New(env, Embedding));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
  exports.Set("dropoutForward", Napi::Function::New(env, DropoutForward));
  exports.Set("dropoutBackward", Napi::Function::New(env, DropoutBackward));
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy));
  exports.Set("argmaxRows", Napi::Function::New(env, ArgmaxRows));
  exports.Set("bf16Native", Napi::Function::New(env, Bf16Native));
  exports.Set("toBf16", Napi::Function::New(env, ToBf16));
  exports.Set("widenBf16", Napi::Function::New(env, WidenBf16));
  exports.Set("transposeToBf16", Napi::Function::New(env, TransposeToBf16));
  exports.Set("gemmBf16", Napi::Function::New(env, GemmBf16));
  exports.Set("matmulForwardBf16", Napi::Function::New(env, MatmulForwardBf16));
  exports.Set("matmulBackwardInputBf16", Napi::Function::New(env, MatmulBackwardInputBf16));
  exports.Set("onednnAvailable", Napi::Function::New(env, OnednnAvailable));
  exports.Set("onednnInfo", Napi::Function::New(env, OnednnInfo));
  exports.Set("bf16WeightCreate", Napi::Function::New(env, Bf16WeightCreate));
  exports.Set("bf16WeightInfo", Napi::Function::New(env, Bf16WeightInfo));
  exports.Set("bf16WeightToF32", Napi::Function::New(env, Bf16WeightToF32));
  exports.Set("bf16WeightUpdate", Napi::Function::New(env, Bf16WeightUpdate));
  exports.Set("bf16WeightGrad", Napi::Function::New(env, Bf16WeightGrad));
  exports.Set("bf16Matmul", Napi::Function::New(env, Bf16Matmul));
  exports.Set("embeddingBf16", Napi::Function::New(env, EmbeddingBf16));
  return exports;
}

}  // namespace

NODE_API_MODULE(softprompt_native, Init)
