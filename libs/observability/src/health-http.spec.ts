import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { createLogger } from './logger.js';
import { METRIC_PREFIX } from './metrics.js';
import { ObservabilityModule } from './observability.module.js';
import { ReadinessRegistry } from './readiness.js';

/** The routes every Nest app of Switchyard serves, over HTTP, as a probe or Prometheus sees them. */
describe('health and metrics routes (HTTP)', () => {
  let app: INestApplication;
  let redisUp = true;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ObservabilityModule.forRoot({ service: 'http-spec', logger: createLogger('http-spec', 'silent') }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    moduleRef.get(ReadinessRegistry).register({
      name: 'redis',
      check: async () => {
        if (!redisUp) throw new Error('connection refused');
      },
    });
    await app.init();
  });

  afterAll(async () => {
    await app.close();
  });

  it('answers /health/live while the process runs', async () => {
    const res = await request(app.getHttpServer()).get('/health/live').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', info: { process: { status: 'up' } } });
  });

  it.each([
    [true, 200, { status: 'ok', info: { redis: { status: 'up' } } }],
    [false, 503, { status: 'error', error: { redis: { status: 'down', reason: 'connection refused' } } }],
  ])('answers /health/ready (redis up: %s) with %i', async (up, status, body) => {
    redisUp = up;
    const res = await request(app.getHttpServer()).get('/health/ready').expect(status);
    expect(res.body).toMatchObject(body);
  });

  it('serves Prometheus text at /metrics with the switchyard_ prefix', async () => {
    const res = await request(app.getHttpServer()).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toContain(`${METRIC_PREFIX}process_cpu_seconds_total`);
  });
});
