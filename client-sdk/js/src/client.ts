// The Socket.IO client: connect, load spells, run them, follow their events
// across reconnects (docs/protocol.md).

import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { TypedEmitter } from './emitter.js';
import {
  AuthError,
  ClosedError,
  ConnectionError,
  GrimoireError,
  RequestError,
  RunCancelledError,
  RunFailedError,
  TimeoutError,
} from './errors.js';
import { nodeResultsFromEvents, replay, type ReplayOptions, type ReplayReport, type ReplayWorkers } from './replay.js';
import {
  RUN_EVENT_TYPES,
  type NodeChunkEvent,
  type NodeEndEvent,
  type NodeErrorEvent,
  type NodeEvent,
  type NodeAnsweredEvent,
  type NodeSkipEvent,
  type NodeWaitingEvent,
  type RunWaitingEvent,
  type NodeStartEvent,
  type RunCancelledEvent,
  type RunCompletedEvent,
  type RunEvent,
  type RunFailedEvent,
  type RunResult,
  type RunResumedEvent,
  type RunStartEvent,
  type SpellInfo,
} from './types.js';

export type TokenSource = string | (() => string | Promise<string>);

export interface ConnectOptions {
  /** The JWT, or a function returning a fresh one (called on every (re)connect). */
  token: TokenSource;
  /** Socket.IO path (default "/socket.io"). */
  path?: string;
  /** Transports (default: Socket.IO's, polling upgraded to websocket). */
  transports?: Array<'polling' | 'websocket' | 'webtransport'>;
  /** Connect and request timeout in ms (default 10,000). */
  timeoutMs?: number;
  /** Reconnect automatically after a dropped connection (default true). */
  reconnection?: boolean;
  reconnectionDelay?: number;
  reconnectionDelayMax?: number;
  /** Delay before a gap in a run's sequence numbers is filled with run:subscribe (default 250 ms). */
  gapFillDelayMs?: number;
  /** Base URL of the REST API (default: the socket URL). */
  restUrl?: string;
  /** fetch for REST calls (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** Extra Socket.IO options, passed through. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export interface ClientEvents {
  connect: void;
  /** The connection dropped; reason from Socket.IO. */
  disconnect: { reason: string };
  /** Reconnected: spells were loaded again and live runs resubscribed. */
  reconnect: { attempt: number };
  /** The server said it is closing this socket ({code, message}: token_expired, slow_consumer, …). */
  closing: { code: string; message: string };
  /** An error no request was waiting for (a failed reconnect, a failed resubscribe). */
  error: GrimoireError;
}

export interface RunOptions {
  /** Input names in the order the user gave them (default: the inputs' key order). */
  inputOrder?: string[];
  /** The node to start at (node id, or a Trigger In / Input name or socket key). */
  entry?: string;
  /** The run id (8-64 of A-Z a-z 0-9 - _); default: a random one. */
  runId?: string;
}

interface Ack {
  ok?: boolean;
  error?: { code?: string; message?: string };
  [k: string]: unknown;
}

/** run:answer's ack: the answer was recorded (node:answered follows) and the run goes on. */
export interface AnswerAck extends Ack {
  runId: string;
  nodeId: string;
  activation: number;
  seq: number;
  resumed: boolean;
}

/** Connects to a Grimoire server and resolves once the server accepted the token. */
export async function connect(url: string, options: ConnectOptions): Promise<GrimoireClient> {
  const c = new GrimoireClient(url, options);
  await c.ready;
  return c;
}

const TOKEN_CODES = new Set(['token_missing', 'token_invalid', 'token_expired', 'unauthorized']);

export class GrimoireClient extends TypedEmitter<ClientEvents> {
  /** The underlying Socket.IO socket (for advanced use and tests). */
  readonly socket: Socket;
  readonly url: string;
  /** Resolves on the first connect; rejects with AuthError or ConnectionError. */
  readonly ready: Promise<void>;

  private readonly opts: ConnectOptions;
  private readonly timeoutMs: number;
  private readonly spells = new Map<string, Spell>();
  private readonly runs = new Map<string, Run>();
  private connectedOnce = false;
  private closed = false;
  private currentToken = '';
  private closingReason?: { code: string; message: string };
  /** Pending while the connection is down; settles once the new socket has the spells and runs back. */
  private resuming?: Promise<void>;
  private resumed?: () => void;
  private attempts = 0;

  constructor(url: string, options: ConnectOptions) {
    super();
    if (!options || options.token == null) throw new GrimoireError('bad_request', 'connect: options.token is required');
    if (typeof url !== 'string' || !/^(https?|wss?):\/\/./.test(url)) {
      throw new GrimoireError('bad_request', `connect: want the server's URL (http://host:port), got ${JSON.stringify(url)}`);
    }
    this.url = url;
    this.opts = options;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const tokenOf = async () => (this.currentToken = typeof options.token === 'function' ? await options.token() : options.token);
    if (typeof options.token === 'string') this.currentToken = options.token;
    this.socket = io(url, {
      path: options.path ?? '/socket.io',
      transports: options.transports,
      reconnection: options.reconnection ?? true,
      reconnectionDelay: options.reconnectionDelay ?? 200,
      reconnectionDelayMax: options.reconnectionDelayMax ?? 2_000,
      timeout: this.timeoutMs,
      autoConnect: false,
      // The token goes in `auth` (v4 clients) and in the `token` query
      // parameter (what every server generation reads).
      auth: (cb: (data: object) => void) => {
        tokenOf().then(
          (token) => {
            this.setQueryToken(token);
            cb({ token });
          },
          () => cb({ token: '' }),
        );
      },
      query: { token: this.currentToken },
      ...options.socketOptions,
    });

    let failReady: (err: GrimoireError) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      failReady = (err) => {
        cleanup();
        reject(err);
      };
      const timer = setTimeout(() => {
        cleanup();
        this.socket.disconnect();
        reject(new ConnectionError('timeout', `connect to ${url}: no answer in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const onConnect = () => {
        cleanup();
        resolve();
      };
      const onError = (err: Error & { data?: { code?: string; message?: string } }) => {
        cleanup();
        this.socket.disconnect();
        reject(connectError(url, err));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.socket.off('connect', onConnect);
        this.socket.off('connect_error', onError);
      };
      this.socket.on('connect', onConnect);
      this.socket.on('connect_error', onError);
    });
    this.ready.catch(() => {});

    this.socket.on('connect', () => this.onConnect());
    this.socket.on('disconnect', (reason) => this.onDisconnect(reason));
    this.socket.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => {
      if (!this.connectedOnce || this.closed) return;
      const e = connectError(url, err);
      this.emit('error', e);
      if (!(e instanceof AuthError)) return; // a transport error: Socket.IO keeps trying
      // The server refused the token on reconnect; Socket.IO does not retry that by itself.
      if (typeof this.opts.token === 'function') {
        // A fresh token goes in the query: the server authenticates the
        // Engine.IO handshake with it, before the auth payload is asked for.
        setTimeout(() => {
          if (this.closed || this.socket.connected) return;
          tokenOf().then(
            (token) => {
              this.setQueryToken(token);
              if (!this.closed && !this.socket.connected) this.socket.connect();
            },
            () => {},
          );
        }, this.opts.reconnectionDelayMax ?? 2_000);
      } else {
        for (const run of [...this.runs.values()]) run._fail(e);
        this.runs.clear();
      }
    });
    this.socket.on('closing', (m: { code?: string; message?: string }) => {
      this.closingReason = { code: m?.code ?? 'closing', message: m?.message ?? '' };
      this.emit('closing', this.closingReason);
    });
    this.socket.on('auth:expired', (m: { message?: string }) => {
      this.closingReason = { code: 'token_expired', message: m?.message ?? 'token expired' };
      this.emit('closing', this.closingReason);
    });
    this.socket.onAny((event: string, msg: RunEvent) => {
      if (!(RUN_EVENT_TYPES as readonly string[]).includes(event) || !msg || typeof msg.runId !== 'string') return;
      this.runs.get(msg.runId)?._receive(msg);
    });
    if (typeof options.token === 'function') {
      tokenOf().then(
        (token) => {
          this.setQueryToken(token);
          this.socket.connect();
        },
        (err) => failReady(new AuthError('token_missing', `connect to ${url}: the token function failed: ${(err as Error)?.message ?? err}`)),
      );
    } else {
      this.socket.connect();
    }
  }

  private setQueryToken(token: string) {
    const o = this.socket.io.opts as { query?: Record<string, string> };
    o.query = { ...(o.query ?? {}), token };
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /**
   * Loads a spell on this connection: by id (a saved spell) or with a spell
   * document in either format (saved as a new version, then loaded).
   */
  async loadSpell(idOrDocument: string | object, options: { spellId?: string } = {}): Promise<Spell> {
    const byID = typeof idOrDocument === 'string';
    const payload = byID ? { spellId: idOrDocument } : { spell: idOrDocument, ...(options.spellId ? { spellId: options.spellId } : {}) };
    const ack = await this.request<SpellInfo & Ack>('spell:load', payload);
    const info: SpellInfo = {
      spellId: ack.spellId, name: ack.name, version: ack.version, hash: ack.hash,
      inputs: ack.inputs ?? [], outputs: ack.outputs ?? [], triggerIns: ack.triggerIns ?? [], triggerOuts: ack.triggerOuts ?? [],
    };
    let spell = this.spells.get(info.spellId);
    if (spell) spell._update(info, byID ? undefined : idOrDocument);
    else {
      spell = new Spell(this, info, byID ? undefined : idOrDocument);
      this.spells.set(info.spellId, spell);
    }
    return spell;
  }

  /** Follows a run that already exists (started elsewhere, or before a page reload) from after `afterSeq`. */
  subscribe(runId: string, afterSeq = 0): Run {
    let run = this.runs.get(runId);
    if (run) return run;
    run = new Run(this, { runId, spellId: '', afterSeq });
    run._sent = true;
    this.runs.set(runId, run);
    this.request('run:subscribe', { runId, afterSeq }).then(
      () => run!._markStarted(),
      (err) => run!._fail(err),
    );
    return run;
  }

  /** Closes the connection. Runs still going on the server are not cancelled; their promises reject with ClosedError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.disconnect();
    this.resumed?.();
    for (const run of [...this.runs.values()]) run._fail(new ClosedError('closed', `run ${run.id}: the client was closed`));
    this.runs.clear();
  }

  /**
   * Sends one request and waits for its ack; an error ack rejects with RequestError.
   * While the connection is down, a request waits (up to timeoutMs) until the
   * client has reconnected and loaded its spells again on the new socket.
   */
  async request<T extends Ack = Ack>(event: string, payload: object): Promise<T> {
    await this.whenConnected(event);
    return this.send<T>(event, payload);
  }

  private async whenConnected(event: string): Promise<void> {
    if (this.closed) throw new ClosedError('closed', `${event}: the client is closed`);
    if (this.resuming) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ok = await Promise.race([
        this.resuming.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), this.timeoutMs))),
      ]);
      clearTimeout(timer);
      if (!ok) throw new TimeoutError(`${event}: not connected for ${this.timeoutMs} ms`);
      if (this.closed) throw new ClosedError('closed', `${event}: the client is closed`);
    }
  }

  private async send<T extends Ack = Ack>(event: string, payload: object): Promise<T> {
    let ack: T;
    try {
      ack = (await this.socket.timeout(this.timeoutMs).emitWithAck(event, payload)) as T;
    } catch {
      throw new TimeoutError(`${event}: no answer in ${this.timeoutMs} ms`);
    }
    if (ack && ack.error) throw new RequestError(event, ack.error.code ?? 'internal', ack.error.message ?? '');
    if (!ack || typeof ack !== 'object') throw new RequestError(event, 'internal', `unexpected ack ${JSON.stringify(ack)}`);
    return ack;
  }

  /** Calls the REST API with this client's token (for documents and run histories). */
  async rest<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const f = this.opts.fetch ?? globalThis.fetch;
    if (!f) throw new GrimoireError('unsupported', 'rest: no fetch available; pass options.fetch');
    const token = typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
    const base = (this.opts.restUrl ?? this.url).replace(/\/+$/, '');
    const res = await f(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) {
      let code = `http_${res.status}`;
      let message = text;
      try {
        const e = JSON.parse(text).error;
        if (e) ({ code, message } = e);
      } catch {
        /* not JSON */
      }
      if (res.status === 401) throw new AuthError(code, `${method} ${path}: ${message}`);
      throw new RequestError(`${method} ${path}`, code, message);
    }
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('ndjson')) return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)) as T;
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async onConnect() {
    this.closingReason = undefined;
    if (!this.connectedOnce) {
      this.connectedOnce = true;
      this.emit('connect', undefined);
      return;
    }
    // A new socket on the server: it follows no run and its spell manager is
    // empty. Resume the runs first, then load the spells again; requests made
    // meanwhile wait for this.
    for (const run of this.runs.values()) run._resubscribe();
    for (const spell of this.spells.values()) {
      if (spell.unloaded) continue;
      try {
        await this.send('spell:load', { spellId: spell.id });
      } catch (err) {
        this.emit('error', err as GrimoireError);
      }
    }
    this.attempts++;
    const done = this.resumed;
    this.resuming = undefined;
    this.resumed = undefined;
    done?.();
    this.emit('reconnect', { attempt: this.attempts });
    this.emit('connect', undefined);
  }

  private onDisconnect(reason: string) {
    if (!this.resuming && !this.closed) this.resuming = new Promise<void>((r) => (this.resumed = r));
    this.emit('disconnect', { reason });
    if (this.closed) return;
    if (reason === 'io server disconnect') {
      // The server closed this socket on purpose; Socket.IO does not come back by itself.
      const why = this.closingReason;
      if (why?.code === 'token_expired' && typeof this.opts.token !== 'function') {
        const err = new AuthError('token_expired', 'the token expired and the server closed the socket; connect with a new token');
        for (const run of [...this.runs.values()]) run._fail(err);
        this.runs.clear();
        return;
      }
      setTimeout(() => {
        if (!this.closed && !this.socket.connected) this.socket.connect();
      }, this.opts.reconnectionDelay ?? 200);
    }
  }

  /** @internal */
  _startRun(spell: Spell, inputs: Record<string, unknown>, options: RunOptions): Run {
    const runId = options.runId ?? newRunID();
    const inputOrder = options.inputOrder ?? Object.keys(inputs);
    const run = new Run(this, { runId, spellId: spell.id, inputs, inputOrder, entry: options.entry, spell });
    this.runs.set(runId, run);
    const payload: Record<string, unknown> = { spellId: spell.id, inputs, inputOrder, runId };
    if (options.entry) payload.entry = options.entry;
    (async () => {
      await this.whenConnected('spell:run');
      run._sent = true;
      return this.send<Ack & { runId: string }>('spell:run', payload);
    })().then(
      () => run._markStarted(),
      (err) => {
        if (!(err instanceof TimeoutError) || !run._sent) return run._fail(err);
        // The ack was lost (the connection dropped after the request left):
        // the run may well exist; follow it if it does.
        this.send('run:subscribe', { runId, afterSeq: run.lastSeq }).then(
          () => run._markStarted(),
          () => run._fail(err),
        );
      },
    );
    return run;
  }

  /** @internal: a request that does not wait for a reconnect to finish. */
  _send<T extends Ack = Ack>(event: string, payload: object): Promise<T> {
    return this.send<T>(event, payload);
  }

  /** @internal */
  _forget(run: Run) {
    if (this.runs.get(run.id) === run) this.runs.delete(run.id);
  }

  /** @internal */
  _gapFillDelay(): number {
    return this.opts.gapFillDelayMs ?? 250;
  }

  /** @internal */
  _forgetSpell(spell: Spell) {
    if (this.spells.get(spell.id) === spell) this.spells.delete(spell.id);
  }
}

function connectError(url: string, err: Error & { data?: { code?: string; message?: string }; context?: unknown }): GrimoireError {
  // A refused namespace connect says why in err.data; a handshake the server
  // refused before any session (no or bad token, rate limit) in the polling
  // response's body, {"error": {code, message}}.
  const why = err?.data?.code ? err.data : refusalBody(err?.context);
  const code = why?.code;
  if (code && TOKEN_CODES.has(code)) return new AuthError(code, `connect to ${url}: ${why?.message ?? err.message}`);
  if (code) return new ConnectionError(code, `connect to ${url}: ${why?.message ?? err.message}`);
  return new ConnectionError('connect_failed', `connect to ${url}: ${err?.message ?? String(err)}`, { cause: err });
}

function refusalBody(context: unknown): { code?: string; message?: string } | undefined {
  const text = (context as { responseText?: unknown } | undefined)?.responseText;
  if (typeof text !== 'string' || text === '') return undefined;
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    return typeof body?.error?.code === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A run id in the server's own format (server/runs/runid.go): 26 Crockford
 * base32 digits of a ULID, 48 bits of milliseconds then 80 random bits, so
 * ids from every caller look alike and sort by creation time.
 */
export function newRunID(now: number = Date.now()): string {
  const random = new Uint8Array(10);
  globalThis.crypto.getRandomValues(random);
  let n = BigInt(Math.floor(now)) & ((1n << 48n) - 1n);
  for (const b of random) n = (n << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}

/** A spell loaded on a connection. */
export class Spell {
  readonly client: GrimoireClient;
  info: SpellInfo;
  /** Set once unload() succeeded. */
  unloaded = false;
  private doc?: object;

  constructor(client: GrimoireClient, info: SpellInfo, doc?: object) {
    this.client = client;
    this.info = info;
    this.doc = doc;
  }

  get id(): string {
    return this.info.spellId;
  }
  get hash(): string {
    return this.info.hash;
  }
  get version(): number {
    return this.info.version;
  }

  /** @internal */
  _update(info: SpellInfo, doc?: object) {
    this.info = info;
    if (doc) this.doc = doc;
    this.unloaded = false;
  }

  /** Starts a run. Listen on the returned Run at once: events may arrive before the server's ack. */
  run(inputs: Record<string, unknown> = {}, options: RunOptions = {}): Run {
    if (this.unloaded) throw new GrimoireError('not_found', `spell ${this.id} was unloaded`);
    return this.client._startRun(this, inputs, options);
  }

  /** Frees the spell on the server (a closed editor tab). */
  async unload(): Promise<void> {
    await this.client.request('spell:unload', { spellId: this.id });
    this.unloaded = true;
    this.client._forgetSpell(this);
  }

  /** The spell document: the one it was loaded with, else the loaded version from GET /v1/spells/{id}. */
  async document(): Promise<object> {
    if (!this.doc) {
      this.doc = await this.client.rest<object>('GET', `/v1/spells/${encodeURIComponent(this.id)}?hash=${encodeURIComponent(this.hash)}`);
    }
    return this.doc;
  }

  /** Replays a finished run of this spell through its graph (see replay()). */
  async replay(result: RunResult, workers: ReplayWorkers, options?: ReplayOptions): Promise<ReplayReport> {
    return replay(await this.document(), result, workers, options);
  }
}

export interface RunEvents {
  /** Every run event, once each, in sequence order. */
  event: RunEvent;
  /** Every node event (node:start, node:chunk, node:end, node:error, node:skip). */
  node: NodeEvent;
  'run:start': RunStartEvent;
  'run:resumed': RunResumedEvent;
  'node:start': NodeStartEvent;
  'node:chunk': NodeChunkEvent;
  'node:end': NodeEndEvent;
  'node:error': NodeErrorEvent;
  'node:skip': NodeSkipEvent;
  'node:waiting': NodeWaitingEvent;
  'node:answered': NodeAnsweredEvent;
  'run:waiting': RunWaitingEvent;
  'run:completed': RunCompletedEvent;
  'run:failed': RunFailedEvent;
  'run:cancelled': RunCancelledEvent;
  /** The spell:run (or run:subscribe) request was refused, or the connection ended the run for this client. */
  error: GrimoireError;
}

export type RunStatus = 'starting' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled' | 'error';

/** One run: its events, in order and exactly once, and its outcome. */
export class Run extends TypedEmitter<RunEvents> {
  readonly id: string;
  readonly spellId: string;
  readonly inputs?: Record<string, unknown>;
  readonly inputOrder?: string[];
  readonly entry?: string;
  readonly spell?: Spell;
  /** Resolves with the run's outputs and node cache on run:completed; rejects with RunFailedError, RunCancelledError, RequestError or ClosedError. */
  readonly completed: Promise<RunResult>;
  /** The events delivered so far, in sequence order. */
  readonly events: RunEvent[] = [];
  status: RunStatus = 'starting';
  /** Events received twice (after a reconnect or a gap fill) and dropped. */
  duplicates = 0;

  private readonly client: GrimoireClient;
  private seq: number;
  private readonly pending = new Map<number, RunEvent>();
  private gapTimer?: ReturnType<typeof setTimeout>;
  private resolve!: (r: RunResult) => void;
  private reject!: (e: Error) => void;
  private done = false;

  constructor(
    client: GrimoireClient,
    init: { runId: string; spellId: string; inputs?: Record<string, unknown>; inputOrder?: string[]; entry?: string; spell?: Spell; afterSeq?: number },
  ) {
    super();
    this.client = client;
    this.id = init.runId;
    this.spellId = init.spellId;
    this.inputs = init.inputs;
    this.inputOrder = init.inputOrder;
    this.entry = init.entry;
    this.spell = init.spell;
    this.seq = init.afterSeq ?? 0;
    this.completed = new Promise<RunResult>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.completed.catch(() => {}); // a caller that never awaits must not see an unhandled rejection
  }

  /** The highest sequence number delivered. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Asks the server to cancel the run; `completed` then rejects with RunCancelledError. */
  async cancel(): Promise<void> {
    if (this.done) return;
    await this.client.request('run:cancel', { runId: this.id });
  }

  /**
   * Answers the question node `nodeId` waits on (its node:waiting event); `value` must match the
   * question's schema, or the request rejects with a RequestError of code `invalid_answer`.
   * The run then goes on, and `completed` settles as usual.
   */
  async answer(nodeId: string, value: unknown): Promise<AnswerAck> {
    return this.client.request<AnswerAck>('run:answer', { runId: this.id, nodeId, value });
  }

  /** Replays this run through its spell's graph once it completed (see replay()). */
  async replay(workers: ReplayWorkers, options?: ReplayOptions): Promise<ReplayReport> {
    const result = await this.completed;
    if (!this.spell) throw new GrimoireError('bad_request', `run ${this.id}: replay needs the spell; use replay(document, result, workers)`);
    return this.spell.replay(result, workers, options);
  }

  /** @internal */
  _markStarted() {
    if (this.status === 'starting') this.status = 'running';
  }

  /** @internal: one message from the socket. */
  _receive(msg: RunEvent) {
    if (this.done || typeof msg.seq !== 'number') return;
    if (msg.seq <= this.seq || this.pending.has(msg.seq)) {
      this.duplicates++;
      return;
    }
    this.pending.set(msg.seq, msg);
    this.flush();
    if (this.pending.size > 0 && !this.gapTimer && !this.done) {
      // A later event came first: wait briefly for the missing ones, then ask for them.
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        if (this.pending.size > 0 && !this.done) this._resubscribe();
      }, this.client._gapFillDelay());
    }
  }

  private flush() {
    for (let next = this.pending.get(this.seq + 1); next && !this.done; next = this.pending.get(this.seq + 1)) {
      this.pending.delete(next.seq);
      this.seq = next.seq;
      this.deliver(next);
    }
    if (this.pending.size === 0 && this.gapTimer) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    }
  }

  private deliver(msg: RunEvent) {
    if (this.status === 'starting' || (this.status === 'waiting' && msg.type !== 'run:waiting')) this.status = 'running';
    this.events.push(msg);
    this.emit('event', msg);
    if (msg.type.startsWith('node:')) this.emit('node', msg as NodeEvent);
    this.emit(msg.type, msg as never);
    switch (msg.type) {
      case 'run:completed':
        this.finish('completed');
        this.resolve({
          runId: this.id, spellId: msg.spellId ?? this.spellId, outputs: msg.outputs ?? {},
          nodes: msg.nodes ?? nodeResultsFromEvents(this.events), durationMs: msg.durationMs, usage: msg.usage,
          inputs: this.inputs, inputOrder: this.inputOrder, entry: this.entry,
        });
        break;
      case 'run:failed':
        this.finish('failed');
        this.reject(new RunFailedError(this.id, msg.error, msg.nodeId, msg.path));
        break;
      case 'run:cancelled':
        this.finish('cancelled');
        this.reject(new RunCancelledError(this.id, msg.reason));
        break;
      case 'run:waiting':
        this.status = 'waiting';
        break;
    }
  }

  private finish(status: RunStatus) {
    this.done = true;
    this.status = status;
    this.pending.clear();
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    this.client._forget(this);
  }

  /** @internal: spell:run has left for the server. */
  _sent = false;

  /** @internal: after a reconnect or a gap, ask for everything after the last delivered event. */
  _resubscribe() {
    if (this.done) return;
    const unconfirmed = this.status === 'starting' && this.seq === 0;
    if (unconfirmed && !this._sent) return; // spell:run has not been sent yet: it will be, on the new socket
    this.client._send('run:subscribe', { runId: this.id, afterSeq: this.seq }).then(
      () => this._markStarted(),
      (err: GrimoireError) => {
        // not_found for a run whose spell:run was never acked: the server did not get it; its ack timeout decides.
        if (err instanceof RequestError && !(unconfirmed && err.code === 'not_found')) this._fail(err);
        // A timeout or a dropped connection: the next connect resubscribes.
      },
    );
  }

  /** @internal */
  _fail(err: GrimoireError) {
    if (this.done) return;
    this.finish('error');
    this.emit('error', err);
    this.reject(err);
  }
}
