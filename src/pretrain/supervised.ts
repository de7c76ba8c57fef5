/**
 * The optional supervised part of pretraining (T5's multi-task mixture): GLUE / SuperGLUE training rows as
 * "task prefix + DePT source" → one label word, e.g.
 *
 *   rte sentence1: A man sleeps. sentence2: A person rests.   →   entailment
 *
 * Rows are the `train` split of DePT's split protocol (loadSplits), so the rows each task holds out for
 * validation and its dev set are never seen. SST-2 is refused: its labels must stay unseen before the
 * quickstart's prompt tuning.
 *
 * Label words: 't5' uses T5's own words (cola "acceptable", qqp "duplicate", …). 'polar' writes every binary
 * decision as "positive" / "negative" (the agreeing class — acceptable, entailment, equivalent, duplicate, True —
 * is "positive"), so the decoder learns those two words as answers after a task prefix, which are SST-2's
 * rank-scored label words; whether that helps the later SST-2 prompt must be measured.
 */
import { SoftpromptError } from '../errors.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { loadSplits } from '../tasks/registry.js';
import type { TokenizedExample } from './stream.js';

export type LabelWordSet = 't5' | 'polar';

export interface SupervisedExample {
  task: string;
  input: string;
  target: string;
}

interface TaskWords {
  /** Class index → word; absent: the task's own target string (STS-B's score). */
  t5?: string[];
  polar?: string[];
}

/** The tasks the mixture may use, with their words by class index (the order of src/tasks). */
export const SUPERVISED_TASKS: Readonly<Record<string, TaskWords>> = {
  cola: { t5: ['unacceptable', 'acceptable'], polar: ['negative', 'positive'] },
  rte: { t5: ['entailment', 'not_entailment'], polar: ['positive', 'negative'] },
  mrpc: { t5: ['not_equivalent', 'equivalent'], polar: ['negative', 'positive'] },
  qnli: { t5: ['entailment', 'not_entailment'], polar: ['positive', 'negative'] },
  wnli: { t5: ['not_entailment', 'entailment'], polar: ['negative', 'positive'] },
  qqp: { t5: ['not_duplicate', 'duplicate'], polar: ['negative', 'positive'] },
  mnli: { t5: ['entailment', 'neutral', 'contradiction'], polar: ['positive', 'neutral', 'negative'] },
  stsb: {},
  boolq: { t5: ['False', 'True'], polar: ['negative', 'positive'] },
  cb: { t5: ['entailment', 'contradiction', 'neutral'], polar: ['positive', 'negative', 'neutral'] },
  copa: { t5: ['choice1', 'choice2'] },
  multirc: { t5: ['False', 'True'], polar: ['negative', 'positive'] },
  wic: { t5: ['False', 'True'], polar: ['negative', 'positive'] },
  wsc: { t5: ['False', 'True'], polar: ['negative', 'positive'] },
};

export const DEFAULT_SUPERVISED_TASKS: readonly string[] = Object.keys(SUPERVISED_TASKS);

/** The tasks whose labels pretraining must never see. */
export const HELD_OUT_TASKS: readonly string[] = ['sst2'];

export function supervisedExamples(dataDir: string, tasks: readonly string[], words: LabelWordSet = 't5'): SupervisedExample[] {
  const out: SupervisedExample[] = [];
  for (const task of tasks) {
    if (HELD_OUT_TASKS.includes(task)) {
      throw new SoftpromptError('invalid_config', `Task ${task} cannot be in the supervised pretraining mixture: its labels must stay unseen before prompt tuning.`, { path: 'supervisedTasks' });
    }
    const spec = SUPERVISED_TASKS[task];
    if (spec === undefined) {
      throw new SoftpromptError('invalid_config', `Unknown supervised task "${task}"; known: ${DEFAULT_SUPERVISED_TASKS.join(', ')}.`, { path: 'supervisedTasks' });
    }
    const table = spec[words] ?? spec.t5;
    for (const ex of loadSplits(task, dataDir).train) {
      const target = table === undefined ? ex.target : table[ex.label as number];
      if (target === undefined) {
        throw new SoftpromptError('invalid_data', `${task} row ${ex.id ?? '?'}: label ${ex.label} has no label word.`, { path: task });
      }
      out.push({ task, input: `${task} ${ex.source}`, target });
    }
  }
  return out;
}

/** Tokenized with EOS, inputs cut to maxInputLength (keeping EOS last). */
export function tokenizeSupervised(examples: readonly SupervisedExample[], tok: Tokenizer, maxInputLength: number): TokenizedExample[] {
  return examples.map((e) => {
    let inputs = Int32Array.from(tok.encode(e.input));
    if (inputs.length > maxInputLength) {
      inputs = inputs.slice(0, maxInputLength);
      inputs[maxInputLength - 1] = tok.eosId;
    }
    return { inputs, targets: Int32Array.from(tok.encode(e.target)) };
  });
}
