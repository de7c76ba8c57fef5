"""PyTorch + PEFT peer of `npm run bench -- methods`: one training step (forward + backward + clip + AdamW) of
PT-100, DePT-60/30, LoRA r=8 on q,v (PEFT) and full fine-tuning, on a random-weight HF T5 with real shapes, the
same batch as bench/methods.ts (inputs padded to seq, labels [209, 1], dropout 0). One process per method, so the
peak RSS is per method. Prints one JSON line per method.

Usage (venv built as ../shared/bench/README.md shows; unset the OpenBLAS variables for the peer as for ours):
    env -u OPENBLAS_CORETYPE .venv/bin/python bench/methods_peer.py t5-base 8 256 3 pt|dept|lora|full
PEER_PRECISION=fp32 (default) | bf16 (frozen weights in bfloat16 under torch.autocast; full FT stays fp32).
"""
import contextlib, json, math, os, resource, statistics, sys, time
import torch
from transformers import T5Config, T5ForConditionalGeneration

cfgname, B, S, reps, method = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
PREC = os.environ.get("PEER_PRECISION", "fp32")
dims = {"t5-small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8),
        "t5-base": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12)}[cfgname]
torch.manual_seed(0)
cfg = T5Config(vocab_size=32128, feed_forward_proj="relu", tie_word_embeddings=True, dropout_rate=0.0,
               decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, **dims)
ids = torch.randint(2, 32128, (B, S)); mask = torch.ones(B, S, dtype=torch.long)
labels = torch.tensor([[209, 1]] * B)
model = T5ForConditionalGeneration(cfg); model.eval()
bf16 = PREC == "bf16" and method != "full"
if bf16: model = model.to(torch.bfloat16)
ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
d = cfg.d_model
emb = model.get_input_embeddings()

if method in ("pt", "dept"):
    l, r = (100, 0) if method == "pt" else (60, 30)
    for p in model.parameters(): p.requires_grad_(False)
    P = torch.nn.Parameter(torch.randn(l, d) * 0.5)
    params = [P]; groups = [{"params": [P], "lr": 0.3}]
    if r:
        A = torch.nn.Parameter(torch.empty(S, r).uniform_(-1 / math.sqrt(r), 1 / math.sqrt(r)))
        Bm = torch.nn.Parameter(torch.zeros(r, d)); params += [A, Bm]; groups.append({"params": [A, Bm], "lr": 1e-4})
    def fwd():
        E = emb(ids).float()
        if r: E = E + (8 / math.sqrt(r)) * (A @ Bm)
        X = torch.cat([P.unsqueeze(0).expand(B, -1, -1), E], 1)
        M = torch.cat([torch.ones(B, l, dtype=torch.long), mask], 1)
        with ac():
            return model(inputs_embeds=X.to(emb.weight.dtype) if bf16 else X, attention_mask=M, labels=labels).loss.float()
    name = "PT-100" if method == "pt" else "DePT-60/30"
elif method == "lora":
    from peft import LoraConfig, get_peft_model
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, target_modules=["q", "v"]))
    for n, p in model.named_parameters():
        if "lora_" in n: p.data = p.data.float()
    params = [p for p in model.parameters() if p.requires_grad]; groups = [{"params": params, "lr": 1e-4}]
    def fwd():
        with ac():
            return model(input_ids=ids, attention_mask=mask, labels=labels).loss.float()
    name = "LoRA r=8 (q,v)"
else:
    params = list(model.parameters()); groups = [{"params": params, "lr": 1e-4, "weight_decay": 0.01}]
    model.train()  # dropout_rate is 0
    def fwd():
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss
    name = "full FT"

opt = torch.optim.AdamW(groups, eps=1e-6, weight_decay=0.0 if method != "full" else 0.01)
ts = []
for i in range(reps + 1):
    t = time.perf_counter(); opt.zero_grad(); loss = fwd(); loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step()
    if i: ts.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"peer": f"torch {torch.__version__} + peft", "precision": PREC if method != "full" else "fp32",
                  "method": name, "model": cfgname, "batch": B, "seq": S,
                  "trainable": sum(p.numel() for p in params), "step_ms": round(statistics.median(ts), 1),
                  "threads": torch.get_num_threads(),
                  "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}), flush=True)
