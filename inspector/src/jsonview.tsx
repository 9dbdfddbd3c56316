// A collapsible JSON tree (json-formatter-js) for node inputs and outputs.
import JSONFormatter from 'json-formatter-js';
import { useEffect, useRef } from 'preact/hooks';

const MAX_ATTRIBUTE = 64 * 1024;

export function JSONView({ value, open = 2, label }: { value: unknown; open?: number; label?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.replaceChildren(new JSONFormatter(value as object, open, { hoverPreviewEnabled: true, animateOpen: false, animateClose: false }).render());
  }, [value, open]);
  // The value as text for tests and copying, unless it is large (the tree
  // renders lazily; a copy in an attribute would not).
  const text = JSON.stringify(value ?? null) ?? 'null';
  return <div class="json" data-json={label} data-value={text.length <= MAX_ATTRIBUTE ? text : undefined} ref={ref} />;
}
