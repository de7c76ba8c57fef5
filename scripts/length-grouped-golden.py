"""Golden orders of HF Trainer's group_by_length (transformers.trainer_pt_utils.get_length_grouped_indices).

For each case it records the random permutation torch draws (torch.randperm with the same seeded generator the
function uses) and the function's output, so that src/train/length-grouped.test.ts can feed the same permutation
to softprompt's grouping and compare orders. Run: /work/venv/bin/python scripts/length-grouped-golden.py
"""
import json
import random

import torch
from transformers.trainer_pt_utils import get_length_grouped_indices

cases = []
rng = random.Random(0)
for n, batch, lo, hi in [(10, 3, 1, 5), (100, 4, 3, 60), (1000, 16, 5, 256), (5000, 16, 2, 66), (37, 8, 1, 3)]:
    lengths = [rng.randint(lo, hi) for _ in range(n)]
    seed = rng.randint(0, 2**31)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    order = get_length_grouped_indices(lengths, batch, generator=torch.Generator().manual_seed(seed))
    cases.append({"batchSize": batch, "lengths": lengths, "permutation": perm, "order": order})

with open("test/fixtures/length-grouped.json", "w") as f:
    json.dump({"generator": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}", "cases": cases}, f)
