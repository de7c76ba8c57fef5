import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markSpan, wscSource } from './wsc.js';

test('wscSource matches DePT on WSC val rows', () => {
  // Expected strings: DePT's SuperGLUEWSCFixed.preprocessor run in Python on superglue/WSC/val.jsonl rows 1 and 2.
  assert.equal(
    wscSource(
      "Mr. Moncrieff visited Chester 's luxurious New York apartment, thinking that it belonged to his son Edward . The result was that Mr. Moncrieff has decided to cancel Edward 's allowance on the ground that he no longer requires his financial support.",
      { span1Text: 'Mr. Moncrieff', span1Index: 0, span2Text: 'his', span2Index: 39 },
    ),
    "text: * Mr. Moncrieff * visited Chester 's luxurious New York apartment, thinking that it belonged to his son Edward . The result was that Mr. Moncrieff has decided to cancel Edward 's allowance on the ground that he no longer requires # his # financial support.",
  );
  assert.equal(
    wscSource('I tried to paint a picture of an orchard, with lemons in the lemon trees , but they came out looking more like light bulbs.', {
      span1Text: 'lemon trees',
      span1Index: 13,
      span2Text: 'they',
      span2Index: 17,
    }),
    'text: I tried to paint a picture of an orchard, with lemons in the * lemon trees * , but # they # came out looking more like light bulbs.',
  );
});

test('markSpan: span 2 before span 1 needs no shift; a span not at its index leaves the text alone', () => {
  assert.equal(wscSource('He said Bob left .', { span1Text: 'Bob', span1Index: 2, span2Text: 'He', span2Index: 0 }), 'text: # He # said * Bob * left .');
  assert.equal(markSpan('a b c', 'x', 1, '*'), 'a b c');
  assert.equal(markSpan('a (b) c', '(b)', 1, '*'), 'a * (b) * c'); // regex characters in the span are literal
});
