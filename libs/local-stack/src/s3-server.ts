import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { LIFELINE_FD } from './lifeline.js';
import type { SpawnOptions } from './redis-server.js';

/** watchLifeline() inlined into the server's one-file program: stop when the launcher is gone. */
const LIFELINE_WATCH = `
    const line = new (require('node:net').Socket)({ fd: ${LIFELINE_FD}, readable: true, writable: false });
    line.on('data', () => {}); line.once('end', stop); line.once('close', stop); line.once('error', stop);
    line.unref();`;

/**
 * CORS for the bucket, so that a browser (the console at the gateway's origin) can PUT to a presigned upload
 * URL and read a download URL; the URLs themselves are the authorisation. MinIO allows any origin by default.
 */
const BROWSER_CORS =
  '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>' +
  '<AllowedMethod>HEAD</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedHeader>*</AllowedHeader>' +
  '<ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>';

export interface S3ServerOptions {
  port: number;
  /** Objects live here as files, so a restart on the same dir keeps them. */
  dir: string;
  bucket?: string;
  address?: string;
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { certFile: string; keyFile: string };
}

/**
 * The embedded S3 server (s3rver) in its own process, so it can be stopped, killed and restarted like a real
 * one. It checks no signatures and does no multipart upload: production uses MinIO or S3.
 */
export function spawnS3Server(o: S3ServerOptions, spawnOpts: SpawnOptions = {}): ChildProcess {
  mkdirSync(o.dir, { recursive: true });
  const s3rverPath = createRequire(import.meta.url).resolve('s3rver');
  const program = `
    const S3rver = require(${JSON.stringify(s3rverPath)});
    const server = new S3rver({ port: ${o.port}, address: ${JSON.stringify(o.address ?? '127.0.0.1')},
      directory: ${JSON.stringify(o.dir)}, silent: true, resetOnClose: false,
      configureBuckets: ${JSON.stringify(o.bucket ? [{ name: o.bucket, configs: [BROWSER_CORS] }] : [])},
      ${o.tls ? `key: require('node:fs').readFileSync(${JSON.stringify(o.tls.keyFile)}), cert: require('node:fs').readFileSync(${JSON.stringify(o.tls.certFile)}),` : ''} });
    server.run().then(() => console.log('s3rver listening on ${o.port}'), (e) => { console.error(e); process.exit(1); });
    const stop = () => server.close().finally(() => process.exit(0));
    process.on('SIGTERM', stop); process.on('SIGINT', stop);
    ${spawnOpts.lifeline ? LIFELINE_WATCH : ''}
  `;
  return spawn(process.execPath, ['-e', program], {
    stdio: spawnOpts.stdio ?? 'ignore',
    detached: spawnOpts.detached,
    env: spawnOpts.env,
  });
}
