// @grimoire-run/client: the TypeScript client of a Grimoire server.
export { connect, GrimoireClient, Spell, Run, newRunID } from './client.js';
export type { AnswerAck, ConnectOptions, ClientEvents, RunEvents, RunOptions, RunStatus, TokenSource } from './client.js';
export { replay, nodeResultsFromEvents, sameJSON, BUILTIN_NODE_TYPES } from './replay.js';
export type { NodeTypeInfo, ReplayContext, ReplayHook, ReplayWorkers, ReplayOptions, ReplayReport } from './replay.js';
export { parseSpell, compareNodeIDs, NATIVE_FORMAT } from './graph.js';
export type { Graph, GraphNode, GraphEdge, PortDecl, PortKind, PortRef } from './graph.js';
export {
  GrimoireError,
  AuthError,
  ConnectionError,
  RequestError,
  TimeoutError,
  RunFailedError,
  RunCancelledError,
  ClosedError,
  SpellParseError,
  ReplayError,
} from './errors.js';
export * from './types.js';
