// Sign in with an API key: checked with one query before it is kept (sessionStorage only).
import { useState } from 'react';
import { KeyForm } from '../../browser/key-form.js';
import { ApiError, errorOf, request } from './api-client.js';
import { ErrorBox } from './common.js';
import { WhoAmIQuery } from './documents.js';

export function SignIn({ onSignedIn }: { onSignedIn: (key: string) => void }) {
  const [error, setError] = useState<ApiError | null>(null);
  const signIn = async (key: string) => {
    setError(null);
    try {
      await request(key, WhoAmIQuery);
      onSignedIn(key);
    } catch (err) {
      setError(errorOf(err));
    }
  };
  return (
    <main className="sign-in">
      <h1>Switchyard console</h1>
      <KeyForm
        inputId="api-key"
        submitLabel="Sign in"
        busyLabel="Signing in…"
        hintClassName="hint"
        hint="The key is kept in this tab's session storage only and is cleared on sign-out."
        onSubmit={signIn}
      >
        <ErrorBox error={error} title="Sign-in failed" />
      </KeyForm>
    </main>
  );
}
