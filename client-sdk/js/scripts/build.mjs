// Builds dist/: ES module and CommonJS builds (socket.io-client external),
// the browser bundle (everything inlined, an IIFE exposing `Grimoire`, and an
// ES module), and the type declarations.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
rmSync('dist', { recursive: true, force: true });

const common = { entryPoints: ['src/index.ts'], bundle: true, sourcemap: true, target: 'es2020', logLevel: 'warning' };
await Promise.all([
  build({ ...common, format: 'esm', platform: 'neutral', external: ['socket.io-client'], outfile: 'dist/esm/index.js' }),
  build({ ...common, format: 'cjs', platform: 'node', external: ['socket.io-client'], outfile: 'dist/cjs/index.cjs' }),
  build({ ...common, format: 'iife', platform: 'browser', globalName: 'Grimoire', outfile: 'dist/browser/grimoire.js', minify: true }),
  build({ ...common, format: 'esm', platform: 'browser', outfile: 'dist/browser/grimoire.mjs', minify: true }),
]);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });

// CommonJS consumers get .d.cts declarations next to the .cjs build.
for (const f of readdirSync('dist/types')) {
  if (!f.endsWith('.d.ts')) continue;
  const text = readFileSync(join('dist/types', f), 'utf8').replace(/(from\s+['"]\.\/[^'"]+)\.js(['"])/g, '$1.cjs$2');
  writeFileSync(join('dist/cjs', f.replace(/\.d\.ts$/, '.d.cts')), text);
}
