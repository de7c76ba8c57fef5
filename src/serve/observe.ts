/**
 * Per-request bookkeeping around a server: a request id (the client's `x-request-id` if it is a short token,
 * else a new one, echoed in the answer), then, when the answer ends or the client leaves, one access-log line
 * and the request's metrics. It only listens to events: the routes and the graceful shutdown are unchanged.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Logger } from 'pino';
import { logRequest } from './log.js';
import { routeLabel, type ServeMetrics } from './metrics.js';
import { requestTags } from './request-tags.js';

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export function observeServer(server: http.Server, o: { metrics?: ServeMetrics; logger?: Logger }): void {
  // prepended: the id header is set before any route writes its answer
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const start = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    const reqId = typeof given === 'string' && CLIENT_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', reqId);
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const path = (req.url ?? '/').split('?', 1)[0]!;
      const route = routeLabel(path);
      const tags = requestTags(res);
      const aborted = !res.writableFinished;
      const status = res.headersSent ? res.statusCode : 499; // 499: the client closed before any answer (nginx's code)
      const method = req.method ?? 'GET';
      o.metrics?.record({
        method, route, status, adapter: tags.adapter ?? '', seconds,
        ...(tags.promptTokens !== undefined ? { promptTokens: tags.promptTokens } : {}),
        ...(tags.completionTokens !== undefined ? { completionTokens: tags.completionTokens } : {}),
      });
      if (o.logger !== undefined) {
        logRequest(o.logger, {
          reqId, method, route, path: path.slice(0, 200), status, ms: Math.round(seconds * 1e4) / 10, adapter: tags.adapter ?? null,
          ...(aborted ? { aborted } : {}),
          ...(tags.promptTokens !== undefined ? { promptTokens: tags.promptTokens, completionTokens: tags.completionTokens } : {}),
        });
      }
    });
  });
}
