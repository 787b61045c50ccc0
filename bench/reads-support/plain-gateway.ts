/**
 * The peer: a plain @apollo/gateway (no API keys, limits or metrics) over the same supergraph file and the
 * same subgraphs, in its own process so its CPU is measured apart. It forwards one identity (the bench
 * tenant, read scopes) signed with the stack's identity secret, re-signed before the token expires.
 * Started by `startPlainGateway`; the child entry is this file run with PLAIN_GATEWAY_CHILD=1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';

export interface PlainGateway {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface PlainGatewayOptions {
  port: number;
  jobsUrl: string;
  artifactsUrl: string;
  identitySecret: string;
  tenant: string;
  supergraphPath: string;
}

export async function startPlainGateway(opts: PlainGatewayOptions): Promise<PlainGateway> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, PLAIN_GATEWAY_CHILD: '1', PLAIN_GATEWAY_OPTIONS: JSON.stringify(opts) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => child.exitCode === null && child.kill('SIGKILL'));
  await new Promise<void>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error('the plain gateway did not start within 180 s')), 180_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('plain-gateway ready')) {
        clearTimeout(timer);
        res();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`the plain gateway exited with ${code}: ${out}`));
    });
  });
  return {
    url: `http://127.0.0.1:${opts.port}/graphql`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function runChild(opts: PlainGatewayOptions): Promise<void> {
  const { ApolloGateway, RemoteGraphQLDataSource } = await import('@apollo/gateway');
  const { ApolloServer } = await import('@apollo/server');
  const { startStandaloneServer } = await import('@apollo/server/standalone');
  const { IDENTITY_HEADER, signIdentity } = await import('#libs/auth');
  const urls: Record<string, string> = { jobs: opts.jobsUrl, artifacts: opts.artifactsUrl };
  let token = '';
  let signedAt = 0;
  const identity = () => {
    // the subgraphs accept identity tokens for 60 s: re-sign every 20 s
    if (Date.now() - signedAt > 20_000) {
      token = signIdentity(
        { tenant: opts.tenant, keyId: 'plain-gateway', scopes: ['jobs:read', 'artifacts:read'] },
        opts.identitySecret,
      );
      signedAt = Date.now();
    }
    return token;
  };
  const gateway = new ApolloGateway({
    supergraphSdl: readFileSync(opts.supergraphPath, 'utf8'),
    buildService: ({ name, url }) =>
      new (class extends RemoteGraphQLDataSource {
        override willSendRequest({ request }: GraphQLDataSourceProcessOptions) {
          request.http?.headers.set(IDENTITY_HEADER, identity());
        }
      })({ url: urls[name] ?? url }),
  });
  const server = new ApolloServer({ gateway });
  await startStandaloneServer(server, { listen: { port: opts.port, host: '127.0.0.1' } });
  process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
  process.stdout.write('plain-gateway ready\n');
}

if (process.env.PLAIN_GATEWAY_CHILD === '1') {
  runChild(JSON.parse(process.env.PLAIN_GATEWAY_OPTIONS!) as PlainGatewayOptions).catch((e: unknown) => {
    process.stderr.write(`plain gateway failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}

export const DEFAULT_SUPERGRAPH = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../../../graphql/supergraph.graphql',
);
