// The difference between two versions of a spell, line by line over their
// native documents (canonical: sorted keys, nodes and edges sorted by id, so
// a diff shows what changed and nothing else).
import { diffLines } from 'diff';

export interface DiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
}

/** Lines of `before` and `after` (text), each marked kept, added or removed. */
export function spellDiff(before: string, after: string): { lines: DiffLine[]; added: number; removed: number } {
  const lines: DiffLine[] = [];
  let added = 0;
  let removed = 0;
  for (const part of diffLines(before, after)) {
    const kind = part.added ? 'added' : part.removed ? 'removed' : 'same';
    const texts = part.value.replace(/\n$/, '').split('\n');
    for (const text of texts) lines.push({ kind, text });
    if (kind === 'added') added += texts.length;
    if (kind === 'removed') removed += texts.length;
  }
  return { lines, added, removed };
}
