// oneDNN matmul for frozen bf16 weights (see onednn.h). The C API is used so that the addon keeps building with
// -fno-exceptions. Threads: Debian's libdnnl runs on OpenMP; every call first sets the calling thread's OpenMP
// team size to the engine's pool size, so at most pool_size() threads compute (the pool's own workers sleep on
// a condition variable while oneDNN runs).
#include "onednn.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "bf16.h"
#include "thread_pool.h"

extern "C" void omp_set_num_threads(int);

namespace sp {

struct OnednnWeight {
  int64_t N = 0, K = 0;
  dnnl_memory_desc_t md{};  // blocked (K, N) view: the forward matmul's preferred weights layout
  void* data = nullptr;     // 64-byte aligned, md's size
  int64_t bytes = 0;
};

namespace {

std::mutex g_mu;  // guards the caches below

dnnl_engine_t engine_or_null() {
  static dnnl_engine_t eng = [] {
    dnnl_engine_t e = nullptr;
    if (dnnl_engine_create(&e, dnnl_cpu, 0) != dnnl_success) return static_cast<dnnl_engine_t>(nullptr);
    return e;
  }();
  return eng;
}

dnnl_stream_t stream_or_null() {
  thread_local dnnl_stream_t s = [] {
    dnnl_stream_t st = nullptr;
    dnnl_engine_t eng = engine_or_null();
    if (eng == nullptr || dnnl_stream_create(&st, eng, dnnl_stream_default_flags) != dnnl_success) return st;
    return st;
  }();
  return s;
}

std::string status_str(dnnl_status_t s) {
  switch (s) {
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    default: return "status " + std::to_string(static_cast<int>(s));
  }
}

bool check(dnnl_status_t s, const char* what, std::string& err) {
  if (s == dnnl_success) return true;
  err = std::string("oneDNN ") + what + ": " + status_str(s);
  return false;
}

// A matmul primitive descriptor; `accumulate` adds a sum post-op (C += A·B instead of C = A·B).
dnnl_status_t create_matmul_pd(dnnl_primitive_desc_t* pd, const dnnl_matmul_desc_t& desc, bool accumulate) {
  dnnl_primitive_attr_t attr = nullptr;
  if (accumulate) {
    dnnl_post_ops_t po = nullptr;
    dnnl_primitive_attr_create(&attr);
    dnnl_post_ops_create(&po);
    dnnl_post_ops_append_sum(po, 1.0f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
  }
  dnnl_status_t s = dnnl_primitive_desc_create(pd, &desc, attr, engine_or_null(), nullptr);
  if (attr != nullptr) dnnl_primitive_attr_destroy(attr);
  return s;
}

dnnl_memory_desc_t plain_md(int64_t rows, int64_t cols, int64_t ld, dnnl_data_type_t dt) {
  dnnl_memory_desc_t md;
  dnnl_dims_t dims = {rows, cols}, strides = {ld, 1};
  dnnl_memory_desc_init_by_strides(&md, 2, dims, dt, strides);
  return md;
}

// (K, N) view of a row-major (N, K) matrix
dnnl_memory_desc_t kn_view(int64_t N, int64_t K, dnnl_data_type_t dt) {
  dnnl_memory_desc_t md;
  dnnl_dims_t dims = {K, N}, strides = {1, K};
  dnnl_memory_desc_init_by_strides(&md, 2, dims, dt, strides);
  return md;
}

// Primitive descriptor of dst (M, Nout) f32 = src (M, Kin) bf16 . weights (Kin, Nout) bf16 [+ bias] [+ dst].
dnnl_status_t matmul_pd(dnnl_primitive_desc_t* pd, int64_t M, int64_t Kin, int64_t Nout, int64_t ldc,
                        const dnnl_memory_desc_t* wmd, bool accumulate, bool bias) {
  dnnl_memory_desc_t src = plain_md(M, Kin, Kin, dnnl_bf16), dst = plain_md(M, Nout, ldc, dnnl_f32);
  dnnl_memory_desc_t bmd = plain_md(1, Nout, Nout, dnnl_f32);
  dnnl_matmul_desc_t desc;
  dnnl_status_t s = dnnl_matmul_desc_init(&desc, &src, wmd, bias ? &bmd : nullptr, &dst);
  if (s != dnnl_success) return s;
  s = create_matmul_pd(pd, desc, accumulate);
  return s;
}

// The layout oneDNN prefers for weights (Kin, Nout), asked once per shape with a representative row count.
bool preferred_weights_md(int64_t Kin, int64_t Nout, dnnl_memory_desc_t& out, std::string& err) {
  static std::map<std::pair<int64_t, int64_t>, dnnl_memory_desc_t> cache;
  auto it = cache.find({Kin, Nout});
  if (it != cache.end()) {
    out = it->second;
    return true;
  }
  dnnl_memory_desc_t any;
  dnnl_dims_t dims = {Kin, Nout};
  dnnl_memory_desc_init_by_tag(&any, 2, dims, dnnl_bf16, dnnl_format_tag_any);
  dnnl_primitive_desc_t pd = nullptr;
  if (!check(matmul_pd(&pd, 256, Kin, Nout, Nout, &any, false, false), "matmul descriptor", err)) return false;
  out = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  dnnl_primitive_desc_destroy(pd);
  cache.emplace(std::make_pair(Kin, Nout), out);
  return true;
}

using PrimKey = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, bool, bool>;  // M, N, K, ldc, trans, acc, bias

// How one shape runs: the matmul primitive and the weights layout it was built for. When oneDNN has no fast
// kernel for the stored layout at this M (brgemm picks its blocking, and AMX or not, from the shape; a layout it
// did not pick falls to the reference kernel), the primitive is built for the layout it prefers at this M and
// the weight is reordered into scratch per call (reorder != nullptr), as for every transposed use.
struct Plan {
  dnnl_primitive_t prim = nullptr;
  dnnl_memory_desc_t wmd{};
  dnnl_primitive_t reorder = nullptr;  // stored (or its permuted view) -> wmd; null: use the stored copy as is
};

bool is_reference(dnnl_primitive_desc_t pd) {
  const char* impl = nullptr;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  return impl == nullptr || std::strncmp(impl, "ref", 3) == 0;
}

// Cached plans; the cache is cleared when it grows past kMaxPlans (dynamic padding makes one M per batch length;
// a few hundred primitives are a few MB).
constexpr size_t kMaxPlans = 512;
bool get_plan(const PrimKey& key, const OnednnWeight& w, Plan& plan, std::string& err) {
  static std::map<PrimKey, Plan> cache;
  auto it = cache.find(key);
  if (it != cache.end()) {
    plan = it->second;
    return true;
  }
  if (cache.size() >= kMaxPlans) {
    for (auto& kv : cache) {
      dnnl_primitive_destroy(kv.second.prim);
      if (kv.second.reorder != nullptr) dnnl_primitive_destroy(kv.second.reorder);
    }
    cache.clear();
  }
  const auto [M, N, K, ldc, trans, acc, bias] = key;
  const int64_t Kin = trans ? N : K, Nout = trans ? K : N;
  dnnl_primitive_desc_t pd = nullptr;
  Plan p;
  if (!trans) {
    if (!check(matmul_pd(&pd, M, Kin, Nout, ldc, &w.md, acc, bias), "matmul descriptor", err)) return false;
    if (is_reference(pd)) {
      dnnl_primitive_desc_destroy(pd);
      pd = nullptr;
    } else {
      p.wmd = w.md;
    }
  }
  if (pd == nullptr) {
    dnnl_memory_desc_t any;
    dnnl_dims_t dims = {Kin, Nout};
    dnnl_memory_desc_init_by_tag(&any, 2, dims, dnnl_bf16, dnnl_format_tag_any);
    if (!check(matmul_pd(&pd, M, Kin, Nout, ldc, &any, acc, bias), "matmul descriptor", err)) return false;
    p.wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t from = w.md;
    const int swap[2] = {1, 0};
    if (trans && !check(dnnl_memory_desc_permute_axes(&from, &w.md, swap), "permute", err)) {
      dnnl_primitive_desc_destroy(pd);
      return false;
    }
    dnnl_primitive_desc_t rpd = nullptr;
    if (!check(dnnl_reorder_primitive_desc_create(&rpd, &from, engine_or_null(), &p.wmd, engine_or_null(), nullptr), "reorder descriptor", err)) {
      dnnl_primitive_desc_destroy(pd);
      return false;
    }
    dnnl_status_t s = dnnl_primitive_create(&p.reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (!check(s, "reorder primitive", err)) {
      dnnl_primitive_desc_destroy(pd);
      return false;
    }
  }
  dnnl_status_t s = dnnl_primitive_create(&p.prim, pd);
  dnnl_primitive_desc_destroy(pd);
  if (!check(s, "matmul primitive", err)) return false;
  cache.emplace(key, p);
  plan = p;
  return true;
}

// Cached reorder between two descriptors of the same (rows, cols) (key: the pair of shapes and transposition).
bool get_reorder(const dnnl_memory_desc_t& from, const dnnl_memory_desc_t& to, int kind, dnnl_primitive_t& prim,
                 std::string& err) {
  static std::map<std::tuple<int64_t, int64_t, int>, dnnl_primitive_t> cache;
  const auto key = std::make_tuple(to.dims[0], to.dims[1], kind);
  auto it = cache.find(key);
  if (it != cache.end()) {
    prim = it->second;
    return true;
  }
  dnnl_primitive_desc_t pd = nullptr;
  if (!check(dnnl_reorder_primitive_desc_create(&pd, &from, engine_or_null(), &to, engine_or_null(), nullptr), "reorder descriptor", err))
    return false;
  dnnl_status_t s = dnnl_primitive_create(&prim, pd);
  dnnl_primitive_desc_destroy(pd);
  if (!check(s, "reorder primitive", err)) return false;
  cache.emplace(key, prim);
  return true;
}

bool execute(dnnl_primitive_t prim, std::initializer_list<std::pair<int, std::pair<const dnnl_memory_desc_t*, void*>>> args,
             std::string& err) {
  dnnl_stream_t st = stream_or_null();
  if (st == nullptr) {
    err = "oneDNN: no CPU stream";
    return false;
  }
  std::vector<dnnl_exec_arg_t> ea;
  bool ok = true;
  for (const auto& a : args) {
    dnnl_memory_t m = nullptr;
    if (!check(dnnl_memory_create(&m, a.second.first, engine_or_null(), a.second.second), "memory", err)) {
      ok = false;
      break;
    }
    ea.push_back({a.first, m});
  }
  if (ok) {
    omp_set_num_threads(pool_size());
    ok = check(dnnl_primitive_execute(prim, st, static_cast<int>(ea.size()), ea.data()), "execute", err) &&
         check(dnnl_stream_wait(st), "stream wait", err);
  }
  for (auto& a : ea) dnnl_memory_destroy(a.memory);
  return ok;
}

// 64-byte aligned scratch that only grows (one per calling thread).
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  void* get(size_t need) {
    if (need > bytes) {
      std::free(p);
      bytes = (need + 63) / 64 * 64;
      p = std::aligned_alloc(64, bytes);
      if (p == nullptr) bytes = 0;
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};

bool cpu_has_amx_bf16() {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
  return (d >> 22) & 1u;
#else
  return false;
#endif
}

}  // namespace

bool onednn_bf16_available() {
  static const bool ok = [] {
    if (std::getenv("SOFTPROMPT_BF16_FALLBACK") != nullptr || engine_or_null() == nullptr) return false;
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512bf16") || cpu_has_amx_bf16();
#else
    return false;
#endif
  }();
  return ok;
}

std::string onednn_info() {
  const dnnl_version_t* v = dnnl_version();
  std::string isa;
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx: isa = "avx512_core_amx"; break;
    case dnnl_cpu_isa_avx512_core_bf16: isa = "avx512_core_bf16"; break;
    case dnnl_cpu_isa_avx512_core_vnni: isa = "avx512_core_vnni"; break;
    case dnnl_cpu_isa_avx512_core: isa = "avx512_core"; break;
    case dnnl_cpu_isa_avx2: isa = "avx2"; break;
    default: isa = "other(" + std::to_string(static_cast<int>(dnnl_get_effective_cpu_isa())) + ")"; break;
  }
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         ", isa " + isa + ", runtime " + (v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp" : "other");
}

OnednnWeight* onednn_weight_create(const float* w32, const uint16_t* w16, int64_t N, int64_t K, std::string& err) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (engine_or_null() == nullptr) {
    err = "oneDNN: no CPU engine";
    return nullptr;
  }
  auto w = std::make_unique<OnednnWeight>();
  w->N = N;
  w->K = K;
  if (!preferred_weights_md(K, N, w->md, err)) return nullptr;
  w->bytes = static_cast<int64_t>(dnnl_memory_desc_get_size(&w->md));
  w->data = std::aligned_alloc(64, static_cast<size_t>((w->bytes + 63) / 64 * 64));
  if (w->data == nullptr) {
    err = "oneDNN weight: out of memory allocating " + std::to_string(w->bytes) + " bytes";
    return nullptr;
  }
  const dnnl_memory_desc_t from = kn_view(N, K, w32 != nullptr ? dnnl_f32 : dnnl_bf16);
  dnnl_primitive_t reo = nullptr;
  if (!get_reorder(from, w->md, w32 != nullptr ? 0 : 1, reo, err)) {
    std::free(w->data);
    return nullptr;
  }
  void* src = w32 != nullptr ? const_cast<float*>(w32) : static_cast<void*>(const_cast<uint16_t*>(w16));
  if (!execute(reo, {{DNNL_ARG_FROM, {&from, src}}, {DNNL_ARG_TO, {&w->md, w->data}}}, err)) {
    std::free(w->data);
    return nullptr;
  }
  return w.release();
}

void onednn_weight_destroy(OnednnWeight* w) {
  if (w == nullptr) return;
  std::free(w->data);
  delete w;
}

int64_t onednn_weight_rows(const OnednnWeight* w) { return w->N; }
int64_t onednn_weight_cols(const OnednnWeight* w) { return w->K; }
int64_t onednn_weight_bytes(const OnednnWeight* w) { return w->bytes; }

bool onednn_weight_to_f32(const OnednnWeight* w, float* out, std::string& err) {
  std::lock_guard<std::mutex> lock(g_mu);
  const dnnl_memory_desc_t to = kn_view(w->N, w->K, dnnl_f32);
  dnnl_primitive_t reo = nullptr;
  return get_reorder(w->md, to, 2, reo, err) && execute(reo, {{DNNL_ARG_FROM, {&w->md, w->data}}, {DNNL_ARG_TO, {&to, out}}}, err);
}

bool onednn_weight_update(OnednnWeight* w, const float* w32, std::string& err) {
  std::lock_guard<std::mutex> lock(g_mu);
  const dnnl_memory_desc_t from = kn_view(w->N, w->K, dnnl_f32);
  dnnl_primitive_t reo = nullptr;
  return get_reorder(from, w->md, 0, reo, err) &&
         execute(reo, {{DNNL_ARG_FROM, {&from, const_cast<float*>(w32)}}, {DNNL_ARG_TO, {&w->md, w->data}}}, err);
}

namespace {

// dst (OC, C) f32 [+]= src (OC, N) bf16 . wei (N, C) bf16, src given as the transposed view of a contiguous
// (N, OC) buffer (strides {1, OC}) or, when oneDNN has no fast kernel for that, as a contiguous (OC, N) copy.
struct GradPlan {
  dnnl_primitive_t prim = nullptr;
  bool src_transposed_view = true;
  std::string impl;
};

bool grad_pd(dnnl_primitive_desc_t* pd, int64_t N, int64_t OC, int64_t C, int64_t ldw, bool accumulate, bool view) {
  dnnl_memory_desc_t src;
  dnnl_dims_t sd = {OC, N}, ss = {1, OC};
  if (view)
    dnnl_memory_desc_init_by_strides(&src, 2, sd, dnnl_bf16, ss);
  else
    src = plain_md(OC, N, N, dnnl_bf16);
  const dnnl_memory_desc_t wei = plain_md(N, C, C, dnnl_bf16), dst = plain_md(OC, C, ldw, dnnl_f32);
  dnnl_matmul_desc_t desc;
  dnnl_status_t s = dnnl_matmul_desc_init(&desc, &src, &wei, nullptr, &dst);
  if (s != dnnl_success) return false;
  s = create_matmul_pd(pd, desc, accumulate);
  return s == dnnl_success;
}

bool get_grad_plan(int64_t N, int64_t OC, int64_t C, int64_t ldw, bool accumulate, GradPlan& plan, std::string& err) {
  static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, bool>, GradPlan> cache;
  const auto key = std::make_tuple(N, OC, C, ldw, accumulate);
  auto it = cache.find(key);
  if (it != cache.end()) {
    plan = it->second;
    return true;
  }
  if (cache.size() >= kMaxPlans) {
    for (auto& kv : cache) dnnl_primitive_destroy(kv.second.prim);
    cache.clear();
  }
  GradPlan p;
  dnnl_primitive_desc_t pd = nullptr;
  if (grad_pd(&pd, N, OC, C, ldw, accumulate, true) && is_reference(pd)) {
    dnnl_primitive_desc_destroy(pd);
    pd = nullptr;
  }
  if (pd == nullptr) {
    p.src_transposed_view = false;
    if (!grad_pd(&pd, N, OC, C, ldw, accumulate, false)) {
      err = "oneDNN weight-gradient matmul descriptor failed";
      return false;
    }
  }
  const char* impl = nullptr;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  p.impl = impl == nullptr ? "" : impl;
  dnnl_status_t s = dnnl_primitive_create(&p.prim, pd);
  dnnl_primitive_desc_destroy(pd);
  if (!check(s, "weight-gradient matmul primitive", err)) return false;
  cache.emplace(key, p);
  plan = p;
  return true;
}

}  // namespace

bool onednn_weight_grad(float* dw, int64_t ldw, const float* dy, int64_t ldy, const float* x, int64_t ldx, int64_t N,
                        int64_t OC, int64_t C, bool accumulate, std::string* impl, std::string& err) {
  thread_local Scratch dy_scratch, x_scratch;
  GradPlan plan;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!get_grad_plan(N, OC, C, ldw, accumulate, plan, err)) return false;
  }
  auto* dy16 = static_cast<uint16_t*>(dy_scratch.get(static_cast<size_t>(N * OC) * 2));
  auto* x16 = static_cast<uint16_t*>(x_scratch.get(static_cast<size_t>(N * C) * 2));
  if (dy16 == nullptr || x16 == nullptr) {
    err = "oneDNN weight gradient: out of memory for the bf16 operands";
    return false;
  }
  if (plan.src_transposed_view) {
    f32_to_bf16_rows(dy16, dy, N, OC, ldy);  // (N, OC); the matmul reads it transposed
  } else {
    transpose_to_bf16_strided(dy16, dy, N, OC, ldy);  // (OC, N) contiguous
  }
  f32_to_bf16_rows(x16, x, N, C, ldx);
  if (impl != nullptr) *impl = plan.impl;
  dnnl_memory_desc_t src;
  dnnl_dims_t sd = {OC, N}, ss = {1, OC};
  if (plan.src_transposed_view)
    dnnl_memory_desc_init_by_strides(&src, 2, sd, dnnl_bf16, ss);
  else
    src = plain_md(OC, N, N, dnnl_bf16);
  const dnnl_memory_desc_t wei = plain_md(N, C, C, dnnl_bf16), dst = plain_md(OC, C, ldw, dnnl_f32);
  std::lock_guard<std::mutex> lock(g_mu);
  return execute(plan.prim, {{DNNL_ARG_SRC, {&src, dy16}}, {DNNL_ARG_WEIGHTS, {&wei, x16}}, {DNNL_ARG_DST, {&dst, dw}}}, err);
}

bool onednn_matmul(const OnednnWeight* w, float* out, int64_t ldc, const float* a32, const uint16_t* a16, int64_t lda,
                   int64_t M, bool transposed, bool accumulate, const float* bias, std::string& err) {
  thread_local Scratch a_scratch, w_scratch;
  const int64_t N = w->N, K = w->K, Kin = transposed ? N : K;
  // A as contiguous bf16 (M, Kin)
  const uint16_t* a = a16;
  if (a32 != nullptr || lda != Kin) {
    auto* buf = static_cast<uint16_t*>(a_scratch.get(static_cast<size_t>(M * Kin) * 2));
    if (buf == nullptr) {
      err = "oneDNN matmul: out of memory for the bf16 activations";
      return false;
    }
    if (a32 != nullptr)
      f32_to_bf16_rows(buf, a32, M, Kin, lda);
    else
      for (int64_t m = 0; m < M; m++) std::memcpy(buf + m * Kin, a16 + m * lda, static_cast<size_t>(Kin) * 2);
    a = buf;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  const bool has_bias = bias != nullptr && !transposed;
  Plan plan;
  if (!get_plan(PrimKey{M, N, K, ldc, transposed, accumulate, has_bias}, *w, plan, err)) return false;
  void* wdata = w->data;
  if (plan.reorder != nullptr) {
    dnnl_memory_desc_t from = w->md;
    const int swap[2] = {1, 0};
    if (transposed) dnnl_memory_desc_permute_axes(&from, &w->md, swap);
    wdata = w_scratch.get(dnnl_memory_desc_get_size(&plan.wmd));
    if (wdata == nullptr) {
      err = "oneDNN matmul: out of memory for the reordered weight";
      return false;
    }
    if (!execute(plan.reorder, {{DNNL_ARG_FROM, {&from, w->data}}, {DNNL_ARG_TO, {&plan.wmd, wdata}}}, err)) return false;
  }
  const int64_t Nout = transposed ? K : N;
  const dnnl_memory_desc_t src = plain_md(M, Kin, Kin, dnnl_bf16), dst = plain_md(M, Nout, ldc, dnnl_f32);
  const dnnl_memory_desc_t bmd = plain_md(1, Nout, Nout, dnnl_f32);
  void* ap = const_cast<uint16_t*>(a);
  if (has_bias)
    return execute(plan.prim, {{DNNL_ARG_SRC, {&src, ap}}, {DNNL_ARG_WEIGHTS, {&plan.wmd, wdata}},
                               {DNNL_ARG_BIAS, {&bmd, const_cast<float*>(bias)}}, {DNNL_ARG_DST, {&dst, out}}}, err);
  return execute(plan.prim, {{DNNL_ARG_SRC, {&src, ap}}, {DNNL_ARG_WEIGHTS, {&plan.wmd, wdata}}, {DNNL_ARG_DST, {&dst, out}}}, err);
}

}  // namespace sp
