/** LoRA's registration: its options (r, α, dropout, targets), one "lora" group, PEFT's LORA folder, descriptions. */
import { z } from 'zod';
import { floatArg, intArg } from '../../args.js';
import { SoftpromptError } from '../../errors.js';
import { defineMethod, type LoadedAdapter } from '../entry.js';
import type { PeftMethod } from '../method.js';
import { std } from '../prompt-common.js';
import { validateLoraConfig } from './config.js';
import type { ParsedLoraAdapterConfig } from './files.js';
import { loadLora, saveLora } from './folder.js';
import { Lora } from './lora.js';

function listArg(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export const loraEntry = defineMethod<Lora>({
  name: 'lora',
  aliases: [],
  options: [
    { key: 'loraR', flags: '--lora-r <n>', help: 'LoRA rank r', schema: z.number().int().min(1).optional(), shownDefault: '8', parse: intArg },
    { key: 'loraAlpha', flags: '--lora-alpha <x>', help: 'LoRA α: the side path is scaled by α/r', schema: z.number().positive().optional(), shownDefault: '8', parse: floatArg },
    { key: 'loraDropout', flags: '--lora-dropout <p>', help: 'dropout on the LoRA input', schema: z.number().min(0).lt(1).optional(), shownDefault: '0', parse: floatArg },
    {
      key: 'targetModules', flags: '--target-modules <names>', help: 'LoRA target modules, comma-separated HF module names or suffixes, or all-linear (default: T5 q,v; GPT-2 c_attn; LLaMA q_proj,v_proj)',
      schema: z.array(z.string().min(1)).min(1).optional(), parse: listArg,
    },
  ],
  groups: [{ name: 'lora', lrKey: 'lr', defaultLr: 3e-4, defaultWeightDecay: 0 }],
  peftTypes: ['LORA'],
  formats: ['peft'],
  owns: (m: PeftMethod): m is Lora => m instanceof Lora,
  create(s, ctx) {
    if (ctx.model === undefined) throw new SoftpromptError('invalid_config', 'LoRA needs the model to size its side paths.', { path: 'method' });
    const cfg = validateLoraConfig({
      r: s['loraR'] ?? 8, loraAlpha: s['loraAlpha'] ?? 8, loraDropout: s['loraDropout'] ?? 0,
      ...(s['targetModules'] !== undefined ? { targetModules: s['targetModules'] } : {}),
    });
    return Lora.init(cfg, ctx.model, ctx.rng);
  },
  load: loadLora,
  save: saveLora,
  summary: (m) => `LoRA: r=${m.config.r}, α=${m.config.loraAlpha} (scaling ${+m.scaling.toFixed(4)}), dropout ${m.config.loraDropout}, targets ${m.targets.join(', ')} (${m.paths.length} layers), ${m.numParams()} trainable parameters`,
  facts: (m) => ({ r: m.config.r, targets: m.targets.join(','), layers: m.paths.length }),
  describe(a: LoadedAdapter<Lora>, base: string) {
    const m = a.method, c = a.config as ParsedLoraAdapterConfig;
    const { r, loraAlpha, loraDropout } = m.config;
    const shown = m.paths.slice(0, 6);
    return {
      label: 'LoRA',
      tag: 'lora',
      format: 'PEFT LoRA (peft_type LORA)',
      numbers: `r=${r}, alpha=${loraAlpha} (scaling α/r = ${+m.scaling.toFixed(4)}), dropout ${loraDropout}, targets ${m.targets.join(', ')}: ${m.paths.length} layers`,
      paramFormula: 'Σ r·(in + out) over the targeted layers',
      fields: { r, alpha: loraAlpha, scaling: m.scaling, dropout: loraDropout, targets: m.targets, layers: m.paths.map((p) => p.module), fanInFanOut: c.fanInFanOut },
      details: [],
      tensors: shown.flatMap((p) => [
        { name: `${p.module}.lora_A.weight`, shape: p.A.shape, std: std(p.A.data) },
        { name: `${p.module}.lora_B.weight`, shape: p.B.shape, std: std(p.B.data) },
      ]),
      notes: [
        ...(m.paths.length > shown.length ? [`  … and ${m.paths.length - shown.length} more layers (${2 * (m.paths.length - shown.length)} tensors)`] : []),
        '  at init     A ~ U(±1/√in), B = 0: a fresh adapter leaves the model unchanged (Hu et al. 2021, as PEFT)',
      ],
      card: {
        hyper: { peft_type: a.peftType, 'rank r': r, lora_alpha: loraAlpha, 'scaling α/r': +m.scaling.toPrecision(6), lora_dropout: loraDropout, target_modules: m.targets.join(', '), 'layers adapted': m.paths.length },
        intro: `A LoRA adapter (Hu et al., 2021) for the frozen model \`${base}\`, saved by softprompt in PEFT's format: rank-${r} factors A and B on ${m.paths.length} linear layers (${m.targets.join(', ')}), whose product scaled by α/r is added to each layer's output. The base model's weights are unchanged.`,
        python: ['Load it with upstream `peft` (no missing or unexpected keys):', ''],
        after: ['To merge it into the base weights: `model = model.merge_and_unload()`, or `softprompt export --merge` (see `softprompt export --help`).', ''],
      },
    };
  },
});
