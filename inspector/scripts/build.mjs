// Builds the inspector page into server/inspector/dist (committed, embedded
// by the Go package server/inspector): index.html, app.js, app.css.
//
//   node scripts/build.mjs           write dist/
//   node scripts/build.mjs --check   build in memory and fail when dist/
//                                    differs (what TestDistMatchesSources runs)
//
// The output is deterministic: every path esbuild writes into the bundle is
// relative to this folder, and the project's SDK (client-sdk/js/src) is
// bundled from source with this folder's dependencies.
import { build } from 'esbuild';
import { bundleOptions } from './options.mjs';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '..', 'server', 'inspector', 'dist');
const check = process.argv.includes('--check');

const result = await build({ ...bundleOptions(root), entryPoints: { app: 'src/main.tsx' }, outdir: 'dist', write: false });

const files = new Map();
for (const f of result.outputFiles) files.set(f.path.slice(f.path.lastIndexOf('/') + 1), Buffer.from(f.contents));
files.set('index.html', readFileSync(join(root, 'src', 'index.html')));
files.set('LICENSES.txt', Buffer.from(licenses()));

if (check) {
  const stale = [];
  const have = existsSync(outDir) ? readdirSync(outDir) : [];
  for (const [name, body] of files) {
    const p = join(outDir, name);
    if (!existsSync(p) || !readFileSync(p).equals(body)) stale.push(name);
  }
  for (const name of have) if (!files.has(name)) stale.push(`${name} (not built any more)`);
  if (stale.length) {
    console.error(`server/inspector/dist is not what inspector/ builds to: ${stale.join(', ')}.\nRun \`make inspector\` and commit server/inspector/dist.`);
    process.exit(1);
  }
  console.log(`server/inspector/dist matches the sources (${[...files.keys()].join(', ')})`);
} else {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  for (const [name, body] of files) writeFileSync(join(outDir, name), body);
  const sizes = [...files].map(([n, b]) => `${n} ${(b.length / 1024).toFixed(1)} KiB`).join(', ');
  console.log(`built server/inspector/dist: ${sizes}`);
}

// The licences of the libraries bundled into app.js (legalComments: none
// keeps them out of the bundle).
function licenses() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  let out = 'Libraries bundled into app.js, with their licences.\n';
  for (const name of Object.keys(pkg.dependencies).sort()) {
    const dir = join(root, 'node_modules', name);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const lic = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    out += `\n== ${name} ${meta.version} (${meta.license})\n`;
    if (lic) out += readFileSync(join(dir, lic), 'utf8').trim() + '\n';
  }
  return out;
}
