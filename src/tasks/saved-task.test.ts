// softprompt_task.json: what a local or named task saves, read back into the same task, and hostile files refused
// with a typed error naming the file and the field.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { SoftpromptError } from '../errors.js';
import { withLabelWords } from './label-words.js';
import { createLocalTask } from './local.js';
import { getTask } from './registry.js';
import { MAX_SAVED_TASK_BYTES, readSavedTask, SAVED_TASK_FILE, savedTaskOf, taskFromSaved, writeSavedTask, type SavedTask } from './saved-task.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-saved-task-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function folder(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

const common = { evalMode: 'rank' as const, maxLength: 64, maxNewTokens: 5, seed: 7, modelFamily: 't5' as const };

describe('round trip', () => {
  test('a local task with a pair column, template and label words reads its rows back identically', () => {
    const dir = folder('local');
    fs.writeFileSync(path.join(dir, 'train.csv'), 'q,a,y\n"What, now?",soon,yes\nwhy,because,no\n');
    fs.writeFileSync(path.join(dir, 'dev.csv'), 'q,a,y\nwho,me,no\n');
    const trained = withLabelWords(createLocalTask({ dir, textColumn: 'q', textPairColumn: 'a', labelColumn: 'y', template: 'Q: {text} A: {text_pair}' }), ['nope', 'yep']);
    const rows = trained.read(dir, 'train');
    const saved = savedTaskOf({ task: trained, taskName: 'local', ...common });
    assert.deepEqual({ ...saved, labels: saved.labels, labelWords: saved.labelWords }, {
      format: 'softprompt.task', version: 1, task: 'local', template: 'Q: {text} A: {text_pair}', textColumn: 'q', textPairColumn: 'a',
      labelColumn: 'y', labels: ['no', 'yes'], labelWords: ['nope', 'yep'], ...common,
    });
    const adapter = folder('local-adapter');
    writeSavedTask(adapter, saved);
    const back = readSavedTask(adapter)!;
    assert.deepEqual(back, saved);
    const task = taskFromSaved(back, {});
    assert.deepEqual(task.labelWords, ['nope', 'yep']);
    assert.deepEqual(task.readFile!(path.join(dir, 'train.csv')).map((e) => [e.source, e.target]), rows.map((e) => [e.source, e.target]));
    assert.deepEqual(rows.map((e) => e.source), ['Q: What, now? A: soon', 'Q: why A: because']);
  });

  test('the default template is saved as the one the rows were read with', () => {
    const dir = folder('default');
    fs.writeFileSync(path.join(dir, 'train.jsonl'), '{"text": "a", "text_pair": "b", "label": 1}\n{"text": "c", "text_pair": "d", "label": 0}\n');
    const t = createLocalTask({ dir });
    t.read(dir, 'train');
    assert.equal(savedTaskOf({ task: t, taskName: 'local', ...common }).template, 'sentence1: {text} sentence2: {text_pair}');
  });

  test('a named task keeps its own format; relabelled words survive; --task of another task drops the saved words', () => {
    const sst2 = withLabelWords(getTask('sst2'), ['terrible', 'great']);
    const saved = savedTaskOf({ task: sst2, taskName: 'sst2', ...common });
    assert.deepEqual([saved.task, saved.template, saved.labels, saved.labelWords], ['sst2', null, null, ['terrible', 'great']]);
    assert.deepEqual(taskFromSaved(saved, {}).labelWords, ['terrible', 'great']);
    assert.deepEqual(taskFromSaved(saved, { task: 'SST-2' }).labelWords, ['terrible', 'great']);
    assert.deepEqual(taskFromSaved(saved, { task: 'rte' }).labelWords, ['0', '1']);
    assert.deepEqual(taskFromSaved(saved, { labelWords: ['bad', 'good'] }).labelWords, ['bad', 'good']);
  });

  test('no task file: null; no task at all: a usage error', () => {
    assert.equal(readSavedTask(folder('none')), null);
    assert.throws(() => taskFromSaved(null, {}), (e: unknown) => e instanceof SoftpromptError && e.code === 'usage' && e.path === '--task');
  });
});

describe('hostile task files', () => {
  const good: SavedTask = {
    format: 'softprompt.task', version: 1, task: 'local', template: 'review: {text}', textColumn: 'text', textPairColumn: null,
    labelColumn: 'label', labels: ['0', '1'], labelWords: ['0', '1'], ...common,
  };
  const cases: Array<[string, (f: string) => void, string, string | undefined]> = [
    ['not JSON', (f) => fs.writeFileSync(f, '{"format": '), 'malformed_file', undefined],
    ['an unknown key', (f) => fs.writeFileSync(f, JSON.stringify({ ...good, base_model: '/etc' })), 'invalid_config', 'task'],
    ['a wrong type', (f) => fs.writeFileSync(f, JSON.stringify({ ...good, maxLength: '64' })), 'invalid_config', 'task.maxLength'],
    ['an unknown task', (f) => fs.writeFileSync(f, JSON.stringify({ ...good, task: 'imagenet' })), 'invalid_config', 'task.task'],
    ['a local task without a template', (f) => fs.writeFileSync(f, JSON.stringify({ ...good, template: null })), 'invalid_config', 'task.template'],
    ['label words that do not match the labels', (f) => fs.writeFileSync(f, JSON.stringify({ ...good, labelWords: ['a', 'b', 'c'] })), 'invalid_config', 'task.labelWords'],
    ['rank without label words', (f) => fs.writeFileSync(f, JSON.stringify({ ...good, task: 'stsb', labels: null, labelWords: null })), 'invalid_config', 'task.evalMode'],
    ['an oversized file', (f) => fs.writeFileSync(f, JSON.stringify({ ...good, template: 'x'.repeat(MAX_SAVED_TASK_BYTES) })), 'malformed_file', undefined],
    ['a symlink', (f) => fs.symlinkSync('/etc/passwd', f), 'malformed_file', undefined],
    ['a folder', (f) => fs.mkdirSync(f), 'malformed_file', undefined],
  ];
  for (const [what, make, code, field] of cases) {
    test(`${what}: ${code}${field !== undefined ? ` at ${field}` : ''}, naming the file`, () => {
      const dir = folder(`hostile-${what.replace(/\W+/g, '-')}`);
      const file = path.join(dir, SAVED_TASK_FILE);
      make(file);
      assert.throws(() => readSavedTask(dir), (e: unknown) => {
        assert.ok(e instanceof SoftpromptError, String(e));
        assert.equal(e.code, code, e.message);
        assert.equal(e.file, file);
        if (field !== undefined) assert.ok(e.path?.startsWith(field), `${e.path} for ${field}: ${e.message}`);
        return true;
      });
    });
  }
});
