// Who is signed in, and the one SDK client (socket + REST) the page uses.
import { GrimoireClient } from '@grimoire-run/client';

export interface Identity {
  user: string;
  roles: string[];
  /** Milliseconds since the epoch. */
  expiresAt?: number;
}

interface Stored {
  token: string;
  /** Minted by the development server's sign-in: minted again when it nears its expiry. */
  dev?: boolean;
}

const KEY = 'grimoire.inspector.session';

/** Reads a JWT's claims (the server verifies it; the page only shows who it names). */
export function identityOf(token: string): Identity {
  const part = token.split('.')[1];
  if (!part) throw new Error('not a JWT: want three dot-separated parts (grimoire token create --user NAME prints one)');
  let claims: { sub?: unknown; roles?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    throw new Error('not a JWT: its claims are not base64url JSON');
  }
  if (typeof claims.sub !== 'string' || !claims.sub) throw new Error('the token names no user (no "sub" claim)');
  return {
    user: claims.sub,
    roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
    expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
  };
}

export class Session {
  readonly client: GrimoireClient;
  identity: Identity;
  private stored: Stored;

  constructor(stored: Stored) {
    this.stored = stored;
    this.identity = identityOf(stored.token);
    this.client = new GrimoireClient(location.origin, {
      token: () => this.token(),
      transports: ['websocket'],
      reconnectionDelayMax: 1_000,
    });
  }

  get isAnalyst(): boolean {
    return this.identity.roles.includes('analyst') || this.identity.roles.includes('admin');
  }

  /** The token, minted again by the development sign-in when it has less than 5 minutes left. */
  async token(): Promise<string> {
    const exp = this.identity.expiresAt;
    if (this.stored.dev && exp !== undefined && exp - Date.now() < 5 * 60_000) {
      const t = await devSignIn();
      this.stored = { token: t, dev: true };
      this.identity = identityOf(t);
      save(this.stored);
    }
    return this.stored.token;
  }

  rest<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.client.rest<T>(method, path, body);
  }

  close() {
    this.client.close();
  }
}

function save(s: Stored) {
  localStorage.setItem(KEY, JSON.stringify(s));
}

/** The session kept from an earlier visit, if its token has not expired. */
export function restoreSession(): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Stored | null;
    if (!s?.token) return undefined;
    const id = identityOf(s.token);
    if (id.expiresAt !== undefined && id.expiresAt < Date.now() && !s.dev) return undefined;
    return new Session(s);
  } catch {
    return undefined;
  }
}

export function signIn(token: string, dev = false): Session {
  const s: Stored = { token: token.trim(), dev };
  const session = new Session(s); // throws on a token that is not a JWT
  save(s);
  return session;
}

export function signOut(session: Session | undefined) {
  localStorage.removeItem(KEY);
  session?.close();
}

/** The development server's local user, when it offers sign-in without a token. */
export async function devSignInUser(): Promise<string | undefined> {
  try {
    const r = await fetch('/v1/dev/sign-in');
    if (!r.ok) return undefined;
    return ((await r.json()) as { user?: string }).user;
  } catch {
    return undefined;
  }
}

async function devSignIn(): Promise<string> {
  const r = await fetch('/v1/dev/sign-in', { method: 'POST' });
  const body = await r.json().catch(() => ({}));
  if (!r.ok || typeof body.token !== 'string') throw new Error(body?.error?.message ?? `sign-in: HTTP ${r.status}`);
  return body.token;
}

export async function devSignInSession(): Promise<Session> {
  return signIn(await devSignIn(), true);
}
