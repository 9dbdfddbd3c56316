// Test harness: real socket.io-client processes for the Go tests of
// server/socket (driven through server/socket/sockettest).
//
// Reads commands from stdin, one JSON object per line; writes what the
// sockets see to stdout, one JSON object per line. Both client generations
// live in one process: "sio2" is socket.io-client 2.5.0 (Engine.IO 3),
// "sio4" is socket.io-client 4.x (Engine.IO 4), installed under npm aliases.
'use strict';

const readline = require('readline');
const sio2 = require('sio2');
const { io: sio4 } = require('sio4');

const sockets = new Map(); // id -> {socket, gen, quiet, seqs, counts, runs, ends}

// Run event types that end a run (docs/protocol.md).
const terminal = new Set(['run:completed', 'run:failed', 'run:cancelled']);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function errInfo(err) {
  if (err == null) return { message: String(err) };
  if (typeof err === 'string') return { message: err };
  // A refusal before any session (HTTP 401/403/429 on the Engine.IO
  // handshake) reaches a polling client as the request's response body.
  // description may be 0 (no HTTP status: the connection broke), which
  // must still be sent as a string.
  const ctx = err.context;
  const body = ctx && typeof ctx.responseText === 'string' ? ctx.responseText : undefined;
  return { message: err.message || String(err), data: err.data, description: err.description != null ? String(err.description) : undefined, body };
}

// nowMs is the wall clock in milliseconds with sub-millisecond precision.
function nowMs() {
  return performance.timeOrigin + performance.now();
}

// timeMs parses an RFC 3339 time with up to nanosecond digits (Go's
// encoding) into milliseconds, keeping the sub-millisecond part Date drops.
function timeMs(t) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return Date.parse(t);
  const frac = (m[2] || '0').padEnd(9, '0').slice(0, 9);
  return Date.parse(m[1] + m[3]) + Number(frac) / 1e6;
}

function record(s, id, event, args) {
  if (s.quiet) {
    s.counts[event] = (s.counts[event] || 0) + 1;
    const p = args[0];
    if (p && typeof p === 'object' && typeof p.seq === 'number') {
      (s.seqs[event] = s.seqs[event] || []).push(p.seq);
      // Run event messages: every seq of each run in arrival order, and
      // how each run ended (with run:completed's node count).
      if (typeof p.runId === 'string') {
        (s.runs[p.runId] = s.runs[p.runId] || []).push(p.seq);
        if (s.latency && event === 'node:end' && typeof p.time === 'string') {
          // From the event's time (the node's completion, stamped by the
          // server) to now, in milliseconds with microsecond precision.
          s.lat.push(nowMs() - timeMs(p.time));
        }
        if (terminal.has(event)) {
          s.ends[p.runId] = { event, seq: p.seq, nodes: Array.isArray(p.nodes) ? p.nodes.length : 0 };
        }
      }
    }
    return;
  }
  out({ type: 'event', id, event, args });
}

function connect(cmd) {
  const id = cmd.id;
  const gen = cmd.gen;
  const opts = { reconnection: false, forceNew: true, timeout: cmd.timeoutMs || 10000 };
  if (cmd.transports) opts.transports = cmd.transports;
  const headers = {};
  const query = {};
  if (cmd.token !== undefined) {
    switch (cmd.tokenVia || 'query') {
      case 'query': query.token = cmd.token; break;
      case 'header': headers.Authorization = 'Bearer ' + cmd.token; break;
      case 'auth': opts.auth = { token: cmd.token }; break;
      case 'query+auth': query.token = cmd.token; opts.auth = { token: cmd.token }; break;
    }
  }
  if (cmd.authToken !== undefined) opts.auth = { token: cmd.authToken };
  if (cmd.origin) headers.Origin = cmd.origin;
  if (Object.keys(query).length) opts.query = query;
  if (Object.keys(headers).length) opts.extraHeaders = headers;

  let socket;
  if (gen === 2) {
    socket = sio2(cmd.url, opts);
  } else {
    socket = sio4(cmd.url, opts);
  }
  const s = { socket, gen, quiet: !!cmd.quiet, latency: !!cmd.latency, seqs: {}, counts: {}, runs: {}, ends: {}, lat: [] };
  sockets.set(id, s);

  socket.on('connect', () => {
    const engine = gen === 2 ? socket.io.engine : socket.io.engine;
    out({ type: 'connect', id, transport: engine && engine.transport && engine.transport.name, sid: engine && engine.id });
  });
  socket.on('connect_error', (err) => out({ type: 'connect_error', id, error: errInfo(err) }));
  if (gen === 2) {
    socket.on('error', (err) => out({ type: 'error', id, error: errInfo(err) }));
    socket.on('connect_timeout', () => out({ type: 'connect_error', id, error: { message: 'timeout' } }));
    // 2.x has no onAny: see every event by wrapping the dispatcher.
    const onevent = socket.onevent.bind(socket);
    socket.onevent = (packet) => {
      const args = packet.data || [];
      record(s, id, args[0], args.slice(1));
      onevent(packet);
    };
  } else {
    socket.onAny((event, ...args) => record(s, id, event, args));
  }
  socket.on('disconnect', (reason) => out({ type: 'disconnect', id, reason }));
}

function emit(cmd) {
  const s = sockets.get(cmd.id);
  if (!s) return out({ type: 'fail', id: cmd.id, tag: cmd.tag, message: 'no such socket' });
  const args = cmd.payload === undefined ? [] : [cmd.payload];
  if (cmd.ack) {
    s.socket.emit(cmd.event, ...args, (...ackArgs) => out({ type: 'ack', id: cmd.id, tag: cmd.tag, args: ackArgs }));
  } else {
    s.socket.emit(cmd.event, ...args);
  }
}

// emitMany sends count events at once and reports every ack together.
function emitMany(cmd) {
  const s = sockets.get(cmd.id);
  if (!s) return out({ type: 'fail', id: cmd.id, tag: cmd.tag, message: 'no such socket' });
  const results = new Array(cmd.count);
  let pending = cmd.count;
  const timer = setTimeout(() => out({ type: 'acks', id: cmd.id, tag: cmd.tag, results, timedOut: true }), cmd.timeoutMs || 10000);
  for (let i = 0; i < cmd.count; i++) {
    s.socket.emit(cmd.event, { i, pad: cmd.pad || '' }, (ack) => {
      results[i] = ack;
      if (--pending === 0) {
        clearTimeout(timer);
        out({ type: 'acks', id: cmd.id, tag: cmd.tag, results });
      }
    });
  }
}

function report(cmd) {
  const res = {};
  for (const [id, s] of sockets) {
    if (cmd.ids && !cmd.ids.includes(id)) continue;
    res[id] = { connected: s.socket.connected, counts: s.counts, seqs: s.seqs, runs: s.runs, ends: s.ends, latencyMs: s.lat };
    if (cmd.forget) { s.seqs = {}; s.counts = {}; s.runs = {}; s.ends = {}; s.lat = []; }
  }
  out({ type: 'report', tag: cmd.tag, sockets: res });
}

// raw sends an arbitrary Engine.IO message (a Socket.IO packet string) on the
// socket's engine, to exercise what a well-behaved client never sends.
function raw(cmd) {
  const s = sockets.get(cmd.id);
  if (!s) return out({ type: 'fail', id: cmd.id, tag: cmd.tag, message: 'no such socket' });
  s.socket.io.engine.write(cmd.data);
  out({ type: 'sent', id: cmd.id, tag: cmd.tag });
}

// settle waits (at most 2 s) until a socket is not between transports: a
// v4 client on polling that was offered an upgrade is probing websocket, and
// closing it then makes engine.io v2.5.0 (the Go server) race on its own
// upgrade state. Real clients do close mid-upgrade; the tests close after.
function settle(s) {
  return new Promise((resolve) => {
    const eng = s.socket.io && s.socket.io.engine;
    if (!eng || eng.readyState !== 'open' || !eng.transport || eng.transport.name !== 'polling' ||
        !Array.isArray(eng._upgrades) || eng._upgrades.length === 0) {
      return resolve();
    }
    const done = () => {
      clearTimeout(timer);
      eng.off('upgrade', done);
      eng.off('upgradeError', done);
      eng.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, 2000);
    eng.on('upgrade', done);
    eng.on('upgradeError', done);
    eng.on('close', done);
  });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return out({ type: 'fail', message: 'bad command: ' + e.message });
  }
  try {
    switch (cmd.op) {
      case 'connect': return connect(cmd);
      case 'emit': return emit(cmd);
      case 'emitMany': return emitMany(cmd);
      case 'report': return report(cmd);
      case 'raw': return raw(cmd);
      case 'close': {
        const s = sockets.get(cmd.id);
        if (!s) return out({ type: 'closed', id: cmd.id });
        return settle(s).then(() => {
          s.socket.close();
          out({ type: 'closed', id: cmd.id });
        });
      }
      case 'exit':
        return Promise.all([...sockets.values()].map(settle)).then(() => {
          for (const s of sockets.values()) s.socket.close();
          process.exit(0);
        });
      default:
        return out({ type: 'fail', tag: cmd.tag, message: 'unknown op ' + cmd.op });
    }
  } catch (e) {
    out({ type: 'fail', id: cmd.id, tag: cmd.tag, message: String(e && e.stack || e) });
  }
});
rl.on('close', () => {
  Promise.all([...sockets.values()].map(settle)).then(() => process.exit(0));
});
out({ type: 'ready', node: process.version });
