#!/usr/bin/env node
// The `softprompt` command. The CLI is compiled TypeScript in dist/ (npm run build).
let main;
try {
  ({ main } = await import('../dist/src/cli/main.js'));
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('✖ softprompt is not built: dist/src/cli/main.js is missing.\n  hint: run `npm run build` in the package folder.\n');
    process.exit(1);
  }
  throw err;
}
process.exitCode = await main(process.argv);
