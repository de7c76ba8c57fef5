"""PyTorch peer of `npm run bench -- reference`: DePT-60/30 training steps on HF T5 with T5-base shapes (random
weights), on the batches bench/reference.ts sampled from real SST-2 / RTE rows, each padded to max_length as the
DePT reference does (padding="max_length"). Forward + backward + clip + AdamW, dropout 0 (as softprompt's side).
The first batch is a warm-up; prints one JSON line with the timed steps (wall and CPU time per thread) and peak RSS.

    env -u OPENBLAS_CORETYPE PEER_PRECISION=fp32|bf16 /work/venv/bin/python bench/reference_peer.py JOB.json
PEER_PRECISION=bf16: the frozen model in bfloat16 under torch.autocast("cpu", torch.bfloat16) (PyTorch's CPU bf16
path, as bench/methods_peer.py); the prompt and the low-rank pair stay fp32.
"""
import contextlib, json, math, os, resource, sys, time
import torch
from transformers import T5Config, T5ForConditionalGeneration

job = json.load(open(sys.argv[1]))
PREC = os.environ.get("PEER_PRECISION", "fp32")
S, Tgt, pad = job["maxLength"], job["targetLength"], job["padId"]
torch.manual_seed(0)
cfg = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12, feed_forward_proj="relu",
               tie_word_embeddings=True, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
model = T5ForConditionalGeneration(cfg); model.eval()
bf16 = PREC == "bf16"
if bf16: model = model.to(torch.bfloat16)
ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
for p in model.parameters(): p.requires_grad_(False)
emb = model.get_input_embeddings()
l, r, d = 60, 30, cfg.d_model
P = torch.nn.Parameter(torch.randn(l, d) * 0.5)
A = torch.nn.Parameter(torch.empty(S, r).uniform_(-1 / math.sqrt(r), 1 / math.sqrt(r)))
Bm = torch.nn.Parameter(torch.zeros(r, d))
params = [P, A, Bm]
opt = torch.optim.AdamW([{"params": [P], "lr": 0.3}, {"params": [A, Bm], "lr": 1e-4}], eps=1e-6, weight_decay=0.0)

def tensors(rows):
    B = len(rows)
    ids = torch.full((B, S), pad, dtype=torch.long); mask = torch.zeros(B, S, dtype=torch.long)
    labels = torch.full((B, Tgt), -100, dtype=torch.long)
    for b, row in enumerate(rows):
        src, tgt = row["source"][:S], row["target"][:Tgt]
        ids[b, :len(src)] = torch.tensor(src); mask[b, :len(src)] = 1
        labels[b, :len(tgt)] = torch.tensor(tgt)
    return ids, mask, labels

def step(ids, mask, labels):
    B = ids.shape[0]
    opt.zero_grad()
    E = emb(ids).float() + (8 / math.sqrt(r)) * (A @ Bm)  # DePT: the low-rank update on the (padded) input embeddings
    X = torch.cat([P.unsqueeze(0).expand(B, -1, -1), E], 1)
    M = torch.cat([torch.ones(B, l, dtype=torch.long), mask], 1)
    with ac():
        loss = model(inputs_embeds=X.to(emb.weight.dtype) if bf16 else X, attention_mask=M, labels=labels).loss.float()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step()

threads = torch.get_num_threads()
out = {"step_ms": [], "cpu_ms_per_thread": [], "input_len": [], "gflop": [], "threads": threads}
for i, b in enumerate(job["batches"]):
    batch = tensors(b["rows"])
    t, c = time.perf_counter(), time.process_time()
    step(*batch)
    if i == 0: continue
    out["step_ms"].append(round((time.perf_counter() - t) * 1e3, 1))
    out["cpu_ms_per_thread"].append(round((time.process_time() - c) * 1e3 / threads, 1))
    out["input_len"].append(S)
out["maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
out["peer"] = f"torch {torch.__version__}, {PREC}"
print(json.dumps(out), flush=True)
