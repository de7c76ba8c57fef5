/**
 * WSC span marking as in T5 / DePT (`SuperGLUEWSCFixed._mark_span`): the noun gets " * " marks and the pronoun
 * " # " marks, found as the span text starting at the given word index:
 *   pattern = ^((?:\S+\s){N})(W);  replacement = \1{mark} \2 {mark}
 * DePT splices the span text into the pattern unescaped; we escape it. On the WSC train and val files this gives
 * identical output (their spans hold only letters, spaces, "'", "." and "-").
 * If the span is not at that index (98 of 658 rows), the text is left unmarked, as in the reference.
 */

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function markSpan(text: string, spanText: string, spanIndex: number, mark: string): string {
  const re = new RegExp(`^((?:\\S+\\s){${spanIndex}})(${escapeRegExp(spanText)})`);
  return text.replace(re, (_m, pre: string, span: string) => `${pre}${mark} ${span} ${mark}`);
}

export interface WscSpans {
  span1Text: string;
  span1Index: number;
  span2Text: string;
  span2Index: number;
}

/** "text: …" with the noun marked "* noun *" and the pronoun "# pronoun #". */
export function wscSource(text: string, s: WscSpans): string {
  let out = markSpan(text, s.span1Text, s.span1Index, '*');
  // Marking span 1 adds two words ("*" twice) before span 2 when span 2 comes later.
  const span2Index = s.span2Index + (s.span1Index < s.span2Index ? 2 : 0);
  out = markSpan(out, s.span2Text, span2Index, '#');
  return ['text:', out].join(' ');
}
