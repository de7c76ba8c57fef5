/**
 * How /v1/chat/completions turns messages into a prompt.
 *
 * A tokenizer whose tokenizer_config.json has a `chat_template` gets it rendered (Jinja, @huggingface/jinja)
 * with `messages`, `add_generation_prompt: true`, `bos_token`, `eos_token` (and the built-in `raise_exception`), as
 * transformers' apply_chat_template does; the text is then tokenized without adding special tokens (the template
 * writes them). A tokenizer without one (GPT-2, T5, base LLaMA) gets this plain template, which base models and
 * prompt adapters trained on plain text read naturally:
 *
 *   You are terse.              ← system / developer messages, each followed by a blank line
 *
 *   User: Hi!
 *   Assistant: Hello.
 *   User: Name a colour.
 *   Assistant:                  ← the model continues here
 *
 * With the plain template generation also stops at "\nUser:" (PLAIN_CHAT_STOP), where a base model would start
 * the next turn itself, and the reply's leading whitespace is dropped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { SoftpromptError } from '../../errors.js';
import { readUntrustedText } from '../../io/untrusted-file.js';

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string;
}

export const PLAIN_CHAT_STOP = '\nUser:';

const SPEAKER = { user: 'User', assistant: 'Assistant' } as const;

export function renderPlainChat(messages: readonly ChatMessage[]): string {
  let out = '';
  for (const m of messages) {
    out += m.role === 'system' || m.role === 'developer' ? `${m.content}\n\n` : `${SPEAKER[m.role]}: ${m.content}\n`;
  }
  return `${out}Assistant:`;
}

/** A template's own refusal (raise_exception) or a failure while rendering: the request's fault, a 400. */
export class ChatTemplateError extends Error {}

export interface ChatFormat {
  /** messages → prompt text */
  render(messages: readonly ChatMessage[]): string;
  /** the text holds its special tokens already (encode without adding any) */
  readonly templated: boolean;
  /** stop sequences added to the request's */
  readonly stops: readonly string[];
  /** drop the reply's leading whitespace */
  readonly trimStart: boolean;
}

export const PLAIN_CHAT: ChatFormat = { render: renderPlainChat, templated: false, stops: [PLAIN_CHAT_STOP], trimStart: true };

/** The format of a Jinja chat template (parsed now: a broken template fails at startup, naming `file`). */
export function jinjaChat(source: string, specials: { bos?: string; eos?: string }, file = 'chat_template'): ChatFormat {
  let template: Template;
  try {
    template = new Template(source);
  } catch (err) {
    throw new SoftpromptError('invalid_config', `The chat_template in ${file} does not parse: ${(err as Error).message}`, { file, path: 'chat_template' });
  }
  return {
    render(messages) {
      try {
        return template.render({
          messages: messages.map((m) => ({ role: m.role, content: m.content })), add_generation_prompt: true,
          bos_token: specials.bos ?? '', eos_token: specials.eos ?? '',
        });
      } catch (err) { // raise_exception(message) (built in) throws too
        throw new ChatTemplateError(`the chat template refused the messages: ${(err as Error).message}`);
      }
    },
    templated: true, stops: [], trimStart: false,
  };
}

/**
 * The `chat_template` of tokenizer_config.json in `tokenizerDir` (a string, or transformers' list of named
 * templates: "default", else the first), or null when there is none.
 */
export function readChatTemplate(tokenizerDir: string): string | null {
  const file = path.join(tokenizerDir, 'tokenizer_config.json');
  if (!fs.existsSync(file)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readUntrustedText(file, { followSymlinks: true, what: 'Tokenizer config' }));
  } catch (err) {
    if (err instanceof SoftpromptError) throw err;
    throw new SoftpromptError('malformed_file', `Tokenizer config ${file} is not valid JSON.`, { file });
  }
  const t = json !== null && typeof json === 'object' ? (json as Record<string, unknown>)['chat_template'] : undefined;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name: unknown; template: string } => x !== null && typeof x === 'object' && typeof (x as Record<string, unknown>)['template'] === 'string');
    return (named.find((x) => x.name === 'default') ?? named[0])?.template ?? null;
  }
  return null;
}
