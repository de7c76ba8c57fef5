/** Full fine-tuning's registration: --train-modules, two groups (decay / no_decay), the HF model folder format. */
import path from 'node:path';
import { z } from 'zod';
import { defineMethod, type LoadedAdapter } from '../entry.js';
import type { PeftMethod } from '../method.js';
import { splitModules, validateFullConfig } from './config.js';
import { detectFull, FULL_FORMAT, loadFull, saveFull, type FullFolderConfig } from './files.js';
import { DECAY_GROUP, FullFineTune, NO_DECAY_GROUP } from './full.js';
import { matchesModule } from './select.js';

/** lr and weight decay defaults (HF Trainer's weight_decay is 0; 0.01 is the common fine-tuning choice, as in BERT / T5 recipes) */
export const FULL_DEFAULT_LR = 1e-4;
export const FULL_DEFAULT_WEIGHT_DECAY = 0.01;

function modulesWords(modules: readonly string[]): string {
  return modules.length === 0 ? 'all weights' : modules.join(', ');
}

export const fullEntry = defineMethod<FullFineTune>({
  name: 'full',
  aliases: ['full_finetuning', 'full-finetuning', 'ft'],
  options: [{
    key: 'trainModules', flags: '--train-modules <names>',
    help: 'full fine-tuning: train only the weights whose HF names contain one of these dot-separated parts (comma list, e.g. "decoder,lm_head"; default every weight)',
    schema: z.array(z.string().trim().min(1)).min(1).optional(), parse: (v: string) => splitModules(v), normalize: splitModules,
  }],
  // HF Trainer: AdamW with weight decay on every weight but biases and norm weights
  groups: [
    { name: DECAY_GROUP, lrKey: 'lr', defaultLr: FULL_DEFAULT_LR, defaultWeightDecay: FULL_DEFAULT_WEIGHT_DECAY },
    { name: NO_DECAY_GROUP, lrKey: 'lr', defaultLr: FULL_DEFAULT_LR, defaultWeightDecay: 0, weightDecayKey: null },
  ],
  peftTypes: [],
  formats: [FULL_FORMAT],
  detect: detectFull,
  owns: (m: PeftMethod): m is FullFineTune => m instanceof FullFineTune,
  create(s, ctx) {
    return FullFineTune.init(validateFullConfig({ trainModules: s['trainModules'] ?? [] }), ctx);
  },
  // precision bf16: the selected weights stay fp32 masters computing through bf16 copies (mixed precision)
  trainedWeights(s) {
    const modules = validateFullConfig({ trainModules: s['trainModules'] ?? [] }).trainModules;
    return (name) => modules.length === 0 || modules.some((p) => matchesModule(name, p));
  },
  load: loadFull,
  save: saveFull,
  summary: (m) => `full fine-tuning: ${m.selected.length} weight tensors (${modulesWords(m.config.trainModules)}), ${m.numParams()} trainable parameters`,
  facts: (m) => ({ tensors: m.selected.length }),
  describe(a: LoadedAdapter<FullFineTune>, base: string) {
    const m = a.method, c = a.config as FullFolderConfig;
    // the card is read on other machines: name this folder (and a local tokenizer folder) as a relative path or by name
    const portable = (p: string): string => (path.isAbsolute(p) ? path.basename(p) : p);
    const dir = portable(path.dirname(a.configFile));
    const modules = modulesWords(m.config.trainModules);
    const total = c.tensors.reduce((n, t) => n + t.shape.reduce((x, y) => x * y, 1), 0);
    const seq2seq = c.taskType === 'SEQ_2_SEQ_LM';
    const auto = seq2seq ? 'AutoModelForSeq2SeqLM' : 'AutoModelForCausalLM';
    const trained = new Set(m.selected.map((w) => w.name));
    return {
      label: 'Full fine-tuning',
      tag: 'full-finetuning',
      format: 'Hugging Face model folder (config.json + model.safetensors, F32)',
      numbers: `${m.selected.length} of ${c.tensors.length} weight tensors trained (${modules}), d=${m.dModel}${c.modelType !== null ? `, model_type ${c.modelType}` : ''}`,
      paramFormula: m.config.trainModules.length === 0 ? 'every weight' : `the weights of ${modules}`,
      fields: { modelType: c.modelType, trainModules: m.config.trainModules, trainedTensors: m.selected.length, tensorCount: c.tensors.length, totalParams: total, savedBySoftprompt: c.savedBySoftprompt },
      details: [`  model       ${total.toLocaleString('en-US')} parameters in ${c.tensors.length} tensors; trained: ${modules}`],
      tensors: c.tensors.filter((t) => trained.has(t.name)).map((t) => ({ name: t.name, shape: t.shape, std: null })),
      notes: [],
      card: {
        hyper: {
          format: 'Hugging Face model folder', model_type: c.modelType, 'trained modules (--train-modules)': modules,
          'trained tensors': `${m.selected.length} of ${c.tensors.length}`, 'model parameters': total,
        },
        intro: `\`${base}\` fully fine-tuned by softprompt (AdamW, fp32 weights and moments): ${m.config.trainModules.length === 0 ? 'every weight was trained' : `the weights of ${modules} were trained, the others are the base model's`}. This folder is a complete model: \`transformers\` loads it as it is.`,
        python: ['A plain `transformers` model folder (no `peft` needed):', ''],
        code: [
          '```python',
          `from transformers import AutoTokenizer, ${auto}`,
          '',
          `model = ${auto}.from_pretrained(${JSON.stringify(dir)})`,
          `tokenizer = AutoTokenizer.from_pretrained(${JSON.stringify(c.tokenizer !== null && c.tokenizer !== undefined ? portable(c.tokenizer) : dir)})`,
          '```',
        ],
        after: [],
        libraryName: 'transformers',
        relation: 'finetune',
        title: `${base} fully fine-tuned`,
      },
    };
  },
});
