/**
 * The chat template of /v1/chat/completions. The tokenizer's own `chat_template` (Jinja) is not rendered; every
 * model gets this plain one, which base models and prompt adapters trained on plain text read naturally:
 *
 *   You are terse.              ← system / developer messages, each followed by a blank line
 *
 *   User: Hi!
 *   Assistant: Hello.
 *   User: Name a colour.
 *   Assistant:                  ← the model continues here
 *
 * Generation also stops at "\nUser:" (CHAT_STOP), where a base model would start the next turn itself, and the
 * reply's leading whitespace is dropped.
 */

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string;
}

export const CHAT_STOP = '\nUser:';

const SPEAKER = { user: 'User', assistant: 'Assistant' } as const;

export function renderChat(messages: readonly ChatMessage[]): string {
  let out = '';
  for (const m of messages) {
    out += m.role === 'system' || m.role === 'developer' ? `${m.content}\n\n` : `${SPEAKER[m.role]}: ${m.content}\n`;
  }
  return `${out}Assistant:`;
}
