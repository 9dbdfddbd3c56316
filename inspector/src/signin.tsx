// Sign-in: paste a token, or, on a development server (loopback, generated
// secret), sign in as its local user with one click.
import { useEffect, useState } from 'preact/hooks';
import { devSignInSession, devSignInUser, signIn, type Session } from './session.js';

export function SignIn({ onSession }: { onSession: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [devUser, setDevUser] = useState<string>();
  useEffect(() => {
    devSignInUser().then(setDevUser);
  }, []);
  const submit = (e: Event) => {
    e.preventDefault();
    try {
      onSession(signIn(token));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section class="signin">
      <h1>Grimoire inspector</h1>
      <p>Runs, their graphs and timelines, and a playground for your spells.</p>
      {devUser && (
        <p>
          <button
            type="button"
            id="dev-sign-in"
            class="primary"
            onClick={() => devSignInSession().then(onSession, (err) => setError((err as Error).message))}
          >
            Sign in as {devUser}
          </button>{' '}
          <span class="muted">(this development server signs you in without a token)</span>
        </p>
      )}
      <form onSubmit={submit}>
        <label for="token">Token</label>
        <textarea id="token" name="token" rows={4} placeholder="eyJhbGciOi…" value={token} onInput={(e) => setToken((e.target as HTMLTextAreaElement).value)} />
        <p class="muted">
          <code>grimoire token create --user NAME --data DIR</code> prints one.
        </p>
        <button type="submit" disabled={!token.trim()}>
          Sign in
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
