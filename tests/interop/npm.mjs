// npm.mjs - what the interop tests share: the repository's root and a loader for the npm
// packages, which live in tests/browser (one lock file for the repository's node tests). That
// folder is not an ancestor of tests/interop, so packages are resolved from there explicitly.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// Imports package `spec` from tests/browser/node_modules, or fails the test naming the fix.
export async function load(spec) {
  const req = createRequire(path.join(REPO, 'tests', 'browser', 'package.json'));
  let file;
  try {
    file = req.resolve(spec);
  } catch {
    console.error(`FAIL: ${spec} is missing from tests/browser/node_modules ` +
      '(bash scripts/setup.sh --browser, which make check runs)');
    process.exit(1);
  }
  return import(pathToFileURL(file).href);
}
