/*
 * Test harness entry: stages one output through the real ArtifactRepository (real Redis, real S3) and SIGKILLs
 * its own process as soon as the object's put has resolved, before the record is written: a worker that dies
 * (OOM kill, power loss, the drain's hard exit) between the two. Prints {"put":"<object key>"} first.
 * Tests bundle it (bundleChild) and run it with one JSON argument, StageThenDieArgs.
 * Usage: node stage-then-die-child.mjs '<json>'
 */
import { writeSync } from 'node:fs';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { ArtifactRepository, type StorageLogger } from '#libs/storage';
import { AfterPutStore } from './after-put-store.js';

const StageThenDieArgs = z.object({
  redisUrl: z.string(),
  s3: z.object({ endpoint: z.string(), accessKey: z.string(), secretKey: z.string(), bucket: z.string() }),
  stage: z.object({
    tenant: z.string(),
    jobId: z.string(),
    nodeId: z.string(),
    attempt: z.number().int().positive(),
    name: z.string(),
    text: z.string(),
  }),
});
/** Its argument (import it as a type only: importing this module runs it). */
export type StageThenDieArgs = z.infer<typeof StageThenDieArgs>;

const args = StageThenDieArgs.parse(JSON.parse(process.argv[2] ?? '{}'));
const quiet: StorageLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const store = new AfterPutStore(args.s3, quiet, (key) => {
  writeSync(1, `${JSON.stringify({ put: key })}\n`); // synchronous: nothing after the kill gets out
  process.kill(process.pid, 'SIGKILL');
});
const repo = new ArtifactRepository(new Redis(args.redisUrl), store, quiet);
const { text, ...stage } = args.stage;
await repo.stage({ ...stage, contentType: 'application/octet-stream', source: Buffer.from(text) });
writeSync(1, `${JSON.stringify({ survived: true })}\n`);
process.exit(1);
