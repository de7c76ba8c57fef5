#!/usr/bin/env python3
"""Export the reference split permutations for softprompt's task loader (src/tasks/).

DePT (src/tasks.py, AbstractTask.shuffled_indices) shuffles a split of n rows with

    torch.randperm(n, generator=torch.Generator().manual_seed(42)).tolist()

The permutation depends only on n and the seed, so this script writes one file per n:

    src/tasks/split-indices/<n>.json = {"n": n, "seed": 42, "torch": "<version>", "perm": [...]}

Which n: the row count of every split file the TS readers use (GLUE TSV minus header, SuperGLUE JSONL rows,
MultiRC answers, glue-samples JSON records) under each data root given, plus any --n values.

Usage (torch is not installed by default; a CPU wheel is in /opt/wheels):
    python3 -m venv --system-site-packages /tmp/venv
    /tmp/venv/bin/pip install --no-deps /opt/wheels/torch-2.13.0+cpu-*.whl
    /tmp/venv/bin/python scripts/export-splits.py /work/shared/data data [--n 10 123]
"""
import argparse
import json
import os
import sys

import torch

SEED = 42
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tasks", "split-indices")


def count_tsv(path, header):
    with open(path, encoding="utf-8-sig", newline="") as f:
        lines = [l for l in f.read().split("\n") if l.strip("\r") != ""]
    return len(lines) - (1 if header else 0)


def count_jsonl(path, multirc):
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            if multirc:
                rec = json.loads(line)
                n += sum(len(q["answers"]) for q in rec["passage"]["questions"])
            else:
                n += 1
    return n


def count_json(path):
    with open(path, encoding="utf-8") as f:
        return len(json.load(f))


def sizes_under(root):
    """Yield (path, n) for every split file the TS readers know, anywhere under root."""
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            base = os.path.basename(dirpath).lower()
            if name in ("train.tsv", "dev.tsv") and "k-shot" not in dirpath:
                yield path, count_tsv(path, header=base not in ("cola",))
            elif name in ("train.jsonl", "train32.jsonl", "val.jsonl"):
                yield path, count_jsonl(path, multirc=base == "multirc")
            elif name in ("train.json", "dev.json") and "glue-samples" in dirpath:
                yield path, count_json(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("roots", nargs="*", help="data roots to scan for split files")
    ap.add_argument("--n", type=int, nargs="*", default=[], help="extra sizes to export")
    args = ap.parse_args()

    sizes = set(args.n)
    for root in args.roots:
        for path, n in sizes_under(root):
            print(f"{n:>7}  {path}", file=sys.stderr)
            sizes.add(n)

    os.makedirs(OUT_DIR, exist_ok=True)
    for n in sorted(sizes):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(SEED)).tolist()
        doc = {"n": n, "seed": SEED, "torch": torch.__version__, "perm": perm}
        with open(os.path.join(OUT_DIR, f"{n}.json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
    print(f"wrote {len(sizes)} permutations to {os.path.normpath(OUT_DIR)}: {sorted(sizes)}", file=sys.stderr)


if __name__ == "__main__":
    main()
