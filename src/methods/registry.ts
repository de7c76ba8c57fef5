/**
 * Every PEFT method softprompt trains, by name (HF PEFT's `register_peft_method`): one line per method in
 * METHOD_ENTRIES. Everything outside src/methods/ reaches a method through this file: create, load and save an
 * adapter folder (dispatch on adapter_config.json `peft_type`), describe it, read its options and groups.
 *
 *   const entry = getMethod('pt');                                   // prompt_tuning
 *   const m = entry.create({ maxLength: 256, promptLength: 100 }, ctx);
 *   saveAdapter('out/sst2', m, { baseModel: 't5-base', tokenizer: 't5-base', modelInfo });
 *   const loaded = readAdapter('out/sst2');                          // { method, config, peftType, … }
 */
import fs from 'node:fs';
import path from 'node:path';
import { preview, SoftpromptError } from '../errors.js';
import { ADAPTER_CONFIG_FILE, checkAdapterFolder, listing, readAdapterConfigObject } from './adapter-files.js';
import { deptEntry } from './dept/entry.js';
import { fullEntry } from './full/entry.js';
import type {
  AnyMethodEntry, LoadAdapterContext, LoadedAdapter, MethodOption, SaveAdapterHooks, SaveAdapterInfo, SavedAdapter,
} from './entry.js';
import type { PeftMethod } from './method.js';
import { loraEntry } from './lora/entry.js';
import { promptTuningEntry } from './prompt-tuning/entry.js';

/** The registered methods, in --help order. Adding a method: one line here (its folder exports the entry). */
export const METHOD_ENTRIES: readonly AnyMethodEntry[] = [
  deptEntry,
  promptTuningEntry,
  loraEntry,
  fullEntry,
];

/** Check a list of entries: unique names / aliases / peft_types, consistent shared options, declared lr keys. */
export function checkEntries(entries: readonly AnyMethodEntry[]): void {
  const bad = (message: string): SoftpromptError => new SoftpromptError('invalid_config', message, { path: 'method' });
  const names = new Map<string, string>();
  const peftTypes = new Map<string, string>();
  const options = new Map<string, [MethodOption, string]>();
  for (const e of entries) {
    for (const n of [e.name, ...e.aliases].map((x) => x.toLowerCase())) {
      const other = names.get(n);
      if (other !== undefined) throw bad(`Method name ${JSON.stringify(n)} is registered twice (by ${other} and ${e.name}).`);
      names.set(n, e.name);
    }
    for (const t of e.peftTypes) {
      const other = peftTypes.get(t);
      if (other !== undefined) throw bad(`peft_type ${t} is read by two methods (${other} and ${e.name}).`);
      peftTypes.set(t, e.name);
    }
    for (const o of e.options) {
      const prev = options.get(o.key);
      if (prev !== undefined && prev[0].flags !== o.flags) {
        throw bad(`Option ${o.key} is declared by ${prev[1]} as ${prev[0].flags} and by ${e.name} as ${o.flags}; a shared key needs the same flags.`);
      }
      if (prev === undefined) options.set(o.key, [o, e.name]);
    }
    for (const g of e.groups) {
      if (g.lrKey !== 'lr' && !e.options.some((o) => o.key === g.lrKey)) throw bad(`Method ${e.name}: group ${g.name} takes its lr from ${g.lrKey}, which the method does not declare as an option.`);
      const wd = g.weightDecayKey;
      if (typeof wd === 'string' && wd !== 'weightDecay' && !e.options.some((o) => o.key === wd)) throw bad(`Method ${e.name}: group ${g.name} takes its weight decay from ${wd}, which the method does not declare as an option.`);
    }
    if (e.formats.length === 0) throw bad(`Method ${e.name} declares no save format.`);
  }
}

checkEntries(METHOD_ENTRIES);

function describeNames(entries: readonly AnyMethodEntry[]): string {
  return entries.map((m) => (m.aliases.length > 0 ? `${m.name} (${m.aliases.join(', ')})` : m.name)).join(', ');
}

/** The entry for a name or alias (case-insensitive); invalid_config listing the known names otherwise. */
export function getMethod(name: string, entries: readonly AnyMethodEntry[] = METHOD_ENTRIES): AnyMethodEntry {
  const key = name.trim().toLowerCase();
  const m = entries.find((e) => e.name === key || e.aliases.includes(key));
  if (m === undefined) {
    throw new SoftpromptError('invalid_config', `Unknown PEFT method ${JSON.stringify(name)}; known methods: ${describeNames(entries)}.`, { path: 'method' });
  }
  return m;
}

/** Canonical names and aliases, as accepted by getMethod. */
export function methodNames(): string[] {
  return METHOD_ENTRIES.flatMap((m) => [m.name, ...m.aliases]);
}

/** The entry that made `m` (by its type; checked with the entry's own owns()). */
export function entryOf(m: PeftMethod): AnyMethodEntry {
  const type = m.type;
  const e = getMethod(type);
  if (!e.owns(m)) throw new SoftpromptError('invalid_config', `A method of type ${JSON.stringify(type)} was not made by the ${e.name} entry.`, { path: 'method' });
  return e;
}

/**
 * Every method option, merged by key (the first declaration's schema and parser win), with the methods that read
 * it and each one's help and shown default (a shared key such as loraAlpha may mean and default differently).
 */
export function methodOptions(): Array<{ option: MethodOption; methods: string[]; declared: MethodOption[] }> {
  const out = new Map<string, { option: MethodOption; methods: string[]; declared: MethodOption[] }>();
  for (const e of METHOD_ENTRIES) {
    for (const o of e.options) {
      const seen = out.get(o.key);
      if (seen === undefined) out.set(o.key, { option: o, methods: [e.name], declared: [o] });
      else {
        seen.methods.push(e.name);
        seen.declared.push(o);
      }
    }
  }
  return [...out.values()];
}

/** Every --adapter-format value some method writes. */
export function adapterFormats(): string[] {
  return [...new Set(METHOD_ENTRIES.flatMap((e) => e.formats))];
}

/** The resolved optimizer groups of a method: lr from its key in `settings` (else the default), weight decay likewise. */
export function optimizerGroups(entry: AnyMethodEntry, settings: { readonly [key: string]: unknown }): Array<{ name: string; lr: number; weightDecay: number; lrKey: string }> {
  return entry.groups.map((g) => {
    const lr = settings[g.lrKey];
    const wdKey = g.weightDecayKey === undefined ? 'weightDecay' : g.weightDecayKey;
    const wd = wdKey === null ? undefined : settings[wdKey];
    return { name: g.name, lrKey: g.lrKey, lr: typeof lr === 'number' ? lr : g.defaultLr, weightDecay: typeof wd === 'number' ? wd : g.defaultWeightDecay };
  });
}

// ---- adapter folders -------------------------------------------------------------------------------------

/** Write `m` to `dir` in `info.format` (default: the method's first format), by its entry. */
export function saveAdapter(dir: string, m: PeftMethod, info: SaveAdapterInfo, hooks?: SaveAdapterHooks): SavedAdapter {
  const e = entryOf(m);
  const format = info.format ?? e.formats[0]!;
  if (!e.formats.includes(format)) {
    throw new SoftpromptError('invalid_config', `The ${e.name} method saves in format ${e.formats.join(' or ')}, not ${JSON.stringify(format)}.`, { path: 'format' });
  }
  return e.save(dir, m, { ...info, format }, hooks);
}

function readPeftType(file: string): unknown {
  return readAdapterConfigObject(file)['peft_type'];
}

/** The entry that reads the folder `dir`: by adapter_config.json's peft_type, else by an entry's detect(). */
export function entryForFolder(dir: string): AnyMethodEntry {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const types = METHOD_ENTRIES.flatMap((e) => e.peftTypes).sort();
  const known = types.length > 1 ? `${types.slice(0, -1).join(', ')} and ${types[types.length - 1]}` : types.join('');
  if (!fs.existsSync(configFile)) {
    const e = METHOD_ENTRIES.find((x) => x.detect?.(dir) === true);
    if (e !== undefined) return e;
    checkAdapterFolder(dir); // the usual file_not_found, naming what was expected
  }
  const peftType = readPeftType(configFile);
  if (peftType === undefined || peftType === null) {
    throw new SoftpromptError('invalid_config', `Adapter config ${configFile} has no peft_type; softprompt loads ${known} adapters.`, { file: configFile, path: 'adapter_config.peft_type' });
  }
  const e = METHOD_ENTRIES.find((x) => x.peftTypes.includes(String(peftType)));
  if (e === undefined || typeof peftType !== 'string') {
    throw new SoftpromptError('unsupported', `Adapter config ${configFile} has peft_type ${preview(peftType)}; softprompt loads ${known} adapters (found: ${listing(dir)}).`, { file: configFile, path: 'adapter_config.peft_type' });
  }
  return e;
}

/** Load an adapter folder, any registered format, with its parsed config and the files read. */
export function readAdapter(dir: string, ctx: LoadAdapterContext = {}): LoadedAdapter & { entry: AnyMethodEntry } {
  checkFolderExists(dir);
  const entry = entryForFolder(dir);
  return { ...entry.load(dir, ctx), entry };
}

/** Load an adapter folder as its method. */
export function loadAdapter(dir: string, ctx: LoadAdapterContext = {}): PeftMethod {
  return readAdapter(dir, ctx).method;
}

function checkFolderExists(dir: string): void {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) checkAdapterFolder(dir);
}
