/**
 * What the glue-small bench trains: the six tasks with DePT's released per-task settings (spec §1.8), the four
 * methods as registry settings, and the paper's numbers it compares against (spec §3.1, T5-Base test scores).
 *
 * Learning rates come only from the paper's grids: prompt lr ∈ {0.3, 0.4, 0.5}, A/B lr ∈ {1e-4, 5e-4, 1e-3, 5e-3}.
 * Per task the bench takes the value DePT's released checkpoint used (spec §1.8), for PT too (same prompt lr), so
 * nothing is tuned here. LoRA and full fine-tuning use the registry's documented defaults for every task.
 */

export const PROMPT_LR_GRID: readonly number[] = [0.3, 0.4, 0.5];
export const LOWRANK_LR_GRID: readonly number[] = [1e-4, 5e-4, 1e-3, 5e-3];

/** The PT budget in tokens (spec §1.6: PT-100 against DePT at the same count). */
export const PT_TOKENS = 100;

export interface TaskPlan {
  task: string;
  /** DePT's prompt length l in the released checkpoint (rank follows from the budget) */
  promptLength: number;
  /** prompt lr (DePT's P, and PT's prompt) */
  lr: number;
  /** DePT's A/B lr */
  lrLowrank: number;
  /** spec §3.1 test scores of the primary metric: DePT, PT (the row DePT's paper prints), fine-tuning, LoRA */
  paper: { dept: number; pt: number; full: number; lora: number };
}

export const TASK_PLANS: readonly TaskPlan[] = [
  { task: 'sst2', promptLength: 60, lr: 0.3, lrLowrank: 5e-4, paper: { dept: 94.2, pt: 90.9, full: 94.6, lora: 94.3 } },
  { task: 'rte', promptLength: 60, lr: 0.4, lrLowrank: 1e-4, paper: { dept: 79.1, pt: 54.7, full: 71.9, lora: 75.5 } },
  { task: 'mrpc', promptLength: 60, lr: 0.3, lrLowrank: 5e-3, paper: { dept: 90.7, pt: 68.1, full: 90.2, lora: 90.1 } },
  { task: 'cola', promptLength: 80, lr: 0.3, lrLowrank: 5e-4, paper: { dept: 63.8, pt: 10.6, full: 61.8, lora: 63.3 } },
  { task: 'stsb', promptLength: 60, lr: 0.3, lrLowrank: 1e-4, paper: { dept: 90.8, pt: 89.5, full: 89.7, lora: 90.0 } },
  { task: 'boolq', promptLength: 40, lr: 0.3, lrLowrank: 5e-3, paper: { dept: 79.3, pt: 61.7, full: 81.1, lora: 81.3 } },
];

export type MethodKey = 'pt' | 'dept' | 'lora' | 'full';

export interface MethodPlan {
  key: MethodKey;
  label: string;
  /** registry name */
  method: string;
  /** train-config keys of this method for one task (lr groups included) */
  settings(t: TaskPlan): Record<string, unknown>;
  /** how its settings were chosen, for the report */
  why: string;
}

export const METHOD_PLANS: readonly MethodPlan[] = [
  {
    key: 'pt', label: `PT-${PT_TOKENS}`, method: 'prompt_tuning',
    settings: (t) => ({ promptLength: PT_TOKENS, lr: t.lr }),
    why: `${PT_TOKENS} virtual tokens, TEXT init, prompt lr = DePT's for the task (spec §1.8)`,
  },
  {
    key: 'dept', label: 'DePT', method: 'dept',
    settings: (t) => ({ promptLength: t.promptLength, budget: PT_TOKENS, lr: t.lr, lrLowrank: t.lrLowrank }),
    why: `l and both lrs as DePT's released checkpoint for the task (spec §1.8), rank r from the ${PT_TOKENS}-token PT budget (l·d + r·(s+d) = ${PT_TOKENS}·d), α = 8, TEXT init`,
  },
  {
    key: 'lora', label: 'LoRA r=8', method: 'lora',
    settings: () => ({}),
    why: 'registry defaults for every task: r = 8, α = 8, T5 q and v, lr 3e-4, no weight decay',
  },
  {
    key: 'full', label: 'full FT', method: 'full',
    settings: () => ({}),
    why: 'registry defaults for every task: every weight, lr 1e-4, weight decay 0.01 (not on biases and norms)',
  },
];

export function taskPlan(task: string): TaskPlan | undefined {
  return TASK_PLANS.find((t) => t.task === task);
}

export function methodPlan(key: string): MethodPlan | undefined {
  return METHOD_PLANS.find((m) => m.key === key);
}
