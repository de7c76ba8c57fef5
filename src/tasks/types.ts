/**
 * Tasks in DePT's text-to-text form (DePT `src/tasks.py`, spec §2.2): every row becomes a `source` string for the
 * encoder and a `target` string for the decoder. Classification targets are label words ("0", "1", "2"); STS-B
 * targets are rounded scores ("3.8"). No task-name prefix (`add_prefix=False`).
 */

/** One row in text-to-text form. */
export interface Example {
  /** Encoder input, e.g. "sentence1: A man is dancing. sentence2: A man dances." */
  source: string;
  /** Decoder target, e.g. "0" or "3.8". */
  target: string;
  /** The label as the dataset gives it after mapping: a class index (0, 1, 2) or an STS-B score (3.75). */
  label: string | number;
  /** Where the row came from: the dataset's own id, or "file:line". */
  id?: string;
  /** Per-row extras, e.g. MultiRC's question `group`. */
  extra?: Record<string, string | number>;
}

/** The original splits a task reads (MNLI's mismatched dev set has its own reader, `readMismatched`). */
export type SourceSplit = 'train' | 'dev';

/** How a task's original splits become train / validation / test (spec §2.1). */
export type SplitKind = 'small' | 'large' | 'mnli';

export interface TaskSpec {
  /** Canonical name, e.g. "sst2", "superglue-cb". */
  name: string;
  /** Target strings of the classes, in class-index order; null for regression (STS-B) and QA. */
  labelWords: string[] | null;
  /** Metric keys as DePT's `src/metrics.py` names them, e.g. ["accuracy", "f1"]. */
  metricNames: string[];
  /** The metric the paper reports and model selection uses. One of metricNames. */
  primaryMetric: string;
  /** Reads one original split from `dir` (a task folder, or a data root holding the task's usual sub-folder). */
  read(dir: string, split: SourceSplit): Example[];
  splitKind: SplitKind;
  /**
   * DePT's `labels_list` when it differs from labelWords: the strings whose longest tokenization sets the decoder
   * length (STS-B: "0.0", "0.2", …, "5.0"). Absent: use labelWords.
   */
  labelList?: string[];
  /** Decoder length in tokens when neither labelWords nor labelList gives it (QA: 20). */
  maxTargetLength?: number;
  /** The file `read(dir, split)` would read, or undefined when there is none. */
  locate?(dir: string, split: SourceSplit): string | undefined;
  /** MNLI: the mismatched dev set, or null when the data has none. */
  readMismatched?(dir: string): Example[] | null;
  /** Local tasks: the input format their files are read with (saved beside an adapter, src/tasks/saved-task.ts). */
  localFormat?(): LocalInputFormat;
  /** Every row of one file in the task's format (a dev-style file, e.g. `eval --data dev.tsv`), no split protocol. */
  readFile?(file: string): Example[];
}

/** How a local task turns a row into a source: the template and the columns it reads. */
export interface LocalInputFormat {
  /** e.g. "review: {text}"; the default "sentence: {text}" when none was given */
  template: string;
  textColumn: string;
  textPairColumn: string | null;
  labelColumn: string;
  /** the label values of the files, in class order (the targets before any --label-words) */
  labels: string[];
}

export interface Splits {
  train: Example[];
  validation: Example[];
  test: Example[];
}

/**
 * 'torch-randperm-42': every shuffle used an exported `torch.randperm(n, generator=manual_seed(42))`, i.e. the
 * reference's exact splits. 'softprompt-seeded': at least one shuffle came from the TS generator (another seed,
 * or an n without an exported permutation).
 */
export type SplitProtocol = 'torch-randperm-42' | 'softprompt-seeded';
