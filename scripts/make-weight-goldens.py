"""
Hugging Face golden WEIGHT gradients (float64) for the tiny test fixtures, plus the `t5-gated-tiny` fixture.

Writes, for t5-tiny, t5-gated-tiny, gpt2-tiny and llama-tiny under test/fixtures/<name>/:
  weight-golden.safetensors  full fine-tuning loss + dLoss/dW of every HF parameter, PEFT LoRA A/B values + loss +
                             dLoss/dA, dLoss/dB, and a second batch's per-token NLL with the LoRA applied (F64 / I32)
  weight-golden.json         schema, config, LoRA config, inputs, per-tensor max|value|, cross-checks
  lora-adapter/              the same LoRA saved by PEFT `save_pretrained` (adapter_config.json +
                             adapter_model.safetensors, fp32)
and creates test/fixtures/t5-gated-tiny/ (config.json, model.safetensors, golden.json, golden.safetensors in the
t5-tiny golden format, so test/parity/t5.test.ts runs on it too).

Inputs of the full-FT and LoRA cases are the existing goldens' plain batch (input_ids, attention_mask, labels from
golden.safetensors; t5-gated-tiny reuses t5-tiny's). Models run in float64, eval mode (no dropout), eager attention.
The loss is HF's (mean token CE over labels != -100; causal LMs shift by one), evaluated in float64 from the float64
logits (HF's ForCausalLMLoss upcasts to float32 only; its `.loss` agrees to ~1e-6, recorded in the json). HF T5's
RMSNorm computes the variance in float32 even for a float64 model; this script patches it to the input dtype so
the T5 numbers are float64 end to end; HF LLaMA's float32 RMSNorm, eager softmax and RoPE tables are patched the
same way (GPT-2 runs in float64 as is). Finite differences (float64, central) check a few elements of the full and
LoRA gradients of every fixture (results in the json).

Venv (as /work/shared/bench/README.md: the machine image carries the wheels, no PyPI access needed):
    links=$(find / -xdev -name 'torch-2.1*.whl' -o -name 'transformers-5*.whl' -o -name 'peft-*.whl' 2>/dev/null \
            | xargs -r -n1 dirname | sort -u | sed 's/^/--find-links /')
    python3 -m venv .venv
    .venv/bin/pip install -q --no-index $links "torch==2.13.0+cpu" "transformers==5.18.0" "peft==0.21.0" safetensors numpy
Regenerate (from the repo root; deterministic, fixed seeds; CI never runs this):
    .venv/bin/python scripts/make-weight-goldens.py
"""
import hashlib
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
import peft
from safetensors.numpy import save_file
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, 'test', 'fixtures')
torch.set_grad_enabled(True)

LORA_R, LORA_ALPHA = 4, 8
LORA_TARGETS = {'t5': ['q', 'v'], 'gpt2': ['c_attn'], 'llama': ['q_proj', 'v_proj']}
# Vocabulary-sized gradients of T5 (32128 rows) are stored for a row subset only (see README): dense they would be
# 16 MB per tensor in float64.
ROW_SUBSET_MIN_ROWS = 4096


def t5_rmsnorm_f64(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


transformers.models.t5.modeling_t5.T5LayerNorm.forward = t5_rmsnorm_f64

# HF LLaMA likewise runs RMSNorm and the eager softmax in float32 and builds RoPE cos/sin from float32 inv_freq and
# positions; these patches keep every LLaMA op in the input dtype (float64), with inv_freq computed in float64.
_llama = transformers.models.llama.modeling_llama


def llama_rmsnorm_f64(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def llama_eager_attention_f64(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    k = _llama.repeat_kv(key, module.num_key_value_groups)
    v = _llama.repeat_kv(value, module.num_key_value_groups)
    w = torch.matmul(query, k.transpose(2, 3)) * scaling
    if attention_mask is not None:
        w = w + attention_mask
    w = torch.softmax(w, dim=-1)
    return torch.matmul(w, v).transpose(1, 2).contiguous(), w


@torch.no_grad()
def llama_rope_f64(self, x, position_ids):
    cfg = self.config
    dim = getattr(cfg, 'head_dim', None) or cfg.hidden_size // cfg.num_attention_heads
    inv_freq = 1.0 / (cfg.rope_parameters['rope_theta'] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = position_ids[:, :, None].to(torch.float64) * inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)


_llama.LlamaRMSNorm.forward = llama_rmsnorm_f64
_llama.eager_attention_forward = llama_eager_attention_f64
_llama.LlamaRotaryEmbedding.forward = llama_rope_f64


def sha256(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def load_model(dirname):
    m = transformers.AutoModelForCausalLM if 'gpt2' in dirname or 'llama' in dirname else transformers.T5ForConditionalGeneration
    model = m.from_pretrained(dirname, attn_implementation='eager', dtype=torch.float32)
    return model.double().eval()


def token_nll(model_type, logits, labels):
    """Per-token NLL (0 where ignored), aligned with `labels`, float64; and the mean over non-ignored tokens."""
    if model_type != 't5':  # causal: position t-1 predicts labels[t]
        logits, labels = logits[:, :-1], labels[:, 1:]
    lp = torch.log_softmax(logits, dim=-1)
    keep = labels != -100
    nll = -lp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * keep
    if model_type != 't5':
        nll = torch.cat([torch.zeros_like(nll[:, :1]), nll], dim=1)
    return nll, nll.sum() / keep.sum()


def forward(model, model_type, batch):
    out = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'], labels=batch['labels'])
    nll, loss = token_nll(model_type, out.logits, batch['labels'])
    return out, nll, loss


def stats(t):
    a = np.asarray(t, dtype=np.float64)
    return {'shape': list(a.shape), 'max_abs': float(np.abs(a).max()) if a.size else 0.0,
            'rms': float(np.sqrt((a * a).mean())) if a.size else 0.0}


def read_batch(name):
    g = load_file(os.path.join(FIX, name, 'golden.safetensors'))
    return {k: g[k].long() for k in ('input_ids', 'attention_mask', 'labels')}


def second_batch(model_type, vocab, seed):
    """A different batch (2 rows, right padding) for the adapter-loss check."""
    rng = np.random.default_rng(seed)
    if model_type == 't5':
        T, S, lens, lab_lens = 10, 4, [10, 6], [4, 2]
        ids = np.zeros((2, T), np.int64)
        mask = np.zeros((2, T), np.int64)
        labels = np.full((2, S), -100, np.int64)
        for i, (n, k) in enumerate(zip(lens, lab_lens)):
            ids[i, :n - 1] = rng.integers(2, 32100, n - 1)
            ids[i, n - 1] = 1
            mask[i, :n] = 1
            labels[i, :k - 1] = rng.integers(2, 32100, k - 1)
            labels[i, k - 1] = 1
    else:
        T, lens = 12, [12, 7]
        ids = np.zeros((2, T), np.int64)
        mask = np.zeros((2, T), np.int64)
        labels = np.full((2, T), -100, np.int64)
        for i, n in enumerate(lens):
            ids[i, :n] = rng.integers(2, vocab, n)
            mask[i, :n] = 1
            labels[i, n - 3:n] = ids[i, n - 3:n]  # last 3 real tokens are the target
    return {'input_ids': torch.tensor(ids), 'attention_mask': torch.tensor(mask), 'labels': torch.tensor(labels)}



def fd_check(loss_fn, named, rng, per_tensor=2, h=1e-5):
    """Central differences in float64 at a few elements of each given parameter: max |fd - grad| / max|grad|."""
    worst, rows = 0.0, []
    with torch.no_grad():
        for name, p in named:
            g = p.grad.reshape(-1)
            gmax = g.abs().max().item()
            flat = p.data.view(-1)
            for j in [int(g.abs().argmax())] + rng.integers(0, flat.numel(), per_tensor - 1).tolist():
                x = flat[j].item()
                errs = []
                for step in (h, h / 10):  # a ReLU kink within +-h spoils one step size, rarely both
                    flat[j] = x + step
                    lp = loss_fn()
                    flat[j] = x - step
                    lm = loss_fn()
                    flat[j] = x
                    errs.append(abs((lp - lm) / (2 * step) - g[j].item()) / gmax)
                err = min(errs)
                worst = max(worst, err)
                rows.append([name, j, g[j].item(), err])
    return {'h': h, 'max_err_rel_to_max_grad': worst, 'probes': rows}


def full_ft(model, model_type, batch, out_tensors, probe_rows):
    model.zero_grad(set_to_none=True)
    hf, nll, loss = forward(model, model_type, batch)
    loss.backward()
    stored = set(load_file(os.path.join(model.name_or_path, 'model.safetensors')).keys())
    info, rows_info = {}, {}
    for name, p in model.named_parameters():  # tied parameters appear once, under their first (stored) name
        assert name in stored, f'{name} is not a stored tensor name'
        g = p.grad.detach().numpy().astype(np.float64)
        full_stats = stats(g)
        full_stats.update(sum=float(g.sum()), sum_sq=float((g * g).sum()))
        if g.ndim == 2 and g.shape[0] >= ROW_SUBSET_MIN_ROWS:
            rows = np.asarray(sorted(probe_rows), np.int32)
            out_tensors[f'full.grad_rows.{name}'] = rows
            g = g[rows]
            rows_info[name] = len(rows)
            full_stats['stored_rows'] = len(rows)
        out_tensors[f'full.grad.{name}'] = np.ascontiguousarray(g)
        info[name] = full_stats
    missing = stored - set(info)
    params = list(model.named_parameters())
    pick = [params[k] for k in np.random.default_rng(1).choice(len(params), 4, replace=False)] + params[:1]
    fd = fd_check(lambda: forward(model, model_type, batch)[2].item(), pick, np.random.default_rng(2))
    assert fd['max_err_rel_to_max_grad'] < 1e-6, fd
    out_tensors['full.loss'] = np.array([loss.item()], np.float64)
    out_tensors['full.token_nll'] = nll.detach().numpy().astype(np.float64)
    return {'loss': loss.item(), 'hf_loss': hf.loss.item(), 'hf_loss_minus_loss': hf.loss.item() - loss.item(),
            'tied_names_not_in_grads': sorted(missing), 'finite_difference_check': fd, 'grads': info,
            'row_subset_tensors': rows_info}


def lora(model, model_type, batch, batch2, out_tensors, adapter_dir, seed):
    cfg = peft.LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=LORA_TARGETS[model_type],
                          init_lora_weights=False, fan_in_fan_out=(model_type == 'gpt2'), bias='none')
    base_loss2 = forward(model, model_type, batch2)[2].item()
    pm = peft.get_peft_model(model, cfg).double().eval()
    rng = np.random.default_rng(seed)
    keys = []
    with torch.no_grad():
        for name, p in sorted(pm.named_parameters()):
            if '.lora_A.' in name or '.lora_B.' in name:
                r_in = p.shape[1]
                std = 1.0 / np.sqrt(r_in) if '.lora_A.' in name else 0.2
                # fp32-representable values, so the fp32 adapter file holds them exactly
                v = rng.normal(0.0, std, tuple(p.shape)).astype(np.float32)
                p.copy_(torch.from_numpy(v).double())
                keys.append(name)
    pm.zero_grad(set_to_none=True)
    _, nll, loss = forward(pm, model_type, batch)
    loss.backward()
    info = {}
    for name in keys:
        p = dict(pm.named_parameters())[name]
        key = name.replace('.default.', '.')  # PEFT state-dict key, as save_pretrained writes it
        out_tensors[f'lora.{key}'] = p.detach().numpy().astype(np.float64)
        out_tensors[f'lora.grad.{key}'] = p.grad.detach().numpy().astype(np.float64)
        info[key] = {'value': stats(out_tensors[f'lora.{key}']), 'grad': stats(out_tensors[f'lora.grad.{key}'])}
    lora_params = [(n, p) for n, p in pm.named_parameters() if n in keys]
    fd = fd_check(lambda: forward(pm, model_type, batch)[2].item(), lora_params, np.random.default_rng(3))
    assert fd['max_err_rel_to_max_grad'] < 1e-6, fd
    frozen_with_grad = [n for n, p in pm.named_parameters() if p.grad is not None and n not in keys]
    assert not frozen_with_grad, frozen_with_grad
    out_tensors['lora.loss'] = np.array([loss.item()], np.float64)
    out_tensors['lora.token_nll'] = nll.detach().numpy().astype(np.float64)
    with torch.no_grad():
        _, nll2, loss2 = forward(pm, model_type, batch2)
    for k, v in batch2.items():
        out_tensors[f'lora2.{k}'] = v.numpy().astype(np.int32)
    out_tensors['lora2.token_nll'] = nll2.numpy().astype(np.float64)
    out_tensors['lora2.loss'] = np.array([loss2.item()], np.float64)

    # the adapter, fp32, by PEFT itself
    if os.path.isdir(adapter_dir):
        shutil.rmtree(adapter_dir)
    pm.float()
    pm.save_pretrained(adapter_dir)
    pm.double()
    os.remove(os.path.join(adapter_dir, 'README.md'))  # PEFT's empty model-card template
    ac_file = os.path.join(adapter_dir, 'adapter_config.json')
    ac = json.load(open(ac_file))
    ac['base_model_name_or_path'] = os.path.relpath(model.name_or_path, ROOT)  # not this machine's absolute path
    ac['target_modules'] = sorted(ac['target_modules'])  # PEFT writes a set: random order
    with open(ac_file, 'w') as fh:
        json.dump(ac, fh, indent=2, sort_keys=True)
        fh.write('\n')
    saved = load_file(os.path.join(adapter_dir, 'adapter_model.safetensors'))
    assert sorted(saved) == sorted(info), (sorted(saved), sorted(info))
    for k, v in saved.items():
        assert v.dtype == torch.float32 and np.array_equal(v.double().numpy(), out_tensors[f'lora.{k}']), k
    # reload with PeftModel.from_pretrained on a fresh float64 base: same loss
    re = peft.PeftModel.from_pretrained(load_model(model.name_or_path), adapter_dir).double().eval()
    with torch.no_grad():
        reload_loss = forward(re, model_type, batch)[2].item()
    scaling = LORA_ALPHA / LORA_R
    return {
        'config': {'r': LORA_R, 'lora_alpha': LORA_ALPHA, 'scaling': scaling, 'lora_dropout': 0.0,
                   'target_modules': LORA_TARGETS[model_type], 'fan_in_fan_out': model_type == 'gpt2',
                   'bias': 'none', 'use_rslora': False, 'init': f'explicit: numpy default_rng({seed}) in sorted '
                   'parameter-name order, A ~ normal(0, 1/sqrt(in_features)), B ~ normal(0, 0.2), rounded to fp32',
                   'forward': 'y = base(x) + scaling * (x @ A^T) @ B^T  (A: [r, in], B: [out, r]; also for GPT-2 '
                   'Conv1D: fan_in_fan_out only transposes the merged delta (B @ A)^T to Conv1D\'s [in, out])'},
        'loss': loss.item(), 'finite_difference_check': fd, 'tensors': info, 'adapter_dir': 'lora-adapter',
        'adapter_reload_loss_minus_loss': reload_loss - loss.item(),
        'second_batch': {'loss': loss2.item(), 'base_model_loss': base_loss2,
                         'input_ids': batch2['input_ids'].tolist(), 'attention_mask': batch2['attention_mask'].tolist(),
                         'labels': batch2['labels'].tolist()},
    }


def make_weight_golden(name, seed):
    d = os.path.join(FIX, name)
    model = load_model(d)
    model_type = model.config.model_type
    batch = read_batch('t5-tiny' if name == 't5-gated-tiny' else name)
    batch2 = second_batch(model_type, model.config.vocab_size, seed)
    tensors = {k: v.numpy().astype(np.int32) for k, v in batch.items()}
    probe = set()
    if model_type == 't5':
        probe = set(load_file(os.path.join(d, 'golden.safetensors'))['vocab_probe_ids'].tolist())
        probe |= set(batch2['input_ids'].flatten().tolist()) | set(batch2['labels'].clamp(min=0).flatten().tolist())
    full = full_ft(model, model_type, batch, tensors, probe)
    lo = lora(model, model_type, batch, batch2, tensors, os.path.join(d, 'lora-adapter'), seed + 1)
    st = os.path.join(d, 'weight-golden.safetensors')
    save_file(tensors, st, metadata={'generator': 'scripts/make-weight-goldens.py'})
    for f in (st, os.path.join(d, 'lora-adapter', 'adapter_model.safetensors')):
        os.chmod(f, 0o644)
    js = {
        'fixture': name,
        'generator': 'scripts/make-weight-goldens.py',
        'oracle': f'transformers {transformers.__version__} {type(model).__name__}, peft {peft.__version__}, '
                  f'torch {torch.__version__}, float64, eval mode (no dropout), eager attention',
        'dtypes': 'every float tensor F64 (values computed in float64); ids/masks/labels/rows I32',
        'loss': 'mean token cross-entropy over labels != -100 of the whole batch (causal: logits[:, :-1] vs '
                'labels[:, 1:]), float64; *.token_nll is aligned with labels (0 where ignored)',
        'batch': f'input_ids / attention_mask / labels = the plain batch of test/fixtures/'
                 f'{"t5-tiny" if name == "t5-gated-tiny" else name}/golden.safetensors (copied here)',
        'tensor_names': {
            'input_ids, attention_mask, labels': 'the batch (I32)',
            'full.loss [1], full.token_nll': 'full fine-tuning forward on the batch',
            'full.grad.<HF name>': 'dLoss/dW for every parameter, tied weights once under the stored name',
            'full.grad_rows.<HF name>': 'only for vocabulary-sized T5 tensors: the rows (I32, sorted) that '
                                        'full.grad.<HF name> holds; the full tensor\'s sum, sum_sq, max_abs are in '
                                        'full.grads[<HF name>]',
            'lora.<PEFT key>': 'LoRA A / B values (fp32-exact), key as in adapter_model.safetensors',
            'lora.grad.<PEFT key>': 'dLoss/dA, dLoss/dB (base weights frozen) on the batch',
            'lora.loss [1], lora.token_nll': 'loss with the LoRA applied on the batch',
            'lora2.input_ids / attention_mask / labels': 'a second batch',
            'lora2.token_nll, lora2.loss [1]': 'per-token NLL and mean CE with the LoRA on the second batch',
        },
        'full': full,
        'lora': lo,
        'recommended_tolerances': 'loss abs 1e-4 (fp32 engine); grads rel_to_max 1e-3 (as test/parity TOL.grad); '
                                  'a float64 engine should meet ~1e-10',
        'files': {'weight-golden.safetensors': sha256(st),
                  'lora-adapter/adapter_model.safetensors': sha256(os.path.join(d, 'lora-adapter', 'adapter_model.safetensors'))},
    }
    with open(os.path.join(d, 'weight-golden.json'), 'w') as f:
        json.dump(js, f, indent=1)
        f.write('\n')
    gmax = max(v['max_abs'] for v in full['grads'].values())
    lmax = max(v['grad']['max_abs'] for v in lo['tensors'].values())
    print(f'{name}: full loss {full["loss"]:.8f} (HF .loss diff {full["hf_loss_minus_loss"]:.1e}), max|grad| {gmax:.3e}; '
          f'lora loss {lo["loss"]:.8f}, max|grad| {lmax:.3e}, reload diff {lo["adapter_reload_loss_minus_loss"]:.1e}; '
          f'second batch loss {lo["second_batch"]["loss"]:.6f} (base {lo["second_batch"]["base_model_loss"]:.6f})')


# ---------------------------------------------------------------- t5-gated-tiny: fixture + t5-tiny-format golden

GATED = 't5-gated-tiny'
GATED_SEED = 4321


def gated_config():
    cfg = json.load(open(os.path.join(FIX, 't5-tiny', 'config.json')))
    # T5 v1.1 / Flan-T5 style: gated-gelu FFN, untied lm_head (no d_model**-0.5 logit scaling);
    # num_heads * d_kv = 12 != d_model = 8. Same vocab as t5-tiny (same tokenizer and ids).
    cfg.update(d_model=8, d_kv=4, num_heads=3, d_ff=20, feed_forward_proj='gated-gelu', dense_act_fn='gelu_new',
               is_gated_act=True, tie_word_embeddings=False)
    return cfg


def logit_summaries(logits, probe):
    top2 = logits.topk(2, dim=-1).values
    return {'logits_probe': logits[..., probe], 'logits_max': top2[..., 0],
            'logits_top1_minus_top2': top2[..., 0] - top2[..., 1],
            'logits_logsumexp': torch.logsumexp(logits, -1), 'logits_argmax': logits.argmax(-1)}


def make_gated_fixture():
    d = os.path.join(FIX, GATED)
    os.makedirs(d, exist_ok=True)
    cfg = gated_config()
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
        f.write('\n')
    torch.manual_seed(GATED_SEED)
    model = transformers.T5ForConditionalGeneration(transformers.T5Config.from_pretrained(d))
    # transformers 5.18's T5Config forces tie_word_embeddings=True (it only keeps `scale_decoder_outputs` from the
    # file), so the fresh model ties lm_head to shared; give lm_head its own HF-style init (normal(0, factor)).
    # from_pretrained does not tie two stored tensors that differ, so the loaded model is untied.
    lm_head = torch.empty_like(model.lm_head.weight).normal_(0.0, cfg['initializer_factor'])
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if not k.endswith('embed_tokens.weight')}
    sd['lm_head.weight'] = lm_head
    from safetensors.torch import save_file as save_torch
    save_torch(sd, os.path.join(d, 'model.safetensors'), metadata={'format': 'pt'})
    model = load_model(d)
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr() and not model.config.scale_decoder_outputs
    assert torch.equal(model.lm_head.weight.float(), lm_head)
    C, L, NH = cfg['d_model'], cfg['num_layers'], cfg['num_heads']
    tiny = load_file(os.path.join(FIX, 't5-tiny', 'golden.safetensors'))
    ids, mask, labels = (tiny[k].long() for k in ('input_ids', 'attention_mask', 'labels'))
    dec_ids = tiny['decoder_input_ids'].long()
    assert torch.equal(model._shift_right(labels), dec_ids)
    B, T = ids.shape
    E = model.shared.weight[ids].detach()
    rng = np.random.default_rng(GATED_SEED + 1)
    l_pt, l_dept, r, s = 7, 4, 3, T
    P_pt = rng.normal(0, 1.0, (l_pt, C)).astype(np.float32)
    P_dept = rng.normal(0, 1.0, (l_dept, C)).astype(np.float32)
    A = rng.uniform(-1 / np.sqrt(r), 1 / np.sqrt(r), (s, r)).astype(np.float32)
    Bm = rng.normal(0, 0.1, (r, C)).astype(np.float32)
    scaling = 8 / np.sqrt(r)

    def run(X, M, want_hidden=False):
        return model(inputs_embeds=X, attention_mask=M, labels=labels, output_hidden_states=want_hidden)

    out = {}
    with torch.no_grad():
        plain = run(E, mask, True)
    # pt
    P1 = torch.tensor(P_pt, dtype=torch.float64, requires_grad=True)
    X_pt = torch.cat([P1.unsqueeze(0).expand(B, -1, -1), E], 1)
    M_pt = torch.cat([torch.ones(B, l_pt, dtype=torch.long), mask], 1)
    pt = run(X_pt, M_pt)
    _, pt_loss = token_nll('t5', pt.logits, labels)
    pt_loss.backward()
    # dept
    P2 = torch.tensor(P_dept, dtype=torch.float64, requires_grad=True)
    A2 = torch.tensor(A, dtype=torch.float64, requires_grad=True)
    B2 = torch.tensor(Bm, dtype=torch.float64, requires_grad=True)
    offset = scaling * (A2 @ B2)
    X_d = torch.cat([P2.unsqueeze(0).expand(B, -1, -1), E + offset.unsqueeze(0)], 1)
    M_d = torch.cat([torch.ones(B, l_dept, dtype=torch.long), mask], 1)
    dp = run(X_d, M_d)
    _, dp_loss = token_nll('t5', dp.logits, labels)
    dp_loss.backward()
    with torch.no_grad():
        gen = model.generate(inputs_embeds=X_d.detach(), attention_mask=M_d, max_new_tokens=5, do_sample=False,
                             num_beams=1, decoder_start_token_id=0, eos_token_id=1, pad_token_id=0,
                             output_logits=True, return_dict_in_generate=True)
        gen_ids = gen.sequences[:, 1:]
        step_logits = torch.stack(gen.logits, 0)  # (steps, B, V)
        # no-cache check: rerun the decoder on the whole prefix
        full = model(inputs_embeds=X_d.detach(), attention_mask=M_d, decoder_input_ids=gen.sequences[:, :-1]).logits
        nocache_diff = (full.transpose(0, 1) - step_logits).abs().max().item()

    probe = set(range(256)) | set(range(0, cfg['vocab_size'], 64)) | set(ids.flatten().tolist())
    probe |= set(labels.clamp(min=0).flatten().tolist()) | set(dec_ids.flatten().tolist()) | set(gen_ids.flatten().tolist())
    for o in (plain, pt, dp):
        probe |= set(o.logits.argmax(-1).flatten().tolist())
    probe |= set(step_logits.argmax(-1).flatten().tolist())
    probe = torch.tensor(sorted(probe))

    f = lambda t: t.detach().numpy().astype(np.float32)
    i = lambda t: t.detach().numpy().astype(np.int32)
    out.update(input_ids=i(ids), attention_mask=i(mask), labels=i(labels), decoder_input_ids=i(dec_ids),
               vocab_probe_ids=i(probe))
    rel = torch.arange(T)
    for name, bidi, att in (('encoder', True, model.encoder.block[0].layer[0].SelfAttention),
                            ('decoder', False, model.decoder.block[0].layer[0].SelfAttention)):
        bk = att._relative_position_bucket(rel[None, :] - rel[:, None], bidirectional=bidi,
                                           num_buckets=cfg['relative_attention_num_buckets'],
                                           max_distance=cfg['relative_attention_max_distance'])
        out[f'rel_bias.{name}_buckets'] = i(bk)
        out[f'rel_bias.{name}'] = f(att.compute_bias(T, T))
    summary = {}
    for prefix, o, extra in (('plain', plain, {}), ('pt', pt, {}), ('dept', dp, {})):
        nll, loss = token_nll('t5', o.logits, labels)
        for k, v in logit_summaries(o.logits.detach(), probe).items():
            out[f'{prefix}.{k}'] = i(v) if k == 'logits_argmax' else f(v)
        out[f'{prefix}.token_nll'] = f(nll)
        out[f'{prefix}.loss'] = np.array([loss.item()], np.float32)
        out[f'{prefix}.encoder_last_hidden_state'] = f(o.encoder_last_hidden_state)
        summary[prefix] = {'loss': loss.item(), 'hf_loss_minus_loss': o.loss.item() - loss.item(),
                           'min_top1_minus_top2': float(out[f'{prefix}.logits_top1_minus_top2'].min())}
    out['plain.encoder_hidden_states'] = f(torch.stack(plain.encoder_hidden_states, 0))
    out['plain.decoder_hidden_states'] = f(torch.stack(plain.decoder_hidden_states, 0))
    out.update({'pt.P': P_pt, 'pt.attention_mask': i(M_pt), 'pt.inputs_embeds': f(X_pt), 'pt.grad_P': f(P1.grad)})
    out.update({'dept.P': P_dept, 'dept.A': A, 'dept.B': Bm, 'dept.lora_offset': f(offset), 'dept.attention_mask': i(M_d),
                'dept.inputs_embeds': f(X_d), 'dept.grad_P': f(P2.grad), 'dept.grad_A': f(A2.grad),
                'dept.grad_B': f(B2.grad), 'dept.generated_ids': i(gen_ids)})
    gs = logit_summaries(step_logits, probe)
    out['dept.gen_step_logits_probe'] = f(gs['logits_probe'])
    out['dept.gen_step_logsumexp'] = f(gs['logits_logsumexp'])
    out['dept.gen_step_top1_minus_top2'] = f(gs['logits_top1_minus_top2'])
    out = {k: np.ascontiguousarray(v) for k, v in out.items()}
    st = os.path.join(d, 'golden.safetensors')
    # one metadata key: safetensors writes several in random order, and the file should be reproducible byte for byte
    save_file(out, st, metadata={'generator': 'scripts/make-weight-goldens.py (float64 oracle, stored as float32)'})
    for fn in ('model.safetensors', 'golden.safetensors'):
        os.chmod(os.path.join(d, fn), 0o644)
    js = {
        'fixture': GATED,
        'oracle': f'transformers {transformers.__version__} T5ForConditionalGeneration, torch {torch.__version__}, '
                  'float64 (RMSNorm variance patched to float64), eval mode, eager attention; stored as float32',
        'config': cfg,
        'seeds': {'weights': f'torch.manual_seed({GATED_SEED}) then HF init (T5ForConditionalGeneration(config))',
                  'prompts': f'numpy default_rng({GATED_SEED + 1}): pt.P, dept.P ~ normal(0, 1), A ~ uniform(+-1/sqrt(r)), B ~ normal(0, 0.1)'},
        'dept': {'s': s, 'r': r, 'lora_alpha': 8, 'scaling': scaling, 'l_dept': l_dept, 'l_pt': l_pt},
        'inputs': 'input_ids / attention_mask / labels / decoder_input_ids are t5-tiny\'s (see its README)',
        'input_ids': ids.tolist(), 'attention_mask': mask.tolist(), 'labels': labels.tolist(),
        'cases': summary,
        'generation': {'max_new_tokens': 5, 'decoder_start_token_id': 0, 'generated_ids': gen_ids.tolist(),
                       'cache_vs_nocache_max_logit_diff': nocache_diff,
                       'min_step_top1_minus_top2': float(out['dept.gen_step_top1_minus_top2'].min())},
        'tensors': {k: stats(v) for k, v in out.items()},
        'recommended_tolerances': 'as test/fixtures/t5-tiny/README.md',
        'files': {n: sha256(os.path.join(d, n)) for n in ('config.json', 'model.safetensors', 'golden.safetensors')},
    }
    with open(os.path.join(d, 'golden.json'), 'w') as fh:
        json.dump(js, fh, indent=1)
        fh.write('\n')
    print(f'{GATED}: losses plain/pt/dept {summary["plain"]["loss"]:.6f} {summary["pt"]["loss"]:.6f} '
          f'{summary["dept"]["loss"]:.6f}; generated {gen_ids.tolist()}; min gaps '
          f'{[v["min_top1_minus_top2"] for v in summary.values()]} / {js["generation"]["min_step_top1_minus_top2"]}')


if __name__ == '__main__':
    only = sys.argv[1:]  # optional fixture names
    if not only or GATED in only:
        make_gated_fixture()
    for i, name in enumerate(['t5-tiny', 't5-gated-tiny', 'gpt2-tiny', 'llama-tiny']):
        if not only or name in only:
            make_weight_golden(name, 7000 + 10 * i)
