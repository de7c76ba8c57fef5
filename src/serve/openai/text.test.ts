/**
 * Streamed text against the final text: TextStream's deltas, then what finish() adds, always join to
 * finishText's text; nothing at or past a stop sequence is ever sent, and a partial UTF-8 character or a tail
 * that may begin a stop sequence waits. The decoder is a byte-level one (ids are bytes, decoded as UTF-8).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { finishText, TextStream } from './text.js';

const EOS = 1000;
const bytes = { eosId: EOS, decode: (ids: number[]) => new TextDecoder().decode(Uint8Array.from(ids.filter((i) => i !== EOS))) };
const ids = (s: string) => [...new TextEncoder().encode(s)];

function stream(text: string, stops: string[], eos: boolean, trimStart = false): { deltas: string[]; final: string } {
  const row = { ids: ids(text), eos };
  const s = new TextStream(bytes, stops, { trimStart });
  const deltas: string[] = [];
  for (const id of [...row.ids, ...(eos ? [EOS] : [])]) {
    const d = s.push(id);
    if (d !== '') deltas.push(d);
  }
  const final = finishText(bytes, row, stops, { trimStart }).text;
  const rest = s.finish(final);
  if (rest !== '') deltas.push(rest);
  return { deltas, final };
}

test('the deltas join to the final text: plain, multi-byte characters, stop sequences, trimStart', () => {
  const cases: [string, string[], boolean, boolean][] = [
    ['Hello world', [], true, false],
    ['héllo → wörld ✓', [], false, false],
    ['one two\nUser: three', ['\nUser:'], false, false],
    ['abc ab abd', ['abd'], false, false],
    ['   leading spaces', [], true, true],
    ['no stop here', ['zz', 'q'], false, false],
  ];
  for (const [text, stops, eos, trim] of cases) {
    const { deltas, final } = stream(text, stops, eos, trim);
    assert.equal(deltas.join(''), final, JSON.stringify(text));
    assert.ok(deltas.every((d) => !d.includes('\uFFFD')), `no partial character sent for ${JSON.stringify(text)}`);
    for (const s of stops) assert.ok(!deltas.join('').includes(s), `nothing past the stop ${JSON.stringify(s)}`);
  }
  assert.equal(stream('one two\nUser: three', ['\nUser:'], false).final, 'one two');
  assert.ok(stream('héllo → wörld ✓', [], false).deltas.length >= 10, 'one delta per complete character');
});

test('a tail that may begin a stop sequence waits; once it cannot, it is sent', () => {
  const s = new TextStream(bytes, ['STOP']);
  const out = ids('go ST').map((id) => s.push(id)).join('');
  assert.equal(out, 'go ', '"ST" may begin "STOP": held back');
  assert.equal(s.push(ids('x')[0]!), 'STx', 'then it cannot: sent');
});
