// A real `grimoire serve` for the inspector's browser tests: a loopback port
// it picks, its own data directory, the generated development secret (so
// that the page offers "sign in as …") and the development model stand-in.
// restart() stops it and starts it again on the same port and data.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serverBinary } from '../../../client-sdk/js/test/server/harness.mjs';

const run = promisify(execFile);

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startServer({ timeoutMs = 60_000 } = {}) {
  const bin = await serverBinary();
  const dataDir = mkdtempSync(join(tmpdir(), 'grimoire-inspector-'));
  const port = await freePort();
  const env = { ...process.env, GRIMOIRE_DATA: dataDir, GRIMOIRE_USER: 'dev' };
  for (const k of ['GRIMOIRE_JWT_SECRET', 'GRIMOIRE_ADDR', 'GRIMOIRE_JWT_PUBLIC_KEYS', 'GRIMOIRE_JWKS_URL', 'GRIMOIRE_OPENAI_BASE_URL', 'GRIMOIRE_OPENAI_CONFIG']) delete env[k];
  let proc;
  let log = '';
  const url = `http://127.0.0.1:${port}`;

  const start = async () => {
    log += `--- start\n`;
    proc = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data', dataDir, '--dev-llm'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = proc;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`grimoire serve printed no address in ${timeoutMs} ms:\n${log}`)), timeoutMs);
      const onData = (chunk) => {
        log += chunk;
        if (log.includes(`serving on ${url}`)) {
          clearTimeout(timer);
          resolve();
        }
      };
      p.stdout.on('data', onData);
      p.stderr.on('data', onData);
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`grimoire serve exited with ${code}:\n${log}`));
      });
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await fetch(url + '/healthz')).ok) break;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`${url}/healthz never answered:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise((resolve) => {
      const t = setTimeout(() => {
        p.kill('SIGKILL');
      }, 10_000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill('SIGTERM');
    });
  };

  await start();
  return {
    url,
    dataDir,
    log: () => log,
    /** A token from `grimoire token create` (signed with the data directory's secret). */
    async token(user, { roles = [] } = {}) {
      const args = ['token', 'create', '--user', user, '--data', dataDir];
      for (const r of roles) args.push('--role', r);
      const { stdout } = await run(bin, args, { env, timeout: 30_000 });
      return stdout.trim();
    },
    /** Calls the REST API as the holder of token. */
    async rest(token, method, path, body) {
      const r = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    async restart() {
      await stop();
      await start();
    },
    async stop() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
