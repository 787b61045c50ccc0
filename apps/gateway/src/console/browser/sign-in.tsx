// Sign in with an API key: checked with one query before it is kept (sessionStorage only).
import { useState } from 'react';
import { ApiError, errorOf, request } from './api-client.js';
import { ErrorBox } from './common.js';
import { WhoAmIQuery } from './documents.js';

export function SignIn({ onSignedIn }: { onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: any) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await request(key.trim(), WhoAmIQuery);
      onSignedIn(key.trim());
    } catch (err) {
      setError(errorOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in">
      <h1>Switchyard console</h1>
      <form onSubmit={submit}>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="sy_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
          autoFocus
        />
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="hint">The key is kept in this tab's session storage only and is cleared on sign-out.</p>
        <ErrorBox error={error} title="Sign-in failed" />
      </form>
    </main>
  );
}
