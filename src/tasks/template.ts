/**
 * Source templates for local data: "sentence: {text}" with `{name}` placeholders; `{{` and `}}` are literal
 * braces. Parsed once, so a bad template fails at configuration time, not on row 1,000.
 */

import { SoftpromptError } from '../errors.js';

export type TemplatePart = { text: string } | { field: string };

export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i] as string;
    if ((ch === '{' || ch === '}') && template[i + 1] === ch) {
      text += ch;
      i++;
    } else if (ch === '{') {
      const end = template.indexOf('}', i);
      const name = end < 0 ? '' : template.slice(i + 1, end).trim();
      if (end < 0 || name === '' || name.includes('{')) {
        throw new SoftpromptError('invalid_config', `Template ${JSON.stringify(template)}: "{" at ${i} does not open a {field} placeholder (write {{ for a literal brace).`, {
          path: 'template',
        });
      }
      if (text !== '') parts.push({ text });
      text = '';
      parts.push({ field: name });
      i = end;
    } else if (ch === '}') {
      throw new SoftpromptError('invalid_config', `Template ${JSON.stringify(template)}: unmatched "}" at ${i} (write }} for a literal brace).`, {
        path: 'template',
      });
    } else {
      text += ch;
    }
  }
  if (text !== '') parts.push({ text });
  return parts;
}

export function templateFields(parts: readonly TemplatePart[]): string[] {
  return parts.flatMap((p) => ('field' in p ? [p.field] : []));
}

/** Fills the placeholders with `value(name)`. */
export function renderTemplate(parts: readonly TemplatePart[], value: (field: string) => string): string {
  return parts.map((p) => ('field' in p ? value(p.field) : p.text)).join('');
}
