/**
 * Hugging Face Hub ids on the command line. A --model / --tokenizer / --adapter value (or the base model an
 * adapter's config records, when --model is not given) that is no path here but reads org/name is fetched into the
 * Hugging Face cache and replaced by its snapshot folder, as transformers' from_pretrained does (src/io/hub/).
 * Commands call resolveHubFlags once where they take their paths; the rest of the CLI only ever sees folders.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isHubId, resolveHubPath, type HubFileKind } from '../io/hub/index.js';
import { readUntrustedText } from '../io/untrusted-file.js';

export const REVISION_FLAG = '--revision <rev>';
export const REVISION_HELP = 'branch, tag or commit of the Hugging Face Hub ids given (default main); see README "Hub ids"';

export interface HubPathFlags {
  model?: string;
  tokenizer?: string;
  adapter?: string;
  revision?: string;
}

/** The base model (and its revision) an adapter folder records, when that is a Hub id not present here. */
function recordedBase(adapterDir: string): { id: string; revision: string | undefined } | null {
  const file = path.join(adapterDir, 'adapter_config.json');
  if (!fs.existsSync(file)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readUntrustedText(file, { followSymlinks: false, what: 'Adapter config' }));
  } catch {
    return null; // the adapter reader reports it with its own typed error
  }
  if (typeof json !== 'object' || json === null) return null;
  const { base_model_name_or_path: base, revision } = json as Record<string, unknown>;
  if (typeof base !== 'string' || fs.existsSync(base) || !isHubId(base)) return null;
  return { id: base, revision: typeof revision === 'string' && revision !== '' ? revision : undefined };
}

/** `nameOrPath` as a local path (a Hub id downloaded or found in the cache); paths are returned unchanged. */
export function resolveHubFlag(nameOrPath: string, kind: HubFileKind, revision: string | undefined): Promise<string> {
  return resolveHubPath(nameOrPath, { kind, ...(revision !== undefined ? { revision } : {}) });
}

/** `o` with every Hub id among model / tokenizer / adapter replaced by its local snapshot folder. */
export async function resolveHubFlags<T extends HubPathFlags>(o: T): Promise<T> {
  const out: T = { ...o };
  if (o.adapter !== undefined) out.adapter = await resolveHubFlag(o.adapter, 'adapter', o.revision);
  if (o.model !== undefined) out.model = await resolveHubFlag(o.model, 'model', o.revision);
  else if (out.adapter !== undefined) {
    const base = recordedBase(out.adapter);
    if (base !== null) out.model = await resolveHubFlag(base.id, 'model', base.revision);
  }
  if (o.tokenizer !== undefined) out.tokenizer = await resolveHubFlag(o.tokenizer, 'tokenizer', o.revision);
  return out;
}

/** serve's NAME=DIR list with each DIR resolved (the NAME of an id defaults to its last part, as for a folder). */
export async function resolveHubAdapters(entries: ReadonlyArray<readonly [string, string]>, revision: string | undefined): Promise<string[]> {
  const out: string[] = [];
  for (const [name, dir] of entries) out.push(`${name}=${await resolveHubFlag(dir, 'adapter', revision)}`);
  return out;
}

interface TrainPaths { model?: string | undefined; tokenizer?: string | undefined; initAdapter?: string | undefined; revision?: string | undefined }

/** train's (and pretrain's) config with Hub ids among model / tokenizer / initAdapter resolved (before its paths are checked). */
export async function resolveTrainHubIds<C extends TrainPaths>(cfg: C): Promise<C> {
  const r = cfg.revision;
  return {
    ...cfg,
    ...(cfg.model !== undefined ? { model: await resolveHubFlag(cfg.model, 'model', r) } : {}),
    ...(cfg.tokenizer !== undefined ? { tokenizer: await resolveHubFlag(cfg.tokenizer, 'tokenizer', r) } : {}),
    ...(cfg.initAdapter !== undefined ? { initAdapter: await resolveHubFlag(cfg.initAdapter, 'adapter', r) } : {}),
  };
}
