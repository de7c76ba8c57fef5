/** Hugging Face Hub ids: resolution into the shared huggingface_hub cache (see resolve.ts). */
export { hubCacheBlobTarget, hubIdOfPath, isHubId, repoFolder } from './cache.js';
export { hubEnv, type HubEnv } from './env.js';
export type { HubFileKind } from './files.js';
export { cachedSnapshot, fetchHubSnapshot, resolveHubPath, type HubResolveOptions, type HubSnapshot } from './resolve.js';
