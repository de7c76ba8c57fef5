/**
 * The GLUE tasks in DePT's formats (spec §2.2). Files: the GLUE TSVs (glue/<TASK>/{train,dev}.tsv), or for QQP,
 * MNLI and QNLI's missing train split the glue-samples JSON (glue-samples/<TASK>/{train,dev}.json).
 */

import { defineTask, type DefinedTask } from './define.js';
import { BINARY, ENTAILMENT2, ENTAILMENT3, readGlueTsv, type GlueTsvFormat } from './glue-tsv.js';
import { readSamplesJson, type SamplesFormat } from './glue-samples.js';
import { under, type Candidate } from './locate.js';
import { STSB_LABEL_LIST, type StsbRounding } from './stsb.js';

const BIN = ['0', '1'];
const TRI = ['0', '1', '2'];

const SAMPLES_DEV_NOTE =
  'dev.json of glue-samples is a held-out part of the GLUE train split (PowerfulPromptFT), not the GLUE dev set: scores on it are not comparable to published dev/test numbers.';
const SAMPLES_TRAIN_NOTE = 'train.json of glue-samples is a 8,999-row sample of the GLUE train split (PowerfulPromptFT), not the full split.';

function tsv(dirs: string[], file: string, fmt: GlueTsvFormat, stsb: StsbRounding = 'compat'): Candidate[] {
  return under(dirs, file, (f) => readGlueTsv(f, fmt, stsb));
}

function samples(dirs: string[], file: string, fmt: SamplesFormat, note: string): Candidate[] {
  return under(dirs, file, (f) => readSamplesJson(f, fmt), note);
}

const COLA_FMT: GlueTsvFormat = {
  columns: ['source', 'label', 'original_label', 'sentence'], // CoLA's TSVs have no header
  pieces: [['sentence:', 'sentence']],
  label: 'label',
  labels: BINARY,
};
const COLA_DIRS = ['cola', 'CoLA', 'glue/CoLA'];
export const cola: DefinedTask = defineTask({
  name: 'cola',
  labelWords: BIN,
  metricNames: ['matthews_correlation'],
  primaryMetric: 'matthews_correlation',
  splitKind: 'small',
  files: { train: tsv(COLA_DIRS, 'train.tsv', COLA_FMT), dev: tsv(COLA_DIRS, 'dev.tsv', COLA_FMT) },
});

const SST2_FMT: GlueTsvFormat = { pieces: [['sentence:', 'sentence']], label: 'label', labels: BINARY };
const SST2_DIRS = ['sst2', 'SST-2', 'glue/SST-2'];
export const sst2: DefinedTask = defineTask({
  name: 'sst2',
  labelWords: BIN,
  metricNames: ['accuracy'],
  primaryMetric: 'accuracy',
  splitKind: 'large',
  files: { train: tsv(SST2_DIRS, 'train.tsv', SST2_FMT), dev: tsv(SST2_DIRS, 'dev.tsv', SST2_FMT) },
});

function pairFormat(c1: string, c2: string, label: string, labels: GlueTsvFormat['labels']): GlueTsvFormat {
  return { pieces: [['sentence1:', c1], ['sentence2:', c2]], label, labels };
}

const RTE_FMT = pairFormat('sentence1', 'sentence2', 'label', ENTAILMENT2);
const RTE_DIRS = ['rte', 'RTE', 'glue/RTE'];
export const rte: DefinedTask = defineTask({
  name: 'rte',
  labelWords: BIN,
  metricNames: ['accuracy'],
  primaryMetric: 'accuracy',
  splitKind: 'small',
  files: { train: tsv(RTE_DIRS, 'train.tsv', RTE_FMT), dev: tsv(RTE_DIRS, 'dev.tsv', RTE_FMT) },
});

const MRPC_FMT = pairFormat('#1 String', '#2 String', 'Quality', BINARY);
const MRPC_DIRS = ['mrpc', 'MRPC', 'glue/MRPC'];
export const mrpc: DefinedTask = defineTask({
  name: 'mrpc',
  labelWords: BIN,
  metricNames: ['accuracy', 'f1'],
  primaryMetric: 'accuracy',
  splitKind: 'small',
  files: { train: tsv(MRPC_DIRS, 'train.tsv', MRPC_FMT), dev: tsv(MRPC_DIRS, 'dev.tsv', MRPC_FMT) },
});

const WNLI_FMT = pairFormat('sentence1', 'sentence2', 'label', BINARY);
const WNLI_DIRS = ['wnli', 'WNLI', 'glue/WNLI'];
export const wnli: DefinedTask = defineTask({
  name: 'wnli',
  labelWords: BIN,
  metricNames: ['accuracy'],
  primaryMetric: 'accuracy',
  splitKind: 'small',
  files: { train: tsv(WNLI_DIRS, 'train.tsv', WNLI_FMT), dev: tsv(WNLI_DIRS, 'dev.tsv', WNLI_FMT) },
});

const STSB_FMT = pairFormat('sentence1', 'sentence2', 'score', 'score');
const STSB_DIRS = ['stsb', 'STS-B', 'glue/STS-B'];
/** STS-B with DePT's 'compat' targets (one-decimal rounding) or T5's 'fixed' ones (nearest 0.2). */
export function makeStsb(rounding: StsbRounding = 'compat'): DefinedTask {
  return defineTask({
    name: rounding === 'compat' ? 'stsb' : 'stsb-fixed',
    labelWords: null,
    labelList: [...STSB_LABEL_LIST],
    metricNames: ['pearson', 'spearmanr'],
    primaryMetric: 'pearson',
    splitKind: 'small',
    files: { train: tsv(STSB_DIRS, 'train.tsv', STSB_FMT, rounding), dev: tsv(STSB_DIRS, 'dev.tsv', STSB_FMT, rounding) },
  });
}
export const stsb: DefinedTask = makeStsb('compat');

const QNLI_FMT: GlueTsvFormat = { pieces: [['question:', 'question'], ['sentence:', 'sentence']], label: 'label', labels: ENTAILMENT2 };
const QNLI_SAMPLES: SamplesFormat = { prefixes: ['question:', 'sentence:'], labels: ENTAILMENT2 };
const QNLI_DIRS = ['qnli', 'QNLI', 'glue/QNLI', 'glue-samples/QNLI'];
export const qnli: DefinedTask = defineTask({
  name: 'qnli',
  labelWords: BIN,
  metricNames: ['accuracy'],
  primaryMetric: 'accuracy',
  splitKind: 'large',
  files: {
    train: [...tsv(QNLI_DIRS, 'train.tsv', QNLI_FMT), ...samples(QNLI_DIRS, 'train.json', QNLI_SAMPLES, SAMPLES_TRAIN_NOTE)],
    dev: [...tsv(QNLI_DIRS, 'dev.tsv', QNLI_FMT), ...samples(QNLI_DIRS, 'dev.json', QNLI_SAMPLES, SAMPLES_DEV_NOTE)],
  },
});

/** GLUE's QQP TSV: id, qid1, qid2, question1, question2, is_duplicate. */
const QQP_FMT: GlueTsvFormat = {
  pieces: [['question1:', 'question1'], ['question2:', 'question2']],
  label: 'is_duplicate',
  labels: BINARY,
};
const QQP_SAMPLES: SamplesFormat = { prefixes: ['question1:', 'question2:'], labels: BINARY };
const QQP_DIRS = ['qqp', 'QQP', 'glue/QQP', 'glue-samples/QQP'];
export const qqp: DefinedTask = defineTask({
  name: 'qqp',
  labelWords: BIN,
  metricNames: ['accuracy', 'f1'],
  primaryMetric: 'accuracy',
  splitKind: 'large',
  files: {
    train: [...tsv(QQP_DIRS, 'train.tsv', QQP_FMT), ...samples(QQP_DIRS, 'train.json', QQP_SAMPLES, SAMPLES_TRAIN_NOTE)],
    dev: [...tsv(QQP_DIRS, 'dev.tsv', QQP_FMT), ...samples(QQP_DIRS, 'dev.json', QQP_SAMPLES, SAMPLES_DEV_NOTE)],
  },
});

/** GLUE's MNLI TSV: …, sentence1, sentence2, …, gold_label. */
const MNLI_FMT: GlueTsvFormat = {
  pieces: [['premise:', 'sentence1'], ['hypothesis:', 'sentence2']],
  label: 'gold_label',
  labels: ENTAILMENT3,
};
const MNLI_SAMPLES: SamplesFormat = { prefixes: ['premise:', 'hypothesis:'], labels: ENTAILMENT3 };
const MNLI_DIRS = ['mnli', 'MNLI', 'glue/MNLI', 'glue-samples/MNLI'];
/** MNLI: validation = dev_mismatched, test = dev_matched (glue-samples: dev.json stands in for matched). */
export const mnli: DefinedTask = defineTask({
  name: 'mnli',
  labelWords: TRI,
  metricNames: ['accuracy'],
  primaryMetric: 'accuracy',
  splitKind: 'mnli',
  files: {
    train: [...tsv(MNLI_DIRS, 'train.tsv', MNLI_FMT), ...samples(MNLI_DIRS, 'train.json', MNLI_SAMPLES, SAMPLES_TRAIN_NOTE)],
    dev: [
      ...tsv(MNLI_DIRS, 'dev_matched.tsv', MNLI_FMT),
      ...samples(MNLI_DIRS, 'dev.json', MNLI_SAMPLES, `${SAMPLES_DEV_NOTE} It stands in for validation_matched.`),
    ],
    devMismatched: [
      ...tsv(MNLI_DIRS, 'dev_mismatched.tsv', MNLI_FMT),
      ...samples(MNLI_DIRS, 'dev_mismatched.json', MNLI_SAMPLES, SAMPLES_DEV_NOTE),
    ],
  },
});

export const GLUE_TASKS: readonly DefinedTask[] = [cola, sst2, rte, mrpc, stsb, qnli, wnli, qqp, mnli];
