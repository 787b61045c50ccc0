// GraphiQL for the Switchyard gateway, bundled from node_modules by esbuild (no CDN: works offline).
// Queries and mutations go over HTTP with the headers from the Headers tab; subscriptions go over
// graphql-ws on the same path, with the Authorization header sent as connectionParams.authorization.
import { GraphiQL } from 'graphiql';
import { createClient } from 'graphql-ws';
import { parse, getOperationAST } from 'graphql';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';

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

function fetcher(params, opts) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
    ...(opts?.headers ?? {}),
  };
  if (isSubscription(params)) {
    const authorization = headers.Authorization ?? headers.authorization ?? '';
    return wsClient(authorization).iterate(params);
  }
  return fetch(httpUrl, { method: 'POST', headers, body: JSON.stringify(params) }).then((r) => r.json());
}

const defaultQuery = `# Put your API key in the Headers tab below: {"Authorization": "Bearer sy_..."}
query Capabilities {
  capabilities { name versions workers }
}

subscription Events($jobId: ID!) {
  jobEvents(jobId: $jobId) { seq type progress job { status artifacts { name } } }
}
`;

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={defaultQuery}
    defaultHeaders={'{\n  "Authorization": "Bearer sy_..."\n}'}
    shouldPersistHeaders={true}
    defaultEditorToolsVisibility="headers"
  />,
);
