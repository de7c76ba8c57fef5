"""Golden data for src/pretrain/span-corruption.ts, from the span-corruption functions of Hugging Face's
reference T5 pretraining script (transformers/examples/flax/language-modeling/run_t5_mlm_flax.py:
compute_input_and_target_lengths, FlaxDataCollatorForT5MLM.random_spans_noise_mask / create_sentinel_ids /
filter_input_ids), restated here in numpy because the examples are not part of the installed package.
jax.ops.segment_sum(ones, segment_id) is np.bincount(segment_id).

numpy's RNG cannot be reproduced in TypeScript, so the golden holds only what does not depend on it:
  - lengths: compute_input_and_target_lengths for many input lengths (integers);
  - counts: for many sequence lengths, the number of noise tokens and noise spans of HF's random mask (they are
    fixed by the length), and whether the first token was ever noise over several seeds;
  - cases: fixed masks + ids -> HF's inputs / labels (create_sentinel_ids + filter_input_ids, EOS appended),
    with the sentinel base len(tokenizer) of the T5 tokenizer in test/fixtures/tokenizers/t5.

Run from the repo root: /work/venv/bin/python scripts/span-corruption-golden.py
"""
import json

import numpy as np
from transformers import AutoTokenizer

NOISE_DENSITY = 0.15
MEAN_NOISE_SPAN_LENGTH = 3.0
OUT = "src/pretrain/golden/span-corruption.json"

tokenizer = AutoTokenizer.from_pretrained("test/fixtures/tokenizers/t5")


def compute_input_and_target_lengths(inputs_length, noise_density, mean_noise_span_length):
    def lengths(tokens_length):
        num_noise_tokens = int(round(tokens_length * noise_density))
        num_nonnoise_tokens = tokens_length - num_noise_tokens
        num_noise_spans = int(round(num_noise_tokens / mean_noise_span_length))
        return num_nonnoise_tokens + num_noise_spans + 1, num_noise_tokens + num_noise_spans + 1

    tokens_length = inputs_length
    while lengths(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    inputs_length, targets_length = lengths(tokens_length)
    if noise_density == 0.5 and targets_length > inputs_length:
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def random_spans_noise_mask(length, noise_density=NOISE_DENSITY, mean_noise_span_length=MEAN_NOISE_SPAN_LENGTH):
    num_noise_tokens = int(np.round(length * noise_density))
    num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)
    num_noise_spans = int(np.round(num_noise_tokens / mean_noise_span_length))
    num_noise_spans = max(num_noise_spans, 1)
    num_nonnoise_tokens = length - num_noise_tokens

    def random_segmentation(num_items, num_segments):
        mask_indices = np.arange(num_items - 1) < (num_segments - 1)
        np.random.shuffle(mask_indices)
        first_in_segment = np.pad(mask_indices, [[1, 0]])
        segment_id = np.cumsum(first_in_segment)
        return np.bincount(segment_id)

    noise_span_lengths = random_segmentation(num_noise_tokens, num_noise_spans)
    nonnoise_span_lengths = random_segmentation(num_nonnoise_tokens, num_noise_spans)
    interleaved = np.reshape(np.stack([nonnoise_span_lengths, noise_span_lengths], axis=1), [num_noise_spans * 2])
    span_starts = np.cumsum(interleaved)[:-1]
    span_start_indicator = np.zeros((length,), dtype=np.int8)
    span_start_indicator[span_starts] = True
    span_num = np.cumsum(span_start_indicator)
    return np.equal(span_num % 2, 1)


def create_sentinel_ids(mask_indices):
    start_indices = mask_indices - np.roll(mask_indices, 1, axis=-1) * mask_indices
    start_indices[:, 0] = mask_indices[:, 0]
    sentinel_ids = np.where(start_indices != 0, np.cumsum(start_indices, axis=-1), start_indices)
    sentinel_ids = np.where(sentinel_ids != 0, (len(tokenizer) - sentinel_ids), 0)
    sentinel_ids -= mask_indices - start_indices
    return sentinel_ids


def filter_input_ids(input_ids, sentinel_ids):
    batch_size = input_ids.shape[0]
    input_ids_full = np.where(sentinel_ids != 0, sentinel_ids, input_ids)
    input_ids = input_ids_full[input_ids_full > 0].reshape((batch_size, -1))
    return np.concatenate([input_ids, np.full((batch_size, 1), tokenizer.eos_token_id, dtype=np.int32)], axis=-1)


def corrupt(ids, mask):
    ids = np.asarray([ids], dtype=np.int64)
    mask = np.asarray([mask], dtype=bool)
    inputs = filter_input_ids(ids, create_sentinel_ids(mask.astype(np.int8)))
    labels = filter_input_ids(ids, create_sentinel_ids((~mask).astype(np.int8)))
    return inputs[0].tolist(), labels[0].tolist()


def span_count(mask):
    m = np.asarray(mask, dtype=np.int8)
    return int(np.sum(m[1:] > m[:-1]) + m[0])


lengths = [
    {"inputLength": n, "tokensLength": t, "targetsLength": g}
    for n in list(range(2, 130)) + [200, 256, 500, 512, 568, 1000, 1024, 2048]
    for t, g in [compute_input_and_target_lengths(n, NOISE_DENSITY, MEAN_NOISE_SPAN_LENGTH)]
]
half = [
    {"inputLength": n, "tokensLength": t, "targetsLength": g}
    for n in [10, 11, 64, 100, 512]
    for t, g in [compute_input_and_target_lengths(n, 0.5, 3.0)]
]

np.random.seed(0)
counts = []
for length in list(range(2, 80)) + [100, 128, 255, 256, 500, 512, 568, 601, 1024]:
    seen = set()
    first_noise = False
    for _ in range(20):
        m = random_spans_noise_mask(length)
        seen.add((int(m.sum()), span_count(m)))
        first_noise = first_noise or bool(m[0])
    assert len(seen) == 1, (length, seen)
    (noise, spans), = seen
    counts.append({"length": length, "noiseTokens": noise, "noiseSpans": spans, "firstNoise": first_noise})

# Fixed masks over real token ids, covering: noise in the middle, at the end, several spans, single-token spans.
text = "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat."
ids = tokenizer(text, add_special_tokens=False).input_ids
n = len(ids)
masks = [
    [i in (3, 4, 5) for i in range(n)],
    [i >= n - 2 for i in range(n)],
    [i in (1, 2, 6, 10, 11, 12, 13) for i in range(n)],
    [i % 2 == 1 for i in range(n)],
    [i == 0 for i in range(n)],
    [i not in (0, n - 1) for i in range(n)],
]
np.random.seed(1)
for length in (n,) * 4:
    masks.append(random_spans_noise_mask(length).tolist())
cases = []
for m in masks:
    inputs, labels = corrupt(ids, m)
    cases.append({"ids": ids, "mask": [int(b) for b in m], "inputs": inputs, "labels": labels})

golden = {
    "source": "scripts/span-corruption-golden.py (HF run_t5_mlm_flax.py functions)",
    "tokenizer": "test/fixtures/tokenizers/t5",
    "lenTokenizer": len(tokenizer),
    "eosId": tokenizer.eos_token_id,
    "extraId0": tokenizer.convert_tokens_to_ids("<extra_id_0>"),
    "extraId99": tokenizer.convert_tokens_to_ids("<extra_id_99>"),
    "noiseDensity": NOISE_DENSITY,
    "meanNoiseSpanLength": MEAN_NOISE_SPAN_LENGTH,
    "lengths": lengths,
    "lengthsDensityHalf": half,
    "counts": counts,
    "cases": cases,
}
with open(OUT, "w") as f:
    json.dump(golden, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {OUT}: {len(lengths)} lengths, {len(counts)} counts, {len(cases)} cases")
