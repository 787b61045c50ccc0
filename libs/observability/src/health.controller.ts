import { Controller, Get, Header, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { ReadinessRegistry } from './readiness.js';
import { registry } from './metrics.js';

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<void>((_r, reject) => {
      t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

@Controller()
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(ReadinessRegistry) private readonly readiness: ReadinessRegistry,
  ) {}

  /** The process is up and its event loop answers. */
  @Get('health/live')
  @HealthCheck()
  live() {
    return this.health.check([
      async () => this.indicators.check('process').up({ uptimeSeconds: Math.round(process.uptime()) }),
    ]);
  }

  /** Every dependency answers (503 with the failing ones otherwise). */
  @Get('health/ready')
  @HealthCheck()
  ready() {
    return this.health.check(
      this.readiness.list().map((c) => async () => {
        const indicator = this.indicators.check(c.name);
        try {
          await withTimeout(c.check(), CHECK_TIMEOUT_MS);
          return indicator.up();
        } catch (e) {
          return indicator.down({ reason: e instanceof Error ? e.message : String(e) });
        }
      }),
    );
  }

  @Get('metrics')
  @Header('Content-Type', registry.contentType)
  async metrics(): Promise<string> {
    return registry.metrics();
  }
}
