// Bundles one module of src/ (TypeScript, with the SDK) and imports it.
import { build } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleOptions } from '../../scripts/options.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function load(entry) {
  const out = await build({ ...bundleOptions(root), entryPoints: [entry], minify: false, write: false });
  const dir = mkdtempSync(join(tmpdir(), 'inspector-unit-'));
  const file = join(dir, 'module.mjs');
  writeFileSync(file, out.outputFiles[0].contents);
  try {
    return await import(pathToFileURL(file).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const testdata = join(root, '..', 'graph', 'testdata');
export const examples = join(root, '..', 'examples');
