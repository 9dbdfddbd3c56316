// The inspector page: sign-in, then the runs list, a run, the spells.
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { RunView } from './run.js';
import { RunsList } from './runs.js';
import { href, useRoute } from './router.js';
import { restoreSession, signOut, type Session } from './session.js';
import { SignIn } from './signin.js';
import { SpellPlayground, SpellsList } from './spells.js';
import { UsageView } from './usageview.js';

function App() {
  const [session, setSession] = useState<Session | undefined>(restoreSession);
  const [connection, setConnection] = useState<'connecting' | 'connected' | 'reconnecting'>('connecting');
  const route = useRoute();

  useEffect(() => {
    if (!session) return;
    const c = session.client;
    const up = () => setConnection('connected');
    const down = () => setConnection('reconnecting');
    c.on('connect', up);
    c.on('disconnect', down);
    if (c.connected) up();
    c.ready.catch((err) => {
      // A refused token: back to sign-in.
      if ((err as { code?: string }).code?.startsWith('token')) {
        signOut(session);
        setSession(undefined);
      } else down();
    });
    return () => {
      c.off('connect', up);
      c.off('disconnect', down);
    };
  }, [session]);

  if (!session) return <SignIn onSession={setSession} />;
  return (
    <div class="app" data-connection={connection}>
      <nav class="top">
        <a class="brand" href={href('runs')}>
          Grimoire
        </a>
        <a href={href('runs')} class={route.view.startsWith('run') ? 'active' : ''}>
          Runs
        </a>
        <a href={href('spells')} class={route.view.startsWith('spell') ? 'active' : ''}>
          Spells
        </a>
        <a href={href('usage')} class={route.view === 'usage' ? 'active' : ''}>
          Usage
        </a>
        <span class="spacer" />
        <span id="connection" class={`conn conn-${connection}`} title="the socket the live updates come over">
          {connection === 'connected' ? 'live' : connection === 'reconnecting' ? 'reconnecting…' : 'connecting…'}
        </span>
        <span id="who">
          {session.identity.user}
          {session.identity.roles.length ? ` (${session.identity.roles.join(', ')})` : ''}
        </span>
        <button
          type="button"
          id="sign-out"
          onClick={() => {
            signOut(session);
            setSession(undefined);
          }}
        >
          Sign out
        </button>
      </nav>
      <main>
        {route.view === 'run' ? (
          <RunView key={route.id} session={session} runId={route.id!} />
        ) : route.view === 'spells' ? (
          <SpellsList session={session} />
        ) : route.view === 'usage' ? (
          <UsageView session={session} route={route} />
        ) : route.view === 'spell' ? (
          <SpellPlayground key={route.id} session={session} spellId={route.id!} />
        ) : (
          <RunsList session={session} route={route} />
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
