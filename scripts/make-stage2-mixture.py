"""Stage 2 of the default model's pretraining (models/t5-mini/README.md): the supervised file of the second stage,
all silver sentiment rows of corpus/supervised.jsonl plus one ninth as many rows of the other tasks, shuffled.

    python3 scripts/make-stage2-mixture.py corpus/supervised.jsonl corpus/stage2.jsonl
"""
import random
import sys

random.seed(3)
rows = open(sys.argv[1]).readlines()
silver = [l for l in rows if '"sentiment-silver"' in l]
other = [l for l in rows if '"sentiment-silver"' not in l]
random.shuffle(other)
out = silver + other[: len(silver) // 9]
random.shuffle(out)
open(sys.argv[2], 'w').writelines(out)
print(len(silver), len(out))
