/**
 * What a route learns about a request that the access log and the metrics want (the adapter it named), kept
 * beside the response without changing its type. The observer (observe.ts) reads it once the response ends.
 */
import type http from 'node:http';

export interface RequestTags {
  /** the adapter (or base model) the request resolved to; unset when none did (e.g. an unknown name) */
  adapter?: string;
  /** prompt tokens read and tokens generated for the request (OpenAI routes) */
  promptTokens?: number;
  completionTokens?: number;
}

const tags = new WeakMap<http.ServerResponse, RequestTags>();

export function tagRequest(res: http.ServerResponse, t: RequestTags): void {
  tags.set(res, { ...tags.get(res), ...t });
}

export function requestTags(res: http.ServerResponse): RequestTags {
  return tags.get(res) ?? {};
}
