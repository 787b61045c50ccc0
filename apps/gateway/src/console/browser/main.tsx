// The Switchyard console: bundled by esbuild from node_modules (build-console.ts), served at /console.
import { useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { SessionContext, Link } from './common.js';
import { ConnectionBadge } from './connection-badge.js';
import { JobPage } from './job-page.js';
import { JobsPage } from './jobs-page.js';
import { LiveConnection } from './live-connection.js';
import { useRoute } from './router.js';
import { clearKey, readKey, saveKey } from './session.js';
import { SignIn } from './sign-in.js';
import { SubmitPage } from './submit-page.js';

function Console({ apiKey, onSignOut }: { apiKey: string; onSignOut: () => void }) {
  const live = useMemo(() => new LiveConnection(apiKey), [apiKey]);
  useEffect(() => () => live.dispose(), [live]);
  const route = useRoute();
  useEffect(() => {
    document.title =
      route.page === 'job'
        ? `Job ${route.id} · Switchyard`
        : route.page === 'submit'
          ? 'Submit · Switchyard'
          : 'Jobs · Switchyard';
  }, [route]);
  return (
    <SessionContext.Provider value={{ key: apiKey, live }}>
      <header className="top">
        <span className="brand">Switchyard</span>
        <nav aria-label="Main">
          <Link to={{ page: 'jobs' }} className={route.page === 'jobs' ? 'active' : ''}>
            Jobs
          </Link>
          <Link to={{ page: 'submit' }} className={route.page === 'submit' ? 'active' : ''}>
            Submit
          </Link>
          <a href="/playground">Playground</a>
        </nav>
        <ConnectionBadge live={live} />
        <button type="button" className="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main className="content">
        {route.page === 'job' ? (
          <JobPage key={route.id} id={route.id} />
        ) : route.page === 'submit' ? (
          <SubmitPage />
        ) : (
          <JobsPage />
        )}
      </main>
    </SessionContext.Provider>
  );
}

function App() {
  const [key, setKey] = useState(readKey);
  if (!key)
    return (
      <SignIn
        onSignedIn={(k) => {
          saveKey(k);
          setKey(k);
        }}
      />
    );
  return (
    <Console
      apiKey={key}
      onSignOut={() => {
        clearKey();
        setKey(null);
      }}
    />
  );
}

createRoot(document.getElementById('console')!).render(<App />);
