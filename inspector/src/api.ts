// The REST shapes the page reads (server/openapi.json).
import type { Usage } from '@grimoire-run/client';

export interface RunSummary {
  runId: string;
  spellId: string;
  spellHash: string;
  user?: string;
  source?: string;
  parentRunId?: string;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  started: string;
  finished?: string;
  durationNs?: number;
  error?: string;
  errorNode?: string;
  nodes: Record<string, number>;
  usage: Usage;
  lastSeq: number;
}

export interface RunsPage {
  runs: RunSummary[];
  next?: string;
}

export interface SpellSummary {
  id: string;
  name?: string;
  version: number;
  hash: string;
  owner?: string;
  updated: string;
  deleted?: boolean;
}

export const RUN_STATUSES = ['running', 'waiting', 'completed', 'failed', 'cancelled'] as const;
