import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { BULLMQ_PREFIX, NODE_QUEUES } from '#libs/contracts';
import { metrics, type Logger } from '#libs/observability';
import { createRedis, quitRedis, type RedisTarget } from '#libs/redis';
import type { Authenticator } from '../auth/authenticator.js';
import type { OperationGuard } from '../limits/operation-guard.js';
import { adminAccess, adminActionGate, type AdminOutcome } from './admin-access.js';
import { adminSecurityHeaders, renderWithoutExternalLinks } from './admin-page.js';

/** Where the gateway serves bull-board. */
export const ADMIN_QUEUES_PATH = '/admin/queues';

export interface AdminQueueBoardDeps {
  redis: RedisTarget;
  logger: Logger;
  authenticator: Authenticator;
  guard: OperationGuard;
}

/**
 * bull-board over the BullMQ node queues (NODE_QUEUES), for holders of an `admin` key. It has its own
 * Redis connection: BullMQ Queues only issue plain commands (no blocking reads), so it is a fail-fast
 * `command` connection, and a page load during an outage answers an error instead of hanging.
 */
export class AdminQueueBoard {
  private readonly redis: Redis;
  private readonly queues: Map<string, Queue>;
  private readonly board = new ExpressAdapter();
  private readonly outcomes = metrics.counter({
    name: 'switchyard_gateway_admin_requests_total',
    help: 'Requests to the queue admin UI by outcome (allowed, unauthenticated, forbidden, rate_limited, unavailable, action_refused, cross_site)',
    labelNames: ['outcome'],
  });

  constructor(private readonly deps: AdminQueueBoardDeps) {
    this.redis = createRedis({
      ...deps.redis,
      name: 'gateway-admin-queues',
      role: 'command',
      logger: deps.logger,
    });
    this.queues = new Map(
      Object.values(NODE_QUEUES).map((name) => {
        const queue = new Queue(name, { connection: this.redis, prefix: BULLMQ_PREFIX });
        // The connection logs its own errors (createRedis); a Queue re-emits them and must not crash the gateway.
        queue.on('error', (err) => deps.logger.debug({ queue: name, err: err.message }, 'admin queue error'));
        return [name, queue];
      }),
    );
    this.board.setBasePath(ADMIN_QUEUES_PATH);
    // Actions are narrowed by adminActionGate; these flags only decide which buttons the UI shows.
    // (BaseAdapter reads allowCompletedRetries; BullMQAdapter's constructor type omits it.)
    const adapterOptions = {
      readOnlyMode: false,
      allowRetries: true,
      allowCompletedRetries: false,
      description: 'Switchyard node attempts (one BullMQ job per attempt)',
    };
    createBullBoard({
      queues: [...this.queues.values()].map((queue) => new BullMQAdapter(queue, adapterOptions)),
      serverAdapter: this.board,
      options: { uiConfig: { boardTitle: 'Switchyard queues', hideDocsLink: true } },
    });
    (this.board.getRouter() as { disable(setting: string): void }).disable('x-powered-by');
  }

  /** Express handlers for ADMIN_QUEUES_PATH, mounted before Nest's router (like Apollo). */
  handlers(): RequestHandler[] {
    const outcome = (o: AdminOutcome) => this.outcomes.inc({ outcome: o });
    return [
      adminSecurityHeaders,
      adminAccess({ authenticator: this.deps.authenticator, guard: this.deps.guard, outcome }),
      adminActionGate({
        jobState: async (queueName, jobId) => {
          const state = await this.queues.get(queueName)?.getJobState(jobId);
          // No such queue or job: bull-board answers 404 itself.
          return state === undefined || state === 'unknown' ? null : state;
        },
        outcome,
        logger: this.deps.logger,
      }),
      renderWithoutExternalLinks,
      this.board.getRouter() as RequestHandler,
    ];
  }

  /** Closes the Queues, then the connection; bounded, so an unreachable Redis cannot stall shutdown. */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all([...this.queues.values()].map((q) => q.close())),
        new Promise((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
    } catch (e) {
      this.deps.logger.warn(
        { err: e instanceof Error ? e.message : String(e) },
        'closing admin queues failed',
      );
    } finally {
      clearTimeout(timer);
    }
    await quitRedis(this.redis, timeoutMs);
  }
}
