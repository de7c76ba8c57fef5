"""Check that a T5 folder written by softprompt (config.json + model.safetensors or bf16 shards + index) loads
unchanged in transformers: no missing, unexpected or mismatched tensors, every tensor equal to the file's
values, and a finite forward loss. Also compares each tensor's std with the std of the same tensor in a model
transformers initialises itself from the same config.json (T5PreTrainedModel._init_weights).

    node bin/softprompt.js pretrain --model-config cfg.json --init-only --output /tmp/t5-new
    /work/venv/bin/python scripts/check-hf-t5-folder.py /tmp/t5-new
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import T5Config, T5ForConditionalGeneration

folder = sys.argv[1]
model, info = T5ForConditionalGeneration.from_pretrained(folder, output_loading_info=True, dtype=torch.float32)
problems = {k: v for k, v in info.items() if v}
assert not problems, f"loading problems: {problems}"

index = os.path.join(folder, "model.safetensors.index.json")
if os.path.exists(index):
    with open(index) as f:
        weight_map = json.load(f)["weight_map"]
    files = sorted(set(weight_map.values()))
else:
    files = ["model.safetensors"]
stored = {}
for f in files:
    stored.update(load_file(os.path.join(folder, f)))
params = dict(model.named_parameters())
for name, t in stored.items():
    assert torch.equal(params[name].detach(), t.float()), f"{name} differs from the file"
print(f"{len(stored)} tensors in {len(files)} file(s), dtypes {sorted({str(t.dtype) for t in stored.values()})}: all equal after loading")

ids = torch.tensor([[37, 1704, 4216, 32099, 147, 1]])
labels = torch.tensor([[32099, 20400, 32098, 1]])
loss = model(input_ids=ids, labels=labels).loss
assert torch.isfinite(loss), loss
print(f"forward loss {loss.item():.4f} (ln V = {torch.log(torch.tensor(float(model.config.vocab_size))).item():.4f})")

torch.manual_seed(0)
fresh = T5ForConditionalGeneration(T5Config.from_pretrained(folder))
worst = 0.0
for name, p in fresh.named_parameters():
    if name not in stored:
        continue  # tied copies
    a, b = p.detach().float().std().item(), stored[name].float().std().item()
    if a == 0 and b == 0:
        assert torch.equal(p.detach().float(), stored[name].float()), name
        continue
    rel = abs(a / b - 1)
    tol = 6 / (2 * p.numel()) ** 0.5 + 0.01  # sampling error of two std estimates, bf16 rounding
    assert rel < tol, f"{name}: HF init std {a:.5g}, softprompt {b:.5g}"
    worst = max(worst, rel / tol)
print(f"init std matches transformers' own _init_weights for every tensor (worst at {worst:.2f} of the tolerance)")
print("OK")
