// Hive Gateway (@graphql-hive/gateway, its CLI run with node) serving a supergraph composed as another team
// would: our committed subgraph SDL plus their own subgraph, with their router's own configuration
// (the one docs/federation.md shows).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { freePort, REPO_ROOT, waitFor } from '#libs/testing';

export interface SubgraphEndpoint {
  name: string;
  url: string;
  /** Committed SDL file (graphql/*.graphql) or the SDL itself. */
  sdl: { file: string } | { text: string };
}

/** Composes like a foreign team: @apollo/composition over our committed SDL files and theirs. */
export function composeForeignSupergraph(subgraphs: SubgraphEndpoint[]): string {
  const result = composeServices(
    subgraphs.map((s) => ({
      name: s.name,
      url: s.url,
      typeDefs: parse('file' in s.sdl ? readFileSync(join(REPO_ROOT, s.sdl.file), 'utf8') : s.sdl.text),
    })),
  );
  if (result.errors)
    throw new Error(`composition failed:\n${result.errors.map((e) => e.message).join('\n')}`);
  return result.supergraphSdl;
}

/**
 * The router configuration under test, as in docs/federation.md: forward `Authorization` to every
 * subgraph (HTTP), and open subscriptions to the jobs subgraph over graphql-ws with the same credential in
 * the connection_init payload. `context.headers` holds the client's headers (HTTP) or its connection
 * params (graphql-ws), so both client transports are covered.
 */
export const HIVE_GATEWAY_CONFIG = `
export const gatewayConfig = {
  transportEntries: {
    '*': {
      headers: [['authorization', '{context.headers.authorization}']],
    },
    jobs: {
      options: {
        subscriptions: {
          kind: 'ws',
          location: '/graphql',
          options: { connectionParams: { authorization: '{context.headers.authorization}' } },
        },
      },
    },
  },
};
`;

export interface HiveGateway {
  url: string;
  wsUrl: string;
  logs(): string;
  stop(): Promise<void>;
}

export async function startHiveGateway(dir: string, supergraphSdl: string): Promise<HiveGateway> {
  const supergraphPath = join(dir, 'supergraph.graphql');
  const configPath = join(dir, 'gateway.config.mjs');
  writeFileSync(supergraphPath, supergraphSdl);
  writeFileSync(configPath, HIVE_GATEWAY_CONFIG);
  const port = await freePort();
  let output = '';
  const bin = join(REPO_ROOT, 'node_modules/@graphql-hive/gateway/dist/bin.js');
  const proc: ChildProcess = spawn(
    process.execPath,
    [bin, 'supergraph', supergraphPath, '-c', configPath, '-p', String(port), '-h', '127.0.0.1'],
    { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}/graphql`;
  const stop = async () => {
    process.off('exit', killOnExit);
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`hive-gateway exited with ${proc.exitCode}:\n${output}`);
        const res = await fetch(`http://127.0.0.1:${port}/readiness`).catch(() => null);
        return res?.status === 200;
      },
      { timeoutMs: 60_000, what: 'Hive Gateway ready', logs: () => output.slice(-4000) },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, wsUrl: url.replace(/^http/, 'ws'), logs: () => output, stop };
}
