{
  "targets": [
    {
      "target_name": "softprompt_native",
      "sources": [
        "native/src/binding.cc",
        "native/src/thread_pool.cc",
        "native/src/signals.cc",
        "native/kernels/matmul.cc",
        "native/kernels/norm.cc",
        "native/kernels/activation.cc",
        "native/kernels/attention.cc",
        "native/kernels/elementwise.cc",
        "native/kernels/xent.cc",
        "native/kernels/bf16.cc",
        "native/kernels/onednn.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/src",
        "native/kernels",
        "<!@(pkg-config --cflags-only-I openblas 2>/dev/null | sed 's/-I//g' || true)"
      ],
      "libraries": ["<!@(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)", "-ldnnl", "-lgomp", "-lpthread"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions", "-ffp-contract=fast", "-fopenmp-simd", "-fno-trapping-math", "-fno-math-errno"],
      "conditions": [
        ["target_arch=='x64'", { "cflags_cc": ["-march=x86-64-v2", "-mtune=native"] }]
      ],
      "cflags_cc!": ["-fno-rtti"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"]
    }
  ]
}
