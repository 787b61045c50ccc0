// GraphiQL for the Switchyard gateway, bundled from node_modules by esbuild (no CDN: works offline).
// It asks for the API key first (kept in sessionStorage, shared with /console), so the schema fetch runs
// with a real key: no error before a key is given, and docs and autocomplete work at once. Queries and
// mutations go over HTTP with `Authorization: Bearer <key>` (a header set in the Headers tab wins);
// subscriptions go over graphql-ws with it as connectionParams.authorization.
import { GraphiQL } from 'graphiql';
import { createClient } from 'graphql-ws';
import { parse, getOperationAST } from 'graphql';
import { useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import { KeyForm } from '../../browser/key-form.js';
import { EXAMPLE_TABS } from './example-tabs.js';

const KEY = 'switchyard.apiKey';
const base = document.querySelector('meta[name="switchyard-assets"]').content;
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    const name = label === 'json' ? 'json.worker' : label === 'graphql' ? 'graphql.worker' : 'editor.worker';
    return new Worker(`${base}/${name}.js`);
  },
};

const graphqlPath = document.querySelector('meta[name="switchyard-graphql-path"]').content;
const httpUrl = new URL(graphqlPath, location.href).toString();
const wsUrl = httpUrl.replace(/^http/, 'ws');
const clients = new Map();

function wsClient(authorization) {
  let client = clients.get(authorization);
  if (!client) {
    client = createClient({ url: wsUrl, connectionParams: { authorization } });
    clients.set(authorization, client);
  }
  return client;
}

function isSubscription(params) {
  try {
    return getOperationAST(parse(params.query), params.operationName)?.operation === 'subscription';
  } catch {
    return false;
  }
}

function fetcherFor(key) {
  return (params, opts) => {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(opts?.headers ?? {}),
    };
    // The old default header ("Bearer sy_...") may still sit in a tab stored by an earlier version.
    for (const h of ['Authorization', 'authorization'])
      if (/^Bearer sy_\.\.\.$/.test(headers[h] ?? '')) delete headers[h];
    if (!headers.Authorization && !headers.authorization) headers.authorization = `Bearer ${key}`;
    if (isSubscription(params))
      return wsClient(headers.Authorization ?? headers.authorization).iterate(params);
    return fetch(httpUrl, { method: 'POST', headers, body: JSON.stringify(params) }).then((r) => r.json());
  };
}

/** Checks the key with one request before GraphiQL starts; shows the API's code and message if refused. */
async function checkKey(key) {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: '{ __typename }' }),
  }).catch((e) => ({ network: e }));
  if (res.network) return { code: 'NETWORK', message: String(res.network.message ?? res.network) };
  const body = await res.json().catch(() => null);
  const error = body?.errors?.[0];
  if (error) return { code: error.extensions?.code ?? `HTTP_${res.status}`, message: error.message };
  if (!res.ok) return { code: `HTTP_${res.status}`, message: res.statusText };
  return null;
}

function KeyPrompt({ onKey }) {
  const [error, setError] = useState(null);
  const tryKey = async (key) => {
    const refused = await checkKey(key);
    if (refused) setError(refused);
    else onKey(key);
  };
  return (
    <main className="sy-prompt">
      <KeyForm
        heading={<h1>Switchyard GraphQL playground</h1>}
        inputId="sy-api-key"
        submitLabel="Use this key"
        busyLabel="Checking…"
        hintClassName="sy-hint"
        hint={
          <>
            Kept in this tab's session storage only (shared with <a href="/console">the console</a>). Sent as{' '}
            <code>Authorization: Bearer …</code>; subscriptions send it as{' '}
            <code>connectionParams.authorization</code>.
          </>
        }
        onSubmit={tryKey}
      >
        {error ? (
          <p className="sy-error" role="alert">
            <strong>{error.code}</strong> {error.message}
          </p>
        ) : null}
      </KeyForm>
    </main>
  );
}

function Playground({ apiKey, onSignOut }) {
  const fetcher = useMemo(() => fetcherFor(apiKey), [apiKey]);
  return (
    <div className="sy-frame">
      <div className="sy-bar">
        <span>
          Signed in with key <code>{apiKey.split('_').slice(0, 2).join('_')}_…</code>
        </span>
        <a href="/console">Console</a>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </div>
      <div className="sy-graphiql">
        <GraphiQL fetcher={fetcher} defaultTabs={EXAMPLE_TABS} shouldPersistHeaders={false} />
      </div>
    </div>
  );
}

function App() {
  const [key, setKey] = useState(() => sessionStorage.getItem(KEY));
  if (!key)
    return (
      <KeyPrompt
        onKey={(k) => {
          sessionStorage.setItem(KEY, k);
          setKey(k);
        }}
      />
    );
  return (
    <Playground
      apiKey={key}
      onSignOut={() => {
        sessionStorage.removeItem(KEY);
        setKey(null);
      }}
    />
  );
}

createRoot(document.getElementById('graphiql')).render(<App />);
