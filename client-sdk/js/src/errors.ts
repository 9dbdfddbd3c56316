// Typed errors. Branch with `instanceof` or on `code`.

/** Base class of every error this package throws or rejects with. */
export class GrimoireError extends Error {
  /** A stable code: the server's error code when it gave one. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/**
 * The server refused the connection's token (connect_error in the handshake),
 * or disconnected the socket because its token expired.
 * code: token_missing, token_invalid, token_expired, unauthorized.
 */
export class AuthError extends GrimoireError {}

/** The socket could not connect (server unreachable, timeout, bad URL). */
export class ConnectionError extends GrimoireError {}

/** The server answered a request with an error ack `{error: {code, message}}`. */
export class RequestError extends GrimoireError {
  /** The socket event or REST path that was refused. */
  readonly request: string;
  constructor(request: string, code: string, message: string) {
    super(code, `${request}: ${code}: ${message}`);
    this.request = request;
  }
}

/** A request got no ack in time (the connection stays usable). */
export class TimeoutError extends GrimoireError {
  constructor(message: string) {
    super('timeout', message);
  }
}

/** The run ended with run:failed. */
export class RunFailedError extends GrimoireError {
  readonly runId: string;
  /** The node the run failed at, when the server said. */
  readonly nodeId?: string;
  readonly path?: string[];
  constructor(runId: string, message: string, nodeId?: string, path?: string[]) {
    super('run_failed', `run ${runId} failed${nodeId ? ` at node ${nodeId}` : ''}: ${message}`);
    this.runId = runId;
    this.nodeId = nodeId;
    this.path = path;
  }
}

/** The run ended with run:cancelled. */
export class RunCancelledError extends GrimoireError {
  readonly runId: string;
  readonly reason?: string;
  constructor(runId: string, reason?: string) {
    super('run_cancelled', `run ${runId} was cancelled${reason ? `: ${reason}` : ''}`);
    this.runId = runId;
    this.reason = reason;
  }
}

/** The client was closed, or the server closed the socket for good. */
export class ClosedError extends GrimoireError {}

/** A spell document could not be read (either format). */
export class SpellParseError extends GrimoireError {
  /** JSON path of the offending value, when known. */
  readonly path?: string;
  constructor(message: string, path?: string) {
    super('invalid_spell', path ? `${path}: ${message}` : message);
    this.path = path;
  }
}

/**
 * Replay found the cached run inconsistent with the graph: an activation the
 * graph walk needs is missing from the run's node cache, or the cache holds
 * activations the walk never reached. Replay never calls a model to fill a gap.
 */
export class ReplayError extends GrimoireError {
  readonly nodeId?: string;
  constructor(message: string, nodeId?: string) {
    super('replay_mismatch', message);
    this.nodeId = nodeId;
  }
}
