// A small traced service for tracing.spec.ts: the same first import as our apps, then express, ioredis
// and fetch. It prints {"port":N} once listening. No SIGTERM handler of its own, so the tracing lib's
// flush-then-re-raise path is what ends it.
import '#libs/tracing';
import express from 'express';
import { Redis } from 'ioredis';

const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL) : null;
const app = express();
app.get('/plain', (_req, res) => {
  res.json({ ok: true });
});
app.get('/items/:id', async (req, res) => {
  if (redis) await redis.set(`traced:${req.params.id}`, '1');
  const inner = await fetch(`http://127.0.0.1:${server.address().port}/plain`);
  res.json({ id: req.params.id, inner: await inner.json() });
});
// A Lua step as our apps run them: keys, then arguments that may hold a tenant's data (a job's labels, params).
app.get('/lua/:id', async (req, res) => {
  if (redis)
    await redis.eval('return 1', 1, `traced:${req.params.id}`, String(req.headers['x-payload'] ?? ''));
  res.json({ ok: true });
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
