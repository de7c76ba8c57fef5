/** Redis connection trouble, said once: which errors mean "unreachable", and the down / back messages. */

/** The URL as printed (no password). */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** One line when Redis goes away, one when it is back. */
export class RedisHealth {
  private down: string | null = null;
  constructor(private readonly url: string, private readonly write: (line: string) => void, private readonly what: string) {}

  failed(err: unknown): void {
    const reason = describeRedisError(err);
    if (this.down !== null) return;
    this.down = reason;
    this.write(`✖ Redis at ${shownUrl(this.url)} is unreachable (${reason}). ${this.what}`);
  }

  ok(): void {
    if (this.down === null) return;
    this.down = null;
    this.write(`Redis at ${shownUrl(this.url)} is back; continuing.`);
  }

  get isDown(): boolean {
    return this.down !== null;
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** An error that means "Redis cannot be reached" (as opposed to a refused command). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown } | null;
  if (e === null || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  if (Array.isArray(e.errors)) return e.errors.some(isConnectionError);
  const msg = typeof e.message === 'string' ? e.message : '';
  return /Connection is closed|max retries per request|enableOfflineQueue|Stream isn't writeable|connect ETIMEDOUT|timed out/i.test(msg);
}

export function describeRedisError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof e?.code === 'string') return e.code;
  if (Array.isArray(e?.errors) && e.errors.length > 0) return describeRedisError(e.errors[0]);
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return msg.split('\n')[0]!.slice(0, 160);
}

