/**
 * Benchmarks: `npm run bench -- <name> [flags]`. Unset OPENBLAS_CORETYPE for real numbers:
 *   env -u OPENBLAS_CORETYPE npm run bench -- t5 --config t5-base --batch 8 --seq 256
 */
import { runGemmBench } from './gemm.js';
import { runT5Bench } from './t5.js';

const [name, ...rest] = process.argv.slice(2);
const benches: Record<string, (argv: string[]) => void> = { t5: runT5Bench, gemm: runGemmBench, methods: (argv) => void import('./methods.js').then((m) => m.runMethodsBench(argv)), 'dept-vs-pt': (argv) => void import('./dept-vs-pt.js').then((m) => m.runDeptVsPtBench(argv)), reference: (argv) => void import('./reference.js').then((m) => m.runReferenceBench(argv)), 'pretrain-step': (argv) => void import('./pretrain-step.js').then((m) => m.runPretrainStepBench(argv)),
  'glue-small': (argv) => void import('./glue-small.js').then((m) => m.runGlueSmallBench(argv)) ,
  serve: (argv) => void import('./serve.js').then((m) => m.runServeBench(argv)) };
const run = name === undefined ? undefined : benches[name];
if (run === undefined) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [flags]`);
  process.exit(2);
}
run(rest);
