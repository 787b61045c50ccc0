import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface S3ServerOptions {
  port: number;
  /** Objects live here as files, so a restart on the same dir keeps them. */
  dir: string;
  bucket?: string;
  address?: string;
}

/**
 * The embedded S3 server (s3rver) in its own process, so it can be stopped, killed and restarted like a real
 * one. It checks no signatures and does no multipart upload: production uses MinIO or S3.
 */
export function spawnS3Server(
  o: S3ServerOptions,
  spawnOpts: { stdio?: StdioOptions; detached?: boolean } = {},
): ChildProcess {
  mkdirSync(o.dir, { recursive: true });
  const s3rverPath = createRequire(import.meta.url).resolve('s3rver');
  const program = `
    const S3rver = require(${JSON.stringify(s3rverPath)});
    const server = new S3rver({ port: ${o.port}, address: ${JSON.stringify(o.address ?? '127.0.0.1')},
      directory: ${JSON.stringify(o.dir)}, silent: true, resetOnClose: false,
      configureBuckets: ${JSON.stringify(o.bucket ? [{ name: o.bucket }] : [])} });
    server.run().then(() => console.log('s3rver listening on ${o.port}'), (e) => { console.error(e); process.exit(1); });
    const stop = () => server.close().finally(() => process.exit(0));
    process.on('SIGTERM', stop); process.on('SIGINT', stop);
  `;
  return spawn(process.execPath, ['-e', program], {
    stdio: spawnOpts.stdio ?? 'ignore',
    detached: spawnOpts.detached,
  });
}
