/**
 * `softprompt export`: write an adapter in another form.
 *   --merge            a whole Hugging Face model folder with the adapter folded into the weights (LoRA), which
 *                      `transformers` loads with no peft at all
 *   --adapter-format   the adapter re-saved in another of its method's formats (e.g. DePT → PEFT PROMPT_TUNING)
 */
import path from 'node:path';
import { Command } from 'commander';
import { SoftpromptError } from '../errors.js';
import { CONFIG_FILE } from '../io/hf-folder.js';
import { writeModelFolder } from '../io/model-folder-writer.js';
import type { WritableTensor } from '../io/safetensors.js';
import { saveAdapter } from '../methods/registry.js';
import { hfLayout } from '../models/weight-grads.js';
import { weightTraining } from '../methods/method.js';
import { writeSavedTask } from '../tasks/saved-task.js';
import { usageError } from './errors.js';
import { REVISION_FLAG, REVISION_HELP, resolveHubFlags } from './hub-paths.js';
import { loadInference } from './load.js';
import { displayPath } from './paths.js';

export function exportCommand(): Command {
  return new Command('export')
    .summary('merge an adapter into the model weights, or re-save it in another format')
    .description('Write an adapter as a merged Hugging Face model folder (--merge, LoRA), or in another adapter format (--adapter-format).')
    .requiredOption('--adapter <dir>', 'adapter folder')
    .option('--model <dir>', 'base model folder (default: the adapter\'s base_model_name_or_path, if it is a folder here)')
    .option('--tokenizer <path>', 'tokenizer folder copied into a merged folder (default: the model folder)')
    .option(REVISION_FLAG, REVISION_HELP)
    .requiredOption('--output <dir>', 'folder to write')
    .option('--merge', 'fold the adapter into the weights and write a full HF model folder (LoRA)')
    .option('--adapter-format <fmt>', 're-save the adapter in this format of its method (e.g. peft)')
    .addHelpText('after', `
Examples:
  $ softprompt export --adapter runs/sst2-lora/adapter --model ./t5-base --merge --output t5-base-sst2
  $ softprompt export --adapter runs/sst2-dept/adapter --model ./t5-base --adapter-format peft --output sst2-peft   # DePT with a zero offset only`)
    .action(async (given: { adapter: string; model?: string; tokenizer?: string; revision?: string; output: string; merge?: boolean; adapterFormat?: string }) => {
      const o = await resolveHubFlags(given);
      if ((o.merge === true) === (o.adapterFormat !== undefined)) throw usageError('give exactly one of --merge and --adapter-format.', { path: '--merge' });
      const inf = loadInference({ adapter: o.adapter, ...(o.model !== undefined ? { model: o.model } : {}), ...(o.tokenizer !== undefined ? { tokenizer: o.tokenizer } : {}) });
      const m = inf.adapter.method;
      if (o.merge === true) {
        if (m.mergeInto === undefined) {
          throw new SoftpromptError('unsupported', `A ${inf.adapter.entry.name} adapter cannot be merged into the model weights: it adds input positions, not weight deltas. Serve or predict it with --adapter instead.`, { path: '--merge' });
        }
        m.mergeInto(inf.model);
        const tensors: Record<string, WritableTensor> = {};
        for (const w of weightTraining(inf.model, inf.adapter.entry.name).weights()) tensors[w.name] = { dtype: 'F32', shape: [...w.shape], data: hfLayout(w) };
        writeModelFolder(o.output, { config: { file: path.join(inf.modelDir, CONFIG_FILE) }, tensors, tokenizerDir: inf.tokenizerPath });
        process.stdout.write(`Merged ${displayPath(path.resolve(o.adapter))} into ${displayPath(path.resolve(inf.modelDir))}: ${displayPath(path.resolve(o.output))}/ (config.json, model.safetensors, tokenizer files)\n`);
        return;
      }
      const info = inf.model.info;
      const saved = saveAdapter(o.output, m, {
        baseModel: inf.adapter.config.baseModel ?? inf.modelDir, tokenizer: inf.adapter.config.tokenizer,
        modelInfo: { dModel: info.dModel, numLayers: info.numLayers, numHeads: info.numHeads, kind: info.kind }, format: o.adapterFormat!,
      });
      if (inf.saved !== null) writeSavedTask(o.output, inf.saved); // the task travels with the adapter
      process.stdout.write(`Saved ${displayPath(path.resolve(o.output))}/ as ${saved.peftType}\n`);
    });
}
