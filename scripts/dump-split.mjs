// Prints a task split as JSONL {source, target}, exactly as `softprompt eval` scores it (bundled data, DePT's
// split protocol). Usage: node scripts/dump-split.mjs <task> <validation|test> [max] [dataDir]   (after npm run build)
import { bundledDataDir, loadSplits } from '../dist/src/tasks/registry.js';
const [task = 'sst2', split = 'test', max, dir] = process.argv.slice(2);
const rows = loadSplits(task, dir ?? bundledDataDir())[split];
for (const r of rows.slice(0, max === undefined ? rows.length : Number(max))) process.stdout.write(JSON.stringify({ source: r.source, target: r.target }) + '\n');
