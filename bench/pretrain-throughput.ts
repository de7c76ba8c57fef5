/**
 * `node dist/bench/pretrain-throughput.js [--batch 8] [--input 512] [--reps 3] [--precision fp32|bf16] [--configs a,b]`
 * Throughput proxy for span-corruption pretraining, before weight gradients exist: one T5Model.lossAndGrad
 * (forward + backward to the encoder input) per step on HF-initialised small T5s, inputs of --input tokens
 * (568 raw corpus tokens for 512) and span-corruption targets (114 for 512). A full training step adds the weight
 * gradient GEMMs (about one more GEMM per linear layer: ×1.5 on the GEMM time) and the optimizer.
 * Prints wall and CPU time per step; CPU time / threads is what an idle machine would take.
 *
 * Measured 2026-12-06 on the 2-core machine under load 10–17 (so CPU time, not wall), fp32, gated-GELU, tied,
 * raw corpus tokens per second on an idle machine: proxy d256-4+2 5.6–5.9k (input 512), 6.6k (256);
 * d256-6+3 4.2k; d320-6+3 3.5k; d384-6+4 2.4k. bf16 GEMMs were not faster here. The real full step (weight
 * gradients of every tensor + clip + AdamW, main's engine after t5-grads): d256-4+2 3.8k (512) / 4.3k (256),
 * d256-6+2 d_ff 768 2.9k, d384-6+4 1.5k, i.e. proxy / 1.5 as estimated.
 */
import { getThreads, setThreads } from '../src/engine/index.js';
import { parseT5Config, T5Model, loadT5Weights, type Precision } from '../src/models/t5.js';
import { expandedLengths } from '../src/pretrain/span-corruption.js';
import { initT5Weights } from '../src/pretrain/t5-init.js';
import { flag, median } from './util.js';

const CONFIGS: Record<string, Record<string, unknown>> = {
  'd256-4+2': { d_model: 256, d_kv: 32, num_heads: 8, d_ff: 1024, num_layers: 4, num_decoder_layers: 2 },
  'd256-6+3': { d_model: 256, d_kv: 32, num_heads: 8, d_ff: 1024, num_layers: 6, num_decoder_layers: 3 },
  'd320-6+3': { d_model: 320, d_kv: 64, num_heads: 5, d_ff: 1280, num_layers: 6, num_decoder_layers: 3 },
  'd384-6+4': { d_model: 384, d_kv: 64, num_heads: 6, d_ff: 1536, num_layers: 6, num_decoder_layers: 4 },
};

function run(name: string, B: number, inputLength: number, reps: number, precision: Precision): void {
  const cfg = parseT5Config({ vocab_size: 32128, feed_forward_proj: 'gated-gelu', tie_word_embeddings: true, dropout_rate: 0, ...CONFIGS[name] });
  const w = initT5Weights(cfg, 1);
  const model = new T5Model(cfg, loadT5Weights(cfg, { has: (n) => n in w, getF32Checked: (n) => w[n]!.data }));
  model.precision = precision;
  const { tokensLength, targetsLength } = expandedLengths(inputLength);
  const ids = new Int32Array(B * inputLength);
  for (let i = 0; i < ids.length; i++) ids[i] = 3 + ((i * 7919) % 31000);
  const labels = new Int32Array(B * targetsLength);
  for (let i = 0; i < labels.length; i++) labels[i] = 3 + ((i * 104729) % 31000);
  const batch = { B, Te: inputLength, inputsEmbeds: model.embed(ids), encoderMask: new Float32Array(B * inputLength).fill(1), S: targetsLength, labels };
  model.lossAndGrad(batch); // warm-up: workspace, bf16 weight copies
  const wall: number[] = [], cpu: number[] = [], fwdCpu: number[] = [];
  let loss = NaN;
  for (let r = 0; r < reps; r++) {
    let c0 = process.cpuUsage();
    const t0 = performance.now();
    loss = model.lossAndGrad(batch).loss;
    wall.push(performance.now() - t0);
    let c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    c0 = process.cpuUsage();
    model.forward(batch);
    c = process.cpuUsage(c0);
    fwdCpu.push((c.user + c.system) / 1000);
  }
  const params = Object.values(w).reduce((a, t) => a + t.data.length, 0);
  const cpuPerThread = median(cpu) / getThreads();
  const raw = B * tokensLength;
  console.log([name, `${(params / 1e6).toFixed(1)}M`, precision, `B=${B}×${inputLength}`, `threads ${getThreads()}`, `loss ${loss.toFixed(2)}`, `wall ${median(wall).toFixed(0)} ms`, `cpu/thread ${cpuPerThread.toFixed(0)} ms (fwd ${(median(fwdCpu) / getThreads()).toFixed(0)})`,
    `raw tok/s wall ${(raw / (median(wall) / 1000)).toFixed(0)}`, `idle-machine ${(raw / (cpuPerThread / 1000)).toFixed(0)}`,
    `full-step est. ${(raw / (1.5 * cpuPerThread / 1000)).toFixed(0)} tok/s`].join(' | '));
}

const argv = process.argv.slice(2);
const names = flag(argv, '--configs', Object.keys(CONFIGS).join(',')).split(',');
if (flag(argv, '--threads', '') !== '') setThreads(Number(flag(argv, '--threads', '0')));
for (const n of names) run(n, Number(flag(argv, '--batch', '8')), Number(flag(argv, '--input', '512')), Number(flag(argv, '--reps', '3')), flag(argv, '--precision', 'fp32') as Precision);
