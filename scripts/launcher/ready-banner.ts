// What `npm start` prints once every app is ready; the dev API key follows alone on the last line.

export function readyBanner(o: { gatewayPort: number; seconds: number; logDir: string }): string[] {
  const base = `http://localhost:${o.gatewayPort}`;
  const gql = `${base}/graphql`;
  return [
    '',
    `Switchyard is up in ${o.seconds.toFixed(1)} s. GraphQL (HTTP + graphql-ws): ${gql}`,
    // The playground and the console ask for the key themselves (issue 15): no header to set by hand.
    `Console: ${base}/console   Playground: ${gql} (both ask for the key below)`,
    `Logs: ${o.logDir}   Stop: Ctrl-C   A crashed app is restarted (see its log)`,
    `Try: curl -s ${gql} -H 'content-type: application/json' -H "authorization: Bearer $KEY" -d '{"query":"{ capabilities { name versions } }"}'`,
    'Dev API key (tenant "dev", every scope):',
  ];
}
