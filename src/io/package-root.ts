/**
 * Where the package lives on disk: the first folder above this file that holds package.json, whether it runs
 * from dist/src/io or src/io under tsx. Bundled files (examples/, data/, models/) are found from there, whatever
 * the current directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return (root = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`softprompt: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}
