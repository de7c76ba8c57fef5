/**
 * Benchmarks: `npm run bench -- <name> [flags]`. Unset OPENBLAS_CORETYPE for real numbers:
 *   env -u OPENBLAS_CORETYPE npm run bench -- t5 --config t5-base --batch 8 --seq 256
 */
import { runGemmBench } from './gemm.js';
import { runT5Bench } from './t5.js';

const [name, ...rest] = process.argv.slice(2);
const benches: Record<string, (argv: string[]) => void> = { t5: runT5Bench, gemm: runGemmBench, methods: (argv) => void import('./methods.js').then((m) => m.runMethodsBench(argv)), 'dept-vs-pt': (argv) => void import('./dept-vs-pt.js').then((m) => m.runDeptVsPtBench(argv)), serve: (argv) => void import('./serve.js').then((m) => m.runServeBench(argv)) };
const run = name === undefined ? undefined : benches[name];
if (run === undefined) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [flags]`);
  process.exit(2);
}
run(rest);
