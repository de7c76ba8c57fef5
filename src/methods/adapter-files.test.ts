import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { crc32 } from '../io/zip.js';
import { deptAdapterConfig, formatAdapterConfig, peftAdapterConfig, type AdapterModelInfo } from './adapter-config.js';
import {
  ADAPTER_BIN_FILE, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LORA_A_KEY, LORA_B_KEY, PROMPT_KEY,
} from './adapter-files.js';
import type { ParsedAdapterConfig } from './adapter-config.js';
import type { LoadAdapterContext, SaveAdapterInfo, SaveStage } from './entry.js';
import * as registry from './registry.js';
import { Dept, type DeptConfig } from './dept/index.js';
import { DEPT_INIT_TEXT } from './prompt-init.js';
import { PromptTuning } from './prompt-tuning/index.js';
import { fixture } from '../../test/paths.js';

const saveAdapter = registry.saveAdapter;
/** The registry's loaders, typed for the two prompt methods this file tests. */
const loadAdapter = (dir: string, ctx?: LoadAdapterContext): Dept | PromptTuning => registry.loadAdapter(dir, ctx) as Dept | PromptTuning;
const readAdapter = (dir: string, ctx?: LoadAdapterContext) => {
  const a = registry.readAdapter(dir, ctx);
  return { ...a, method: a.method as Dept | PromptTuning, config: a.config as ParsedAdapterConfig };
};
import { expectError } from '../../test/expect-error.js';

const COLA_DIR = fixture('dept-cola');
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-adapter-files-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (name: string): string => path.join(ROOT, `${name}-${dirCount++}`);

const D = 24;
const MODEL: AdapterModelInfo = { dModel: D, numLayers: 2, numHeads: 4, kind: 'seq2seq' };
const info = (format: 'dept' | 'peft', tokenizer: string | null = 'tiny-t5'): SaveAdapterInfo => ({ baseModel: 'tiny-t5', tokenizer, modelInfo: MODEL, format });

/** Values that expose any lossy conversion: random, -0, subnormals, huge, tiny, exact integers. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) - 0.5) * 2000;
  }
  const special = [-0, 1.4e-45, -1.1754942e-38, 3.4028234e38, 1e-30, 917.25];
  special.forEach((v, i) => { if (i < n) out[i] = v; });
  return out;
}

function makeDept(cfg: Partial<DeptConfig> = {}, seed = 1, zeroB = false): Dept {
  const c: DeptConfig = { numVirtualTokens: 5, rank: 3, maxLength: 12, loraAlpha: 8, init: 'TEXT', initText: DEPT_INIT_TEXT, ...cfg };
  const B = zeroB ? new Float32Array(c.rank * D) : values(c.rank * D, seed + 2);
  return new Dept(c, D, values(c.numVirtualTokens * D, seed), values(c.maxLength * c.rank, seed + 1), B);
}

function makePt(l = 7, seed = 9): PromptTuning {
  return new PromptTuning({ numVirtualTokens: l, init: 'TEXT', initText: 'Classify:' }, D, values(l * D, seed));
}

/** Bit-exact equality of float32 arrays (distinguishes -0 and NaN payloads). */
function assertBitEqual(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

function assertSameDept(got: unknown, want: Dept): void {
  assert.ok(got instanceof Dept, `expected a Dept, got ${String(got)}`);
  assert.deepEqual(got.config, want.config);
  assert.equal(got.dModel, want.dModel);
  assertBitEqual(got.prompt.data, want.prompt.data, 'P');
  assertBitEqual(got.loraA.data, want.loraA.data, 'A');
  assertBitEqual(got.loraB.data, want.loraB.data, 'B');
}


/** A folder with a hand-written config and safetensors weights. */
function writeFolder(name: string, config: Record<string, unknown>, tensors: Record<string, { shape: number[]; data: Float32Array }>): string {
  const dir = freshDir(name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(config, null, 2));
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
  return dir;
}

/** A torch.save zip (stored entries) whose pickle is {name: float32 tensor}, like the DePT fork's adapter_model.bin. */
function writeTorchBin(file: string, tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
  const str = (s: string): Buffer => {
    const b = Buffer.from(s);
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.byteLength);
    return Buffer.concat([Buffer.from('X'), n, b]);
  };
  const int = (v: number): Buffer => {
    const b = Buffer.alloc(5);
    b.write('J');
    b.writeInt32LE(v, 1);
    return b;
  };
  const ints = (vs: number[]): Buffer => Buffer.concat([Buffer.from('('), ...vs.map(int), Buffer.from('t')]);
  const global = (m: string, n: string): Buffer => Buffer.from(`c${m}\n${n}\n`);
  const entries: [string, Uint8Array][] = [];
  const items: Buffer[] = [];
  Object.entries(tensors).forEach(([name, t], k) => {
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    items.push(str(name), global('torch._utils', '_rebuild_tensor_v2'), Buffer.from('(('), str('storage'), global('torch', 'FloatStorage'), str(String(k)), str('cpu'),
      int(t.data.length), Buffer.from('tQ'), int(0), ints(t.shape), ints(stride), Buffer.from([0x89]), global('collections', 'OrderedDict'), Buffer.from(')RtR'));
    entries.push([`archive/data/${k}`, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
  });
  const pkl = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('}('), ...items, Buffer.from('u.')]);
  const all: [string, Uint8Array][] = [['archive/data.pkl', pkl], ...entries, ['archive/version', Buffer.from('3\n')]];
  const locals: Buffer[] = [], central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of all) {
    const nm = Buffer.from(name);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0); h.writeUInt16LE(20, 4); h.writeUInt32LE(crc32(data), 14);
    h.writeUInt32LE(data.byteLength, 18); h.writeUInt32LE(data.byteLength, 22); h.writeUInt16LE(nm.byteLength, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0); cd.writeUInt16LE(20, 4); cd.writeUInt16LE(20, 6); cd.writeUInt32LE(crc32(data), 16);
    cd.writeUInt32LE(data.byteLength, 20); cd.writeUInt32LE(data.byteLength, 24); cd.writeUInt16LE(nm.byteLength, 28); cd.writeUInt32LE(offset, 42);
    locals.push(h, nm, Buffer.from(data));
    central.push(cd, nm);
    offset += 30 + nm.byteLength + data.byteLength;
  }
  const cdb = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0); eocd.writeUInt16LE(all.length, 8); eocd.writeUInt16LE(all.length, 10);
  eocd.writeUInt32LE(cdb.byteLength, 12); eocd.writeUInt32LE(offset, 16);
  fs.writeFileSync(file, Buffer.concat([...locals, cdb, eocd]));
}

describe('DePT format (PROMPT_TUNING_LORA)', () => {
  it('round-trips bit-exactly: config fields and P, A, B', () => {
    const dir = freshDir('dept');
    const m = makeDept({ loraAlpha: 6.5, init: 'SAMPLE_VOCAB', initText: 'Ünïcode text' });
    const saved = saveAdapter(dir, m, info('dept'));
    assert.equal(saved.peftType, 'PROMPT_TUNING_LORA');
    assert.deepEqual(fs.readdirSync(dir).sort(), [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]);
    const loaded = readAdapter(dir, { expectDModel: D });
    assertSameDept(loaded.method, m);
    assert.equal(loaded.weightsFile, path.join(dir, ADAPTER_WEIGHTS_FILE));
  });

  it('writes exactly the key set of the released cola adapter_config.json', () => {
    const dir = freshDir('dept-keys');
    saveAdapter(dir, makeDept(), info('dept'));
    const ours = JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    const real = JSON.parse(fs.readFileSync(path.join(COLA_DIR, ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(ours), Object.keys(real)); // same keys, same (sorted) order
    for (const k of Object.keys(real)) assert.equal(ours[k] === null ? 'null' : typeof ours[k], real[k] === null ? 'null' : typeof real[k], k);
    assert.deepEqual([ours['num_virtual_tokens'], ours['r'], ours['max_length'], ours['token_dim'], ours['hidden_size']], [5, 3, 12, D, D]);
  });

  it('writes a safetensors file with {"format":"pt"} and the three tensors, F32, right shapes', () => {
    const dir = freshDir('dept-st');
    saveAdapter(dir, makeDept(), info('dept'));
    const file = path.join(dir, ADAPTER_WEIGHTS_FILE);
    const st = SafetensorsFile.open(file);
    assert.deepEqual({ ...st.metadata }, { format: 'pt' });
    assert.deepEqual(st.names().sort(), [PROMPT_KEY, LORA_A_KEY, LORA_B_KEY].sort());
    assert.deepEqual(st.info(PROMPT_KEY), { dtype: 'F32', shape: [5, D] });
    assert.deepEqual(st.info(LORA_A_KEY), { dtype: 'F32', shape: [12, 3] });
    assert.deepEqual(st.info(LORA_B_KEY), { dtype: 'F32', shape: [3, D] });
    // the raw header, as PEFT/safetensors readers see it
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(header['__metadata__'], { format: 'pt' });
  });

  it('loads the official cola adapter_model.bin: l=80, r=15, s=256, α=8', () => {
    const loaded = readAdapter(COLA_DIR, { expectDModel: 768 });
    const m = loaded.method;
    assert.ok(m instanceof Dept);
    assert.deepEqual(m.config, { numVirtualTokens: 80, rank: 15, maxLength: 256, loraAlpha: 8, init: 'TEXT', initText: DEPT_INIT_TEXT });
    assert.deepEqual([m.prompt.shape, m.loraA.shape, m.loraB.shape], [[80, 768], [256, 15], [15, 768]]);
    assert.equal(loaded.weightsFile, path.join(COLA_DIR, ADAPTER_BIN_FILE));
    assert.ok(m.prompt.data.every(Number.isFinite) && m.loraA.data.some((x) => x !== 0) && m.loraB.data.some((x) => x !== 0));
    // spec §1.10: trained prompt rows have norms ~10³ (mean 917)
    let sum = 0;
    for (let i = 0; i < 80; i++) sum += Math.hypot(...m.prompt.data.subarray(i * 768, (i + 1) * 768));
    assert.ok(Math.abs(sum / 80 - 917) < 1, `mean row norm ${sum / 80}`);
  });

  it('re-saving the cola adapter as safetensors gives the same tensors and an identical config', () => {
    const cola = loadAdapter(COLA_DIR) as Dept;
    const dir = freshDir('cola-resave');
    saveAdapter(dir, cola, { baseModel: 't5-base', tokenizer: 't5-base', modelInfo: { dModel: 768, numLayers: 12, numHeads: 12, kind: 'seq2seq' }, format: 'dept' });
    assert.equal(fs.readFileSync(path.join(dir, ADAPTER_CONFIG_FILE), 'utf8'), fs.readFileSync(path.join(COLA_DIR, ADAPTER_CONFIG_FILE), 'utf8'));
    assertSameDept(loadAdapter(dir), cola);
  });

  it('prefers adapter_model.safetensors over adapter_model.bin', () => {
    const dir = freshDir('both');
    const m = makeDept();
    saveAdapter(dir, m, info('dept'));
    writeTorchBin(path.join(dir, ADAPTER_BIN_FILE), { [PROMPT_KEY]: { shape: [5, D], data: new Float32Array(5 * D) } });
    assertSameDept(loadAdapter(dir), m);
  });

  it('reads a torch .bin through the safe reader', () => {
    const m = makeDept({}, 4);
    const dir = freshDir('bin');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_FILE), formatAdapterConfig(deptAdapterConfig(m.config, info('dept'))));
    writeTorchBin(path.join(dir, ADAPTER_BIN_FILE), {
      [PROMPT_KEY]: { shape: [5, D], data: m.prompt.data }, [LORA_A_KEY]: { shape: [12, 3], data: m.loraA.data }, [LORA_B_KEY]: { shape: [3, D], data: m.loraB.data },
    });
    assertSameDept(loadAdapter(dir), m);
  });
});

describe('PEFT format (PROMPT_TUNING)', () => {
  it('round-trips a prompt-tuning method bit-exactly', () => {
    const dir = freshDir('pt');
    const m = makePt();
    assert.equal(saveAdapter(dir, m, info('peft')).peftType, 'PROMPT_TUNING');
    const got = loadAdapter(dir, { expectDModel: D });
    assert.ok(got instanceof PromptTuning);
    assert.deepEqual(got.config, m.config);
    assertBitEqual(got.prompt.data, m.prompt.data, 'P');
    const st = SafetensorsFile.open(path.join(dir, ADAPTER_WEIGHTS_FILE));
    assert.deepEqual(st.names(), [PROMPT_KEY]);
    assert.deepEqual(st.info(PROMPT_KEY), { dtype: 'F32', shape: [7, D] });
    assert.deepEqual({ ...st.metadata }, { format: 'pt' });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([cfg['peft_type'], cfg['num_transformer_submodules'], cfg['prompt_tuning_init'], cfg['tokenizer_name_or_path']], ['PROMPT_TUNING', 1, 'TEXT', 'tiny-t5']);
  });

  it("a prompt-tuning method asked for format 'dept' is written as PROMPT_TUNING", () => {
    const dir = freshDir('pt-as-dept');
    assert.equal(saveAdapter(dir, makePt(), info('dept')).peftType, 'PROMPT_TUNING');
    assert.ok(loadAdapter(dir) instanceof PromptTuning);
  });

  it('TEXT init without a known tokenizer is written as RANDOM (PEFT would refuse TEXT without one)', () => {
    const dir = freshDir('pt-notok');
    saveAdapter(dir, makePt(), info('peft', null));
    const got = loadAdapter(dir) as PromptTuning;
    assert.equal(got.config.init, 'RANDOM');
  });

  for (const [label, extra] of [['num_transformer_submodules: 2', { num_transformer_submodules: 2 }], ['null with SEQ_2_SEQ_LM', { num_transformer_submodules: null }]] as const) {
    it(`a [2n, d] tensor (${label}) loads as its first n rows`, () => {
      const n = 4;
      const P2 = values(2 * n * D, 11);
      const config = { ...peftAdapterConfig({ numVirtualTokens: n, init: 'RANDOM', initText: '' }, info('peft')), ...extra };
      const dir = writeFolder('pt2', config, { [PROMPT_KEY]: { shape: [2 * n, D], data: P2 } });
      const got = loadAdapter(dir, { expectDModel: D });
      assert.ok(got instanceof PromptTuning);
      assert.equal(got.numVirtualTokens, n);
      assertBitEqual(got.prompt.data, P2.subarray(0, n * D), 'P');
    });
  }

  it('with num_transformer_submodules 2, an [n, d] tensor is a shape mismatch (PEFT loads strictly)', () => {
    const config = { ...peftAdapterConfig({ numVirtualTokens: 4, init: 'RANDOM', initText: '' }, info('peft')), num_transformer_submodules: 2 };
    const dir = writeFolder('pt2-bad', config, { [PROMPT_KEY]: { shape: [4, D], data: values(4 * D, 3) } });
    const e = expectError(() => loadAdapter(dir), 'shape_mismatch', path.join(dir, ADAPTER_WEIGHTS_FILE), PROMPT_KEY, '[8, 24]', '[4, 24]');
    assert.equal(e.file, path.join(dir, ADAPTER_WEIGHTS_FILE));
  });

  it('a token_dim-less config takes d from the tensor', () => {
    const config = { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 3, task_type: 'CAUSAL_LM' };
    const P = values(3 * D, 5);
    const got = loadAdapter(writeFolder('pt-nodim', config, { [PROMPT_KEY]: { shape: [3, D], data: P } }));
    assert.equal(got.dModel, D);
    assertBitEqual(got.prompt.data, P, 'P');
  });
});

describe('DePT → PEFT format', () => {
  it('is refused when B is nonzero: PROMPT_TUNING cannot carry A·B', () => {
    const dir = freshDir('refuse');
    const e = expectError(() => saveAdapter(dir, makeDept(), info('peft')), 'unsupported', 'PROMPT_TUNING', 'A·B', 'change the model');
    assert.match(e.hint ?? '', /format 'dept'/);
    assert.equal(fs.existsSync(dir), false);
  });

  it('is allowed when B is all zeros or rank is 0, writing P only', () => {
    for (const m of [makeDept({}, 1, true), makeDept({ rank: 0 })]) {
      const dir = freshDir('zero-offset');
      assert.equal(saveAdapter(dir, m, info('peft')).peftType, 'PROMPT_TUNING');
      const got = loadAdapter(dir);
      assert.ok(got instanceof PromptTuning);
      assert.deepEqual(got.config, { numVirtualTokens: 5, init: 'TEXT', initText: DEPT_INIT_TEXT });
      assertBitEqual(got.prompt.data, m.prompt.data, 'P');
    }
  });

  it('a rank-0 DePT round-trips in DePT format too', () => {
    const dir = freshDir('rank0');
    const m = makeDept({ rank: 0 });
    saveAdapter(dir, m, info('dept'));
    assertSameDept(loadAdapter(dir), m);
  });
});

describe('loading errors name the file and what was expected', () => {
  const st = (dir: string) => path.join(dir, ADAPTER_WEIGHTS_FILE);
  const deptJson = (m: Dept, patch: Record<string, unknown> = {}) => ({ ...deptAdapterConfig(m.config, info('dept')), ...patch });
  const deptTensors = (m: Dept) => ({
    [PROMPT_KEY]: { shape: [5, D], data: m.prompt.data }, [LORA_A_KEY]: { shape: [12, 3], data: m.loraA.data }, [LORA_B_KEY]: { shape: [3, D], data: m.loraB.data },
  });

  it('a missing folder, a folder without a config, a config without weights: file_not_found', () => {
    const missing = path.join(ROOT, 'no-such-adapter');
    expectError(() => loadAdapter(missing), 'file_not_found', missing, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, ADAPTER_BIN_FILE);
    const empty = freshDir('noconfig');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'notes.txt'), 'x');
    expectError(() => loadAdapter(empty), 'file_not_found', empty, `no ${ADAPTER_CONFIG_FILE}`, 'notes.txt');
    const noWeights = freshDir('noweights');
    fs.mkdirSync(noWeights);
    fs.writeFileSync(path.join(noWeights, ADAPTER_CONFIG_FILE), formatAdapterConfig(deptAdapterConfig(makeDept().config, info('dept'))));
    expectError(() => loadAdapter(noWeights), 'file_not_found', noWeights, 'no weights', ADAPTER_WEIGHTS_FILE, ADAPTER_BIN_FILE);
    const file = path.join(noWeights, ADAPTER_CONFIG_FILE);
    expectError(() => loadAdapter(file), 'file_not_found', file, 'is a file');
  });

  it('A with a different s than max_length: shape_mismatch naming file and tensor', () => {
    const m = makeDept();
    const dir = writeFolder('bad-s', deptJson(m, { max_length: 16 }), deptTensors(m));
    const e = expectError(() => loadAdapter(dir), 'shape_mismatch', st(dir), LORA_A_KEY, 'expected [16, 3], got [12, 3]');
    assert.equal(e.path, LORA_A_KEY);
    assert.match(e.hint ?? '', /max_length s=16/);
  });

  it("token_dim ≠ the model's d: shape_mismatch naming the config", () => {
    const m = makeDept();
    const dir = writeFolder('bad-d', deptJson(m), deptTensors(m));
    const e = expectError(() => loadAdapter(dir, { expectDModel: 32 }), 'shape_mismatch', 'd=24', 'd=32', ADAPTER_CONFIG_FILE);
    assert.equal(e.file, path.join(dir, ADAPTER_CONFIG_FILE));
    const dir2 = writeFolder('bad-d2', deptJson(m, { token_dim: 32, hidden_size: 32 }), deptTensors(m));
    expectError(() => loadAdapter(dir2), 'shape_mismatch', st(dir2), PROMPT_KEY, '[5, 32]', '[5, 24]');
  });

  it('a missing tensor: missing_tensor naming file and tensor', () => {
    const m = makeDept();
    const { [LORA_B_KEY]: _b, ...noB } = deptTensors(m);
    const dir = writeFolder('noB', deptJson(m), noB);
    const e = expectError(() => loadAdapter(dir), 'missing_tensor', st(dir), LORA_B_KEY, 'does not fall back');
    assert.equal(e.path, LORA_B_KEY);
    const pt = writeFolder('noP', peftAdapterConfig(makePt().config, info('peft')), { other: { shape: [1], data: new Float32Array(1) } });
    expectError(() => loadAdapter(pt), 'missing_tensor', st(pt), PROMPT_KEY, '"other"');
  });

  it('an older DePT release (no save_lora_embeddings, a .bin holding only prompt_embeddings): a clear error, no fallback', () => {
    const m = makeDept();
    const { save_lora_embeddings: _s, ...oldConfig } = deptJson(m);
    const dir = freshDir('old-release');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(oldConfig, null, 2));
    const bin = path.join(dir, ADAPTER_BIN_FILE);
    writeTorchBin(bin, { [PROMPT_KEY]: { shape: [5, D], data: m.prompt.data } });
    const e = expectError(() => loadAdapter(dir), 'missing_tensor', bin, LORA_A_KEY, LORA_B_KEY, 'save_lora_embeddings', 'older DePT', 'does not fall back');
    assert.equal(e.file, bin);
    // save_lora_embeddings: false says the same thing
    const dir2 = writeFolder('nosave', deptJson(m, { save_lora_embeddings: false }), { [PROMPT_KEY]: { shape: [5, D], data: m.prompt.data } });
    expectError(() => loadAdapter(dir2), 'missing_tensor', st(dir2), 'save_lora_embeddings: false');
  });

  it('a config without save_lora_embeddings whose weights do hold A and B loads them', () => {
    const m = makeDept();
    const { save_lora_embeddings: _s, ...oldConfig } = deptJson(m);
    assertSameDept(loadAdapter(writeFolder('old-complete', oldConfig, deptTensors(m))), m);
  });

  it('a bad config: the config errors name the file', () => {
    const dir = writeFolder('ia3', { peft_type: 'IA3', r: 8 }, {});
    expectError(() => loadAdapter(dir), 'unsupported', path.join(dir, ADAPTER_CONFIG_FILE), 'softprompt loads LORA, PROMPT_TUNING and PROMPT_TUNING_LORA adapters');
  });
});

describe('saving errors', () => {
  it("a method whose d differs from the model info's is refused before writing", () => {
    const dir = freshDir('dmismatch');
    expectError(() => saveAdapter(dir, makeDept(), { ...info('dept'), modelInfo: { ...MODEL, dModel: 32 } }), 'shape_mismatch', 'd=24', 'd=32');
    assert.equal(fs.existsSync(dir), false);
  });

  it('a path that is a file is file_not_found', () => {
    const file = freshDir('a-file');
    fs.writeFileSync(file, 'x');
    expectError(() => saveAdapter(file, makeDept(), info('dept')), 'file_not_found', file);
  });
});

describe('crash safety', () => {
  const STAGES: SaveStage[] = ['weights-staged', 'config-staged', 'old-moved', 'weights-placed'];
  const v1 = makeDept({ loraAlpha: 8 }, 21);
  const v2 = makeDept({ loraAlpha: 4 }, 42); // same shapes: a mixed pair would load, with the wrong α

  it('a failure at any stage leaves the previous adapter intact and no stray files', () => {
    for (const at of STAGES) {
      const dir = freshDir(`crash-${at}`);
      saveAdapter(dir, v1, info('dept'));
      fs.writeFileSync(path.join(dir, 'README.md'), 'card');
      const before = fs.readdirSync(dir).sort();
      assert.throws(() => saveAdapter(dir, v2, info('dept'), { onStage: (s) => { if (s === at) throw new Error(`injected failure at ${s}`); } }), /injected failure/);
      assertSameDept(loadAdapter(dir), v1);
      assert.deepEqual(fs.readdirSync(dir).sort(), before, at);
      saveAdapter(dir, v2, info('dept')); // and the next save goes through
      assertSameDept(loadAdapter(dir), v2);
    }
  });

  it('a hard crash at any instant leaves the old adapter, the new one, or no config: never new weights with the old config', () => {
    for (const [k, at] of STAGES.entries()) {
      const dir = freshDir(`snap-${at}`);
      saveAdapter(dir, v1, info('dept'));
      const snap = path.join(ROOT, `snapshot-${k}`);
      saveAdapter(dir, v2, info('dept'), { onStage: (s) => { if (s === at) fs.cpSync(dir, snap, { recursive: true }); } });
      let state: string;
      try {
        const got = loadAdapter(snap) as Dept;
        state = got.config.loraAlpha === 8 ? 'old' : 'new';
        assertSameDept(got, state === 'old' ? v1 : v2);
      } catch (err) {
        assert.ok(err instanceof SoftpromptError && err.code === 'file_not_found', String(err));
        state = 'no config';
      }
      assert.equal(state, at === 'weights-staged' || at === 'config-staged' ? 'old' : 'no config', at);
      assertSameDept(loadAdapter(dir), v2);
    }
  });

  it('saving over a .bin adapter replaces it (the stale .bin is removed)', () => {
    const dir = freshDir('over-bin');
    fs.cpSync(COLA_DIR, dir, { recursive: true });
    const pt = new PromptTuning({ numVirtualTokens: 3, init: 'RANDOM', initText: DEPT_INIT_TEXT }, 768, values(3 * 768, 8));
    saveAdapter(dir, pt, { baseModel: 't5-base', tokenizer: null, modelInfo: { dModel: 768, numLayers: 12, numHeads: 12, kind: 'seq2seq' }, format: 'peft' });
    assert.deepEqual(fs.readdirSync(dir).sort(), [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]);
    const got = loadAdapter(dir);
    assert.ok(got instanceof PromptTuning);
    assertBitEqual(got.prompt.data, pt.prompt.data, 'P');
  });
});
