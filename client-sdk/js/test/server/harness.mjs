// Starts a real `grimoire serve` for the integration tests.
//
// The binary: $GRIMOIRE_BIN when set, else built with
// `go build -o bin/grimoire ./cmd/grimoire` at the repository root. When it
// cannot be had, the tests fail under CI=true and are skipped otherwise.
import { execFile, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

let built;
/** Returns the server binary's path, building it once per process. */
export async function serverBinary() {
  if (process.env.GRIMOIRE_BIN) return resolve(process.env.GRIMOIRE_BIN);
  built ??= (async () => {
    const out = join(repoRoot, 'bin', 'grimoire');
    await run('go', ['build', '-o', out, './cmd/grimoire'], { cwd: repoRoot, timeout: 300_000 });
    return out;
  })();
  return built;
}

/** Starts `grimoire serve` on a free loopback port with a fresh data directory. */
export async function startServer({ timeoutMs = 30_000 } = {}) {
  const bin = await serverBinary();
  if (!existsSync(bin)) throw new Error(`server binary ${bin} is missing`);
  const dataDir = mkdtempSync(join(tmpdir(), 'grimoire-sdk-js-'));
  const secret = randomBytes(32).toString('hex');
  const env = { ...process.env, GRIMOIRE_JWT_SECRET: secret, GRIMOIRE_DATA: dataDir };
  delete env.GRIMOIRE_ADDR;
  const proc = spawn(bin, ['serve', '--addr', '127.0.0.1:0', '--data', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const url = await new Promise((resolveURL, reject) => {
    const timer = setTimeout(() => reject(new Error(`grimoire serve printed no address in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const onData = (chunk) => {
      log += chunk;
      const m = /serving on (http:\/\/[0-9.:]+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolveURL(m[1]);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`grimoire serve exited with ${code}:\n${log}`));
    });
  });
  // Readiness: /healthz answers.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url + '/healthz');
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz never answered:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    secret,
    dataDir,
    log: () => log,
    /** A token from `grimoire token create` (the server's own signer). */
    async token(user, { ttl, roles = [] } = {}) {
      const args = ['token', 'create', '--user', user, '--data', dataDir];
      if (ttl) args.push('--ttl', ttl);
      for (const r of roles) args.push('--role', r);
      const { stdout } = await run(bin, args, { env, timeout: 30_000 });
      return stdout.trim();
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => {
          const t = setTimeout(() => {
            proc.kill('SIGKILL');
            r();
          }, 5_000);
          proc.once('exit', () => {
            clearTimeout(t);
            r();
          });
        });
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Signs a JWT by hand, for expired and forged tokens. alg "none" gives an unsigned token. */
export function signJWT(claims, secret, alg = 'HS256') {
  const head = b64url({ alg, typ: 'JWT' });
  const body = b64url(claims);
  if (alg === 'none') return `${head}.${body}.`;
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Resolves when pred() is true, polling; rejects after ms. */
export async function waitFor(pred, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
