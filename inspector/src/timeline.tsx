// The Gantt-style timeline: one bar per node activation, one row per node.
import { formatDuration } from './format.js';
import { timelineBars, type Activation, type RunState } from './runstate.js';

export function Timeline({ run, now, selected, onSelect }: { run: RunState; now: number; selected?: string; onSelect: (a: Activation) => void }) {
  const { bars, rows, spanMs } = timelineBars(run, now);
  if (!bars.length) return <p class="muted">No node has run yet.</p>;
  return (
    <div class="timeline" style={{ '--rows': rows.length } as any}>
      <div class="timeline-scale">
        <span>0</span>
        <span>{formatDuration(spanMs / 2)}</span>
        <span>{formatDuration(spanMs)}</span>
      </div>
      <div class="timeline-rows">
        {rows.map((key, i) => (
          <div class="timeline-label" style={{ gridRow: i + 1 }} title={key}>
            {key}
          </div>
        ))}
        <div class="timeline-track" style={{ gridRow: `1 / span ${rows.length}` }}>
          {bars.map((b) => (
            <button
              type="button"
              class={`bar state-${b.activation.status}${selected === b.activation.key ? ' selected' : ''}`}
              data-node={b.activation.key}
              data-activation={b.activation.activation}
              style={{ top: `calc(${b.row} * var(--row-h))`, left: `${(b.left * 100).toFixed(3)}%`, width: `max(3px, ${(b.width * 100).toFixed(3)}%)` }}
              title={`${b.activation.key} #${b.activation.activation}: ${b.activation.status}, ${formatDuration(b.activation.durationMs)}`}
              onClick={() => onSelect(b.activation)}
            />
          ))}
        </div>
      </div>
    </div>
  );
}
