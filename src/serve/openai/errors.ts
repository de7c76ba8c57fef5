/**
 * Errors of the OpenAI-compatible routes in OpenAI's shape, which its clients parse:
 *   {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": "..."}}
 * The server's own errors (413, 429 with Retry-After, 504…) keep their code and status.
 */
import type http from 'node:http';
import { SoftpromptError } from '../../errors.js';
import { clip } from '../limits.js';
import { HttpError, send } from '../server.js';

export class OpenAIError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly param: string | null = null) {
    super(message);
  }
}

function typeOf(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status === 401) return 'authentication_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

export function sendOpenAIError(res: http.ServerResponse, err: unknown, extraHeaders: Record<string, string> = {}): void {
  let status = 500, code = 'internal', message: string, param: string | null = null, headers: Record<string, string> = {};
  if (err instanceof OpenAIError) {
    ({ status, code, param } = err);
    message = err.message;
  } else if (err instanceof HttpError) {
    ({ status, code, headers } = err);
    message = err.message;
    param = err.path ?? null;
  } else if (err instanceof SoftpromptError) {
    status = err.code === 'native' ? 500 : 400;
    code = err.code;
    message = err.message;
    param = err.path ?? null;
  } else {
    message = err instanceof Error ? err.message : String(err);
  }
  send(res, status, { error: { message: clip(message, 2000), type: typeOf(status), param, code } }, { ...headers, ...extraHeaders });
}
