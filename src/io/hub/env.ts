/**
 * Where the Hugging Face Hub is and where its files are cached, read from the environment exactly as Python's
 * huggingface_hub reads it (huggingface_hub/constants.py), so both share one cache:
 *
 *   HF_ENDPOINT        the Hub (default https://huggingface.co)
 *   HF_TOKEN           sent as "Authorization: Bearer …"; else the file $HF_TOKEN_PATH or $HF_HOME/token (`hf auth login`)
 *   HF_HUB_OFFLINE=1   never touch the network (TRANSFORMERS_OFFLINE=1 too); 1, ON, YES, TRUE count as set
 *   HF_HUB_CACHE       the cache (legacy HUGGINGFACE_HUB_CACHE); default $HF_HOME/hub
 *   HF_HOME            default $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
 *   HF_HUB_DISABLE_PROGRESS_BARS=1   no progress bar even on a terminal
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

export interface HubEnv {
  /** without a trailing slash */
  endpoint: string;
  token: string | undefined;
  offline: boolean;
  cacheDir: string;
  progressBars: boolean;
}

/** Python's `_is_true`. */
function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== '' ? v : undefined;
}

function readTokenFile(file: string): string | undefined {
  try {
    return nonEmpty(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

export function hubEnv(env: NodeJS.ProcessEnv = process.env): HubEnv {
  const hfHome = expandHome(nonEmpty(env['HF_HOME']) ?? path.join(nonEmpty(env['XDG_CACHE_HOME']) ?? path.join(os.homedir(), '.cache'), 'huggingface'));
  const cacheDir = expandHome(nonEmpty(env['HF_HUB_CACHE']) ?? nonEmpty(env['HUGGINGFACE_HUB_CACHE']) ?? path.join(hfHome, 'hub'));
  const token = nonEmpty(env['HF_TOKEN'])?.trim() ?? nonEmpty(env['HUGGING_FACE_HUB_TOKEN'])?.trim()
    ?? readTokenFile(expandHome(nonEmpty(env['HF_TOKEN_PATH']) ?? path.join(hfHome, 'token')));
  return {
    endpoint: (nonEmpty(env['HF_ENDPOINT']) ?? DEFAULT_ENDPOINT).replace(/\/+$/, ''),
    token,
    offline: isTrue(env['HF_HUB_OFFLINE']) || isTrue(env['TRANSFORMERS_OFFLINE']),
    cacheDir,
    progressBars: !isTrue(env['HF_HUB_DISABLE_PROGRESS_BARS']),
  };
}
