// quick manual check: node dist/bench/baselines-check.js <task> <dataDir>
import { getTask, loadSplits } from '../src/tasks/registry.js';
import { majorityBaseline, tfidfBaseline } from './baselines.js';
const [name = 'sst2', dir = '../shared/data/glue'] = process.argv.slice(2);
const task = getTask(name);
const s = loadSplits(task, dir);
const t0 = performance.now();
console.log(name, s.train.length, s.validation.length, s.test.length, JSON.stringify(majorityBaseline(task, s)), JSON.stringify(tfidfBaseline(task, { ...s, train: s.train.slice(0, 20000) })), ((performance.now() - t0) / 1000).toFixed(1) + 's');
