import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '#libs/auth';
import { spawnRedisServer, spawnS3Server, waitForPort } from '#libs/local-stack';
import { freePort, startApp, tempDir, waitFor, type AppHandle } from '#libs/testing';

/** A CA and a server certificate for 127.0.0.1/localhost, made with Debian's openssl. */
function makeCertificates(dir: string) {
  const run = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=switchyard test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  const ext = join(dir, 'san.ext');
  spawnSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${ext}`]);
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    ext,
    '-out',
    'server.pem',
  );
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

/** An HTTPS request that trusts only the test CA. */
function httpsRequest(
  url: string,
  ca: Buffer,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: body ? 'POST' : 'GET',
        ca,
        headers: body ? { 'content-type': 'application/json', ...headers } : headers,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/**
 * TLS everywhere it can be: the gateway serves HTTPS (with HSTS) and WSS from TLS_CERT_FILE/TLS_KEY_FILE, the
 * apps reach Redis over `rediss://` and S3 over `https://`, all trusting a self-signed CA via NODE_EXTRA_CA_CERTS.
 */
describe('TLS: HTTPS and WSS at the gateway, rediss:// and https S3 behind it', () => {
  const dir = tempDir('tls');
  const certs = makeCertificates(dir);
  const ca = readFileSync(certs.ca);
  const servers: ChildProcess[] = [];
  const apps: AppHandle[] = [];
  let gatewayUrl = '';
  let redisUrl = '';

  beforeAll(async () => {
    const [redisPort, s3Port, jobsPort, artifactsPort, gatewayPort] = await Promise.all(
      Array.from({ length: 5 }, () => freePort()),
    );
    servers.push(
      spawnRedisServer({
        port: redisPort,
        dir: join(dir, 'redis'),
        extraArgs: [
          '--port',
          '0',
          '--tls-port',
          String(redisPort),
          '--tls-cert-file',
          certs.cert,
          '--tls-key-file',
          certs.key,
          '--tls-ca-cert-file',
          certs.ca,
          '--tls-auth-clients',
          'no',
        ],
      }),
      spawnS3Server({
        port: s3Port,
        dir: join(dir, 's3'),
        bucket: 'switchyard-tls',
        tls: { certFile: certs.cert, keyFile: certs.key },
      }),
    );
    await Promise.all([waitForPort(redisPort), waitForPort(s3Port)]);
    redisUrl = `rediss://127.0.0.1:${redisPort}`;
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      NODE_EXTRA_CA_CERTS: certs.ca,
      REDIS_URL: redisUrl,
      S3_ENDPOINT: `https://127.0.0.1:${s3Port}`,
      S3_ACCESS_KEY: 'S3RVER',
      S3_SECRET_KEY: 'S3RVER',
      S3_BUCKET: 'switchyard-tls',
      SWITCHYARD_DATA_DIR: dir,
      SWITCHYARD_IDENTITY_SECRET: 'tls-e2e-identity-secret-0123456789abcdef',
      JOBS_SUBGRAPH_PORT: String(jobsPort),
      ARTIFACTS_SUBGRAPH_PORT: String(artifactsPort),
      GATEWAY_PORT: String(gatewayPort),
      JOBS_SUBGRAPH_URL: `http://127.0.0.1:${jobsPort}/graphql`,
      ARTIFACTS_SUBGRAPH_URL: `http://127.0.0.1:${artifactsPort}/graphql`,
    };
    for (const [app, port] of [
      ['jobs-subgraph', jobsPort],
      ['artifacts-subgraph', artifactsPort],
    ] as const) {
      const h = await startApp(`dist/apps/${app}/src/main.js`, env, port);
      apps.push(h);
      await h.waitReady(90_000); // ready means Redis answered over TLS (and, for artifacts, the S3 preflight passed over HTTPS)
    }
    const gateway = await startApp(
      'dist/apps/gateway/src/main.js',
      { ...env, TLS_CERT_FILE: certs.cert, TLS_KEY_FILE: certs.key },
      gatewayPort,
    );
    apps.push(gateway);
    gatewayUrl = `https://127.0.0.1:${gatewayPort}`;
    await waitFor(async () => (await httpsRequest(`${gatewayUrl}/health/ready`, ca)).status === 200, {
      timeoutMs: 90_000,
      what: 'the gateway ready over HTTPS',
      logs: gateway.logs,
    });
  }, 180_000);

  afterAll(async () => {
    for (const a of apps.reverse()) await a.stop().catch(() => undefined);
    for (const s of servers) {
      s.kill('SIGKILL');
    }
  });

  it('answers GraphQL over HTTPS with HSTS, and refuses plain HTTP on the same port', async () => {
    const redis = new Redis(redisUrl, { tls: { ca } });
    const { key } = await new ApiKeyStore(redis).create({
      tenant: 'tls',
      scopes: ['jobs:read', 'artifacts:read'],
    });
    redis.disconnect();
    const res = await httpsRequest(
      `${gatewayUrl}/graphql`,
      ca,
      { query: '{ templates { name } }' },
      {
        authorization: `Bearer ${key}`,
      },
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).data.templates.length).toBeGreaterThan(0);
    expect(res.headers['strict-transport-security']).toMatch(/^max-age=31536000/);
    await expect(fetch(`${gatewayUrl.replace('https', 'http')}/health/live`)).rejects.toThrow();
  });

  it('accepts graphql-ws over WSS with the key in connectionParams', async () => {
    const redis = new Redis(redisUrl, { tls: { ca } });
    const { key } = await new ApiKeyStore(redis).create({ tenant: 'tls', scopes: ['jobs:read'] });
    redis.disconnect();
    class TrustingWebSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { ca });
      }
    }
    const client = createClient({
      url: `${gatewayUrl.replace('https', 'wss')}/graphql`,
      webSocketImpl: TrustingWebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
    });
    const acked = new Promise<void>((resolve, reject) => {
      client.on('connected', () => resolve());
      client.on('closed', (e) => reject(new Error(`closed: ${(e as { code?: number }).code}`)));
    });
    // Subscribing opens the socket; a job of another tenant's id answers NOT_FOUND, which proves the round trip.
    const result = new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: 'subscription { jobEvents(jobId: "00000000-0000-4000-8000-000000000000") { seq } }' },
        { next: resolve, error: resolve, complete: () => resolve('complete') },
      );
    });
    await acked;
    const outcome = JSON.stringify(await result);
    expect(outcome).toMatch(/NOT_FOUND|complete/);
    await client.dispose();
  });
});
