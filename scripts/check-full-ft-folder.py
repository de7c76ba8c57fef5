#!/usr/bin/env python3
"""Interop check for full fine-tuning: load a folder saved by `softprompt train --method full` with plain
`transformers` (no softprompt code) and print the mean per-token cross-entropy of the targets on a task split,
the number `softprompt eval --json` reports as "loss" for the same folder and rows. Never run by CI.

The rows come from softprompt's own task loader (node + dist/, so the split protocol is the same):

    npm run build
    /work/venv/bin/python scripts/check-full-ft-folder.py runs/sst2-full/adapter --task sst2 --split test --n 32
    node bin/softprompt.js eval --adapter runs/sst2-full/adapter --model runs/sst2-full/adapter \
        --task sst2 --split test --max-eval-examples 32 --json          # its "loss" field

Encoding as softprompt's (src/tasks/encode.ts, encode-causal.ts): T5 source with EOS truncated to --max-length,
target with EOS; decoder-only `f"{source} Label : "` with the tokenizer's special tokens, then the target's tokens
and EOS, loss over the target tokens only. Loss = sum of token NLLs / number of target tokens, in eval mode.
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

DUMP_ROWS = """
import { resolveTask } from './dist/src/train/data.js';
import { loadSplits } from './dist/src/tasks/registry.js';
const [task, split, n, dataDir, seed] = process.argv.slice(1);
const r = resolveTask({ task, dataDir: dataDir || undefined, textColumn: 'text', labelColumn: 'label', seed: Number(seed), maxLength: 256 });
const rows = loadSplits(r.task, r.dataDir, { seed: Number(seed) })[split].slice(0, Number(n));
for (const e of rows) console.log(JSON.stringify({ source: e.source, target: e.target }));
"""


def rows_from_softprompt(task, split, n, data_dir, seed):
    out = subprocess.run(["node", "--input-type=module", "-e", DUMP_ROWS, task, split, str(n), data_dir or "", str(seed)],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@torch.no_grad()
def mean_target_loss(folder, tokenizer_path, rows, max_length):
    config = AutoConfig.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(tokenizer_path or folder)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = cls.from_pretrained(folder, dtype=torch.float32).eval()
    nll, tokens = 0.0, 0
    for r in rows:
        if seq2seq:
            src = tok(r["source"], truncation=True, max_length=max_length).input_ids
            tgt = tok(r["target"]).input_ids
            out = model(input_ids=torch.tensor([src]), labels=torch.tensor([tgt]))
            n = len(tgt)
        else:
            src = tok(r["source"] + " Label : ").input_ids
            tgt = tok(r["target"], add_special_tokens=False).input_ids + [tok.eos_token_id]
            keep = min(len(src), max(1, max_length - len(tgt)))
            src = src[:keep]
            tgt = tgt[:max_length - keep]
            ids = src + tgt
            labels = [-100] * len(src) + tgt
            out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
            n = len(tgt)
        nll += out.loss.item() * n
        tokens += n
    return nll / tokens, tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="model folder saved by softprompt train --method full")
    ap.add_argument("--tokenizer", help="tokenizer folder (default: the model folder)")
    ap.add_argument("--task", default="sst2")
    ap.add_argument("--split", default="test", choices=["validation", "test"])
    ap.add_argument("--n", type=int, default=32, help="first n rows of the split (softprompt eval --max-eval-examples)")
    ap.add_argument("--data-dir", help="task data folder (default: softprompt's bundled slices)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-length", type=int, default=256)
    a = ap.parse_args()
    rows = rows_from_softprompt(a.task, a.split, a.n, a.data_dir, a.seed)
    loss, tokens = mean_target_loss(a.folder, a.tokenizer, rows, a.max_length)
    print(json.dumps({"folder": a.folder, "task": a.task, "split": a.split, "examples": len(rows), "tokens": tokens, "loss": loss}))


if __name__ == "__main__":
    sys.exit(main())
