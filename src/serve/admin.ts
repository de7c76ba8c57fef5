/**
 * Loading and unloading adapters while the server runs (off unless --allow-adapter-admin):
 *
 *   POST   /v1/adapters         {"name": "rte", "path": "rte-dept/adapter"}   → 201 {adapter: {...}, evicted: [...]}
 *   DELETE /v1/adapters/{name}                                               → 200 {deleted: name}
 *
 * Both need `Authorization: Bearer <token>` (--admin-token or SOFTPROMPT_ADMIN_TOKEN). `path` is relative to the
 * adapters root (--adapters-root) and must stay inside it: absolute paths, `..` past the root and any symlink on
 * the way are refused (the adapter readers then refuse symlinks inside the folder). Startup adapters are pinned:
 * never evicted, not deletable. Past --max-adapters the least recently used unpinned adapter is evicted.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { loadAdapter } from '../methods/registry.js';
import { AdapterCapacityError, type AdapterRegistry } from './adapters.js';
import { LocalEngine, type ServeEngine } from './engine.js';
import { clip, describeValue } from './limits.js';
import { tagRequest } from './request-tags.js';
import { describeAdapter, HttpError, send, type ServeRoute } from './server.js';

export const ADMIN_TOKEN_ENV = 'SOFTPROMPT_ADMIN_TOKEN';

export interface AdminOptions {
  registry: AdapterRegistry;
  /**
   * where requests compute: adapters are added and removed there too (a LocalEngine takes the method, a
   * WorkerEngine the folder, loaded on its thread); the engine refuses an adapter that does not fit its model
   */
  engine: ServeEngine;
  /** the base model's name: no adapter may take it (the OpenAI routes' `model` field names either) */
  modelName: string;
  /** null: the routes answer 403 admin_disabled */
  admin: { token: string; root: string } | null;
}

/** A name usable in URLs, metrics labels and the OpenAI `model` field. */
const ADAPTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Token comparison in constant time (hashes first, so lengths do not leak either). */
function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer ([^\s]+)$/i.exec(header ?? '');
  if (m === null) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/**
 * `rel` under `root` as a real folder path: relative, inside the root, reached without any symlink. Throws
 * invalid_adapter otherwise (the message names `rel`, never the root's own location).
 */
export function resolveUnderRoot(root: string, rel: string): string {
  const bad = (why: string) => new HttpError('invalid_adapter', `path ${describeValue(rel)} ${why}.`, 'path');
  if (rel.includes('\0')) throw bad('holds a NUL character');
  if (path.isAbsolute(rel)) throw bad('must be relative to the adapters root (--adapters-root)');
  const rootReal = fs.realpathSync(root);
  const target = path.resolve(rootReal, rel);
  const inside = path.relative(rootReal, target);
  if (inside === '' || inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) throw bad('is not inside the adapters root');
  let real: string;
  try {
    real = fs.realpathSync(target);
  } catch {
    throw bad('does not exist under the adapters root');
  }
  if (real !== target) throw bad('goes through a symbolic link; adapter folders under the root must be plain folders');
  if (!fs.statSync(real).isDirectory()) throw bad('is not a folder');
  return real;
}

export function adminRoute(o: AdminOptions): ServeRoute {
  return async ({ req, res, url, readJson }) => {
    const isPost = req.method === 'POST' && url.pathname === '/v1/adapters';
    const del = req.method === 'DELETE' ? /^\/v1\/adapters\/([^/]+)$/.exec(url.pathname) : null;
    if (!isPost && del === null) return false;
    if (o.admin === null) throw new HttpError('admin_disabled', 'Loading and unloading adapters is off; start serve with --allow-adapter-admin (and --admin-token, --adapters-root).');
    if (!tokenMatches(req.headers.authorization, o.admin.token)) {
      throw new HttpError('unauthorized', 'Adapter administration needs "Authorization: Bearer <token>" with the server\'s --admin-token.', undefined, { 'www-authenticate': 'Bearer' });
    }
    if (del !== null) {
      let name: string;
      try {
        name = decodeURIComponent(del[1]!);
      } catch {
        throw new HttpError('invalid_request', 'The adapter name in the path is not valid percent-encoding.', 'name');
      }
      tagRequest(res, { adapter: o.registry.has(name) ? name : undefined });
      if (!o.registry.has(name)) throw new HttpError('unknown_adapter', `No adapter ${JSON.stringify(clip(name, 60))} is loaded.`, 'name');
      if (o.registry.isPinned(name)) throw new HttpError('adapter_conflict', `Adapter "${name}" was given at startup (pinned); it cannot be unloaded.`, 'name');
      o.registry.remove(name);
      await o.engine.removeAdapter(name);
      send(res, 200, { deleted: name });
      return true;
    }
    const body = await readJson();
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError('invalid_request', `Expected {"name", "path"}, got ${describeValue(body)}.`);
    const { name, path: rel, ...rest } = body as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw new HttpError('invalid_request', clip(`Unknown field(s) ${extra.slice(0, 5).map((k) => JSON.stringify(clip(k, 40))).join(', ')}; a load request has name and path.`), clip(extra[0]!, 40));
    if (typeof name !== 'string' || !ADAPTER_NAME.test(name)) {
      throw new HttpError('invalid_request', `name: expected 1-64 letters, digits, ".", "_" or "-" (starting with a letter or digit), got ${describeValue(name)}.`, 'name');
    }
    if (typeof rel !== 'string' || rel === '' || rel.length > 4096) throw new HttpError('invalid_request', `path: expected a folder path relative to the adapters root, got ${describeValue(rel)}.`, 'path');
    if (o.registry.has(name) || name === o.modelName) {
      throw new HttpError('adapter_conflict', `The name "${name}" is already taken${name === o.modelName ? ' by the base model' : ''}; DELETE it first or choose another.`, 'name');
    }
    const dir = resolveUnderRoot(o.admin.root, rel);
    let method;
    try {
      method = loadAdapter(dir, { expectDModel: o.engine.info.dModel }); // this thread's copy: limits and descriptions
      await o.engine.addAdapter(name, o.engine instanceof LocalEngine ? method : dir);
    } catch (err) {
      if (err instanceof SoftpromptError) {
        throw new HttpError('invalid_adapter', clip(`Adapter ${JSON.stringify(clip(rel, 200))} does not load: ${err.message.split(dir).join(rel)}`, 1000), 'path');
      }
      throw err;
    }
    let evicted: string[];
    try {
      evicted = o.registry.add(name, method);
    } catch (err) {
      if (err instanceof AdapterCapacityError) {
        await o.engine.removeAdapter(name);
        throw new HttpError('adapter_conflict', err.message, 'name');
      }
      throw err;
    }
    for (const gone of evicted) await o.engine.removeAdapter(gone);
    tagRequest(res, { adapter: name });
    send(res, 201, { adapter: describeAdapter(name, method), evicted });
    return true;
  };
}
