/** DePT's registration: its options (r, budget, α, the low-rank lr), two groups, files, descriptions. */
import { z } from 'zod';
import { floatArg, intArg } from '../../args.js';
import type { ParsedDeptAdapterConfig } from '../adapter-config.js';
import { defineMethod, type LoadedAdapter } from '../entry.js';
import type { PeftMethod } from '../method.js';
import { initWords, PROMPT_GROUP, PROMPT_OPTIONS, PROMPT_CARD_AFTER, PROMPT_REFERENCE_NOTES, promptFileFacts, promptSettings, promptTensorReport, std } from '../prompt-common.js';
import { deptRankForBudget, validateDeptConfig } from './config.js';
import { Dept } from './dept.js';
import { loadDept, saveDept } from './files.js';

/** Positions whose offset norm inspect prints (spec §1.10), those below s. */
const OFFSET_POSITIONS = [0, 1, 2, 5, 10, 20, 40, 60, 100, 255];

export const deptEntry = defineMethod<Dept>({
  name: 'dept',
  aliases: ['prompt_tuning_lora', 'prompt-tuning-lora'],
  options: [
    ...PROMPT_OPTIONS,
    { key: 'rank', flags: '--rank <n>', help: 'DePT r (default: the rank whose parameter count matches --budget PT tokens)', schema: z.number().int().min(0).optional(), parse: intArg },
    { key: 'budget', flags: '--budget <n>', help: 'DePT: PT tokens whose parameter count l·d + r·(s+d) matches', schema: z.number().int().min(1).optional(), shownDefault: '100', parse: intArg },
    { key: 'loraAlpha', flags: '--lora-alpha <x>', help: 'DePT scaling α/√r of A·B', schema: z.number().positive().optional(), shownDefault: '8', parse: floatArg },
    { key: 'lrLowrank', flags: '--lr-lowrank <x>', help: 'learning rate of DePT\'s A and B', schema: z.number().positive().optional(), shownDefault: '0.0001', parse: floatArg },
  ],
  // spec §1.7: P at --learning_rate, A and B at --lora_embedding_lr
  groups: [PROMPT_GROUP, { name: 'lowrank', lrKey: 'lrLowrank', defaultLr: 1e-4, defaultWeightDecay: 0 }],
  peftTypes: ['PROMPT_TUNING_LORA'],
  formats: ['dept', 'peft'],
  owns: (m: PeftMethod): m is Dept => m instanceof Dept,
  create(s, ctx) {
    const p = promptSettings(s);
    const budget = typeof s['budget'] === 'number' ? s['budget'] : 100;
    const rank = typeof s['rank'] === 'number' ? s['rank'] : deptRankForBudget(budget, p.numVirtualTokens, s.maxLength, ctx.dModel);
    const loraAlpha = typeof s['loraAlpha'] === 'number' ? s['loraAlpha'] : 8;
    return Dept.init(validateDeptConfig({ ...p, rank, maxLength: s.maxLength, loraAlpha }), ctx);
  },
  load: loadDept,
  save: saveDept,
  summary(m) {
    const { numVirtualTokens: l, rank: r, maxLength: s, loraAlpha } = m.config;
    return `DePT: ${l} virtual tokens + rank-${r} offset over s=${s} input positions (α=${loraAlpha}, scaling α/√r=${+m.scaling.toFixed(4)}), ${initWords(m.config)}, ${m.numParams()} trainable parameters`;
  },
  facts: (m) => ({ rank: m.config.rank, maxLength: m.config.maxLength }),
  describe(a: LoadedAdapter<Dept>, base: string) {
    const m = a.method, c = a.config as ParsedDeptAdapterConfig;
    const file = promptFileFacts(c);
    const { numVirtualTokens: l, rank: r, maxLength: s, loraAlpha } = m.config;
    const d = m.dModel;
    const seq2seq = c.taskType === 'SEQ_2_SEQ_LM';
    const offsets = m.offsetRowNorms(OFFSET_POSITIONS);
    const initA = r > 0 ? 1 / Math.sqrt(3 * r) : 0;
    const f = (x: number, digits: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(digits));
    return {
      label: 'DePT',
      tag: 'dept',
      format: 'DePT fork of PEFT (peft_type PROMPT_TUNING_LORA)',
      numbers: `l=${l}, r=${r}, s=${s}, alpha=${loraAlpha} (scaling α/√r = ${f(m.scaling, 4)}), d=${d}`,
      paramFormula: 'l·d + r·(s + d)',
      fields: { ...file.fields, r, s, alpha: loraAlpha, scaling: m.scaling, initStd: { A: initA, B: 0 }, offsetRowNorms: Object.fromEntries(offsets) },
      details: [file.initLine],
      tensors: [
        promptTensorReport(m.prompt),
        { name: 'prompt_encoder.lora_embedding_A', shape: m.loraA.shape, std: std(m.loraA.data) },
        { name: 'prompt_encoder.lora_embedding_B', shape: m.loraB.shape, std: std(m.loraB.data) },
      ],
      notes: [
        `  at init     A std ${f(initA, 4)} (U(±1/√r)), B std 0: a fresh adapter has A·B = 0`,
        ...(offsets.length > 0 ? [`  ‖α/√r·(A·B)_row‖ at positions ${offsets.map(([p]) => p).join('/')}: ${offsets.map(([, v]) => f(v, 2)).join('/')}`] : []),
        ...PROMPT_REFERENCE_NOTES,
      ],
      card: {
        hyper: {
          peft_type: a.peftType, 'virtual tokens l (num_virtual_tokens)': l,
          'rank r': r, 'max input length s (max_length)': s, 'lora_alpha α': loraAlpha, 'offset scaling α/√r': +m.scaling.toPrecision(6),
          'model width d (token_dim)': d, ...file.hyperTail,
        },
        intro: `A DePT (decomposed prompt tuning) adapter (Shi & Lipani, ICLR 2024) for the frozen model \`${base}\`, saved by softprompt. It holds a soft prompt P (${l} × ${d}) prepended to the ${seq2seq ? 'encoder ' : ''}input, and low-rank factors A (${s} × ${r}) and B (${r} × ${d}) whose product, scaled by α/√r, is added to the input embeddings at each input position.`,
        python: [
          'This is a `PROMPT_TUNING_LORA` adapter: upstream `peft` cannot load it. Use the DePT fork of peft (the `peft/` folder of https://github.com/ZhengxiangShi/DePT) on your `PYTHONPATH`.',
          `The fork adds A·B for all ${s} positions, so pad every input to exactly max_length (\`padding="max_length"\`).`,
          ...(seq2seq || c.taskType === null ? [] : [
            'softprompt trained it on a decoder-only model with RIGHT padding (input `f"{source} Label : "`, then the label and EOS): pad on the right (`tokenizer.padding_side = "right"`) so that A\'s row i meets the i-th token as in training; the fork\'s own scripts pad on the left.',
          ]),
          '',
        ],
        peftImportComment: '  # the DePT fork, not upstream peft',
        after: [...PROMPT_CARD_AFTER],
      },
    };
  },
});
