"""Interop check (by hand; CI never runs Python): a LoRA adapter softprompt saved loads with plain
`PeftModel.from_pretrained` with no missing or unexpected keys, and its mean per-token cross-entropy on given rows
equals `softprompt eval --json`'s `loss` on the same rows.

    node scripts/dump-split.mjs sst2 test 64 > /tmp/rows.jsonl     # the rows eval scores (DePT's split protocol)
    python scripts/check-peft-lora.py MODEL_DIR ADAPTER_DIR TOKENIZER_DIR /tmp/rows.jsonl [--merged MERGED_DIR]

Venv: ../shared/bench/README.md (torch 2.13 cpu, transformers 5.18, peft 0.21). Prints JSON.
"""
import json, sys, warnings
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer
from peft import PeftModel

base, adapter, tokdir, rows_file = sys.argv[1:5]
merged = sys.argv[sys.argv.index("--merged") + 1] if "--merged" in sys.argv else None
rows = [json.loads(l) for l in open(rows_file)]
tok = AutoTokenizer.from_pretrained(tokdir)
seq2seq = AutoConfig.from_pretrained(base).is_encoder_decoder
Auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM

def mean_token_loss(model):
    total, n = 0.0, 0
    with torch.no_grad():
        for r in rows:
            x = tok(r["source"], return_tensors="pt", truncation=True, max_length=256)
            y = tok(r["target"], return_tensors="pt").input_ids
            out = model(**x, labels=y)
            k = int((y != -100).sum())
            total += out.loss.item() * k; n += k
    return total / n

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    pm = PeftModel.from_pretrained(Auto.from_pretrained(base).eval(), adapter).eval()
key_warnings = [str(w.message) for w in caught if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()]
report = {"peft_loss": mean_token_loss(pm), "key_warnings": key_warnings, "rows": len(rows)}
if merged:
    report["merged_loss"] = mean_token_loss(Auto.from_pretrained(merged).eval())
print(json.dumps(report))
