/** What a bench result needs to say about the machine it ran on. */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { getThreads, onednnInfo } from '../src/engine/index.js';

export interface MachineInfo {
  cpu: string;
  flags: string[];
  threads: number;
  loadavg_1_5_15: number[];
  onednn: string;
  openblas_coretype: string | null;
}

export function machineInfo(): MachineInfo {
  let cpu = 'unknown', flags: string[] = [];
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpu = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? cpu;
    const all = /^flags\s*:(.*)$/m.exec(info)?.[1]?.trim().split(/\s+/) ?? [];
    flags = all.filter((f) => /^(avx2|fma|avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_tile|amx_int8|avx512_fp16)$/.test(f));
  } catch { /* not Linux */ }
  return {
    cpu, flags, threads: getThreads(), loadavg_1_5_15: loadavg().map((x) => Math.round(x * 100) / 100), onednn: onednnInfo(),
    openblas_coretype: process.env['OPENBLAS_CORETYPE'] ?? null,
  };
}
