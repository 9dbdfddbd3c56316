// A collapsible JSON tree (json-formatter-js) for node inputs and outputs.
import JSONFormatter from 'json-formatter-js';
import { useEffect, useRef } from 'preact/hooks';

export function JSONView({ value, open = 2, label }: { value: unknown; open?: number; label?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.replaceChildren(new JSONFormatter(value as object, open, { hoverPreviewEnabled: true, animateOpen: false, animateClose: false }).render());
  }, [value, open]);
  return <div class="json" data-json={label} data-value={JSON.stringify(value ?? null)} ref={ref} />;
}
