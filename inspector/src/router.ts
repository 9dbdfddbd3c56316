// Hash routes, so that the server needs to know only "/":
//   #/runs?spell=&status=   #/runs/<id>   #/spells   #/spells/<id>   #/usage?by=&days=
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  view: 'runs' | 'run' | 'spells' | 'spell' | 'usage';
  id?: string;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts[0] === 'runs' && parts[1]) return { view: 'run', id: parts[1], params };
  if (parts[0] === 'spells' && parts[1]) return { view: 'spell', id: parts[1], params };
  if (parts[0] === 'spells') return { view: 'spells', params };
  if (parts[0] === 'usage') return { view: 'usage', params };
  return { view: 'runs', params };
}

export function href(view: Route['view'], id?: string, params?: Record<string, string>): string {
  const base = view === 'run' ? `#/runs/${encodeURIComponent(id!)}` : view === 'spell' ? `#/spells/${encodeURIComponent(id!)}` : `#/${view}`;
  const q = new URLSearchParams(Object.entries(params ?? {}).filter(([, v]) => v !== '')).toString();
  return q ? `${base}?${q}` : base;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
