/** Prompt tuning's registration: options, the one "prompt" group, files, descriptions. */
import type { ParsedPeftAdapterConfig } from '../adapter-config.js';
import { defineMethod, type LoadedAdapter } from '../entry.js';
import type { PeftMethod } from '../method.js';
import { initWords, PROMPT_GROUP, PROMPT_OPTIONS, PROMPT_CARD_AFTER, PROMPT_REFERENCE_NOTES, promptFileFacts, promptSettings, promptTensorReport } from '../prompt-common.js';
import { validatePromptTuningConfig } from './config.js';
import { loadPromptTuning, savePromptTuning } from './files.js';
import { PromptTuning } from './prompt-tuning.js';

export const promptTuningEntry = defineMethod<PromptTuning>({
  name: 'prompt_tuning',
  aliases: ['pt', 'prompt-tuning'],
  options: PROMPT_OPTIONS,
  groups: [PROMPT_GROUP],
  peftTypes: ['PROMPT_TUNING'],
  // 'dept' is accepted for a prompt-tuning run too (the train default): PROMPT_TUNING is its only format
  formats: ['peft', 'dept'],
  owns: (m: PeftMethod): m is PromptTuning => m instanceof PromptTuning,
  create: (s, ctx) => PromptTuning.init(validatePromptTuningConfig(promptSettings(s)), ctx),
  load: loadPromptTuning,
  save: savePromptTuning,
  summary: (m) => `prompt tuning: ${m.numVirtualTokens} virtual tokens, ${initWords(m.config)}, ${m.numParams()} trainable parameters`,
  facts: () => ({}),
  describe(a: LoadedAdapter<PromptTuning>, base: string) {
    const m = a.method, c = a.config as ParsedPeftAdapterConfig;
    const file = promptFileFacts(c);
    const seq2seq = c.taskType === 'SEQ_2_SEQ_LM';
    const l = m.numVirtualTokens, d = m.dModel;
    return {
      label: 'Prompt-tuning',
      tag: 'prompt-tuning',
      format: 'PEFT prompt tuning (peft_type PROMPT_TUNING)',
      numbers: `l=${l}, d=${d}`,
      paramFormula: 'l·d',
      fields: file.fields,
      details: [file.initLine],
      tensors: [promptTensorReport(m.prompt)],
      notes: [...PROMPT_REFERENCE_NOTES],
      card: {
        hyper: { peft_type: a.peftType, 'virtual tokens l (num_virtual_tokens)': l, 'model width d (token_dim)': d, ...file.hyperTail },
        intro: `A prompt tuning adapter (Lester et al., 2021) for the frozen model \`${base}\`, saved by softprompt: a soft prompt P (${l} × ${d}) prepended to the ${seq2seq ? 'encoder ' : ''}input. The base model's weights are unchanged.`,
        python: ['Load it with upstream `peft`:', ''],
        after: [...PROMPT_CARD_AFTER],
      },
    };
  },
});
