import 'reflect-metadata';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import type { Logger } from 'pino';
import { ConfigError, type TlsSettings } from '#libs/config';
import { watchLifeline } from '#libs/local-stack';
import { PinoNestLogger, requestLogging, type RequestLoggingOptions } from '#libs/observability';
import { shutdownTracing } from '#libs/tracing';
import { closeIfAnsweredUnread } from './unread-body.js';

/**
 * Puts the access log, HSTS and `front` before the express app on the HTTP server's 'request' event: every
 * request gets the first two as before (they were express's first middleware), then `front` may take it.
 */
function inFrontOfExpress(server: Server, o: BootstrapOptions): void {
  const listeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  if (listeners.length !== 1)
    throw new Error(`expected express as the only request listener, found ${listeners.length}`);
  const express = listeners[0]!;
  server.removeListener('request', express);
  const log = requestLogging(o.logger, o.accessLog);
  const hsts = o.tls?.hstsMaxAgeSeconds ? `max-age=${o.tls.hstsMaxAgeSeconds}; includeSubDomains` : undefined;
  const front = o.front;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (hsts) res.setHeader('Strict-Transport-Security', hsts);
    closeIfAnsweredUnread(req, res);
    log(req, res, () => {
      const toExpress = (err: unknown) => {
        (req as { [FRONT_ERROR]?: unknown })[FRONT_ERROR] =
          err ?? new Error('no handler answered the request');
        express(req, res);
      };
      if (!front?.(req, res, toExpress)) express(req, res);
    });
  });
}

/**
 * Bounds how long a request may take to arrive (headers and body; answering is not counted): node answers 408
 * and closes the connection of one that takes longer. Node's default is 5 minutes: a client trickling a body
 * byte by byte would hold a connection and up to the body limit in memory for that long, and a few hundred of
 * them starve everyone else. Node checks only every `connectionsCheckingInterval` (30 s by default), read when
 * the server starts listening: a quarter of the timeout, at most 1 s, keeps the bound within that of the
 * setting (the check walks only connections with a request still arriving). `headersTimeout` must not exceed
 * `requestTimeout` (node's rule); headers alone get the same bound. WebSocket connections are not requests
 * once upgraded: graphql-ws bounds them (connection_init within 3 s, pings).
 */
export function boundRequestTime(server: Server, requestTimeoutMs: number): void {
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = requestTimeoutMs;
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(
    1_000,
    Math.max(100, Math.floor(requestTimeoutMs / 4)),
  );
}

/** Parse config, or print every problem and exit 78 (EX_CONFIG) before anything starts. */
export function configOrExit<T>(load: () => T, service: string): T {
  try {
    return load();
  } catch (e) {
    if (e instanceof ConfigError || e instanceof Error) {
      process.stderr.write(`${service}: ${e.message}\n`);
      process.exit(78);
    }
    throw e;
  }
}

/**
 * What an app calls when a check after start-up finds a deployment mistake that must not run (in production, a
 * Redis that evicts keys): the reason as a fatal log line and on stderr, then exit 78 (EX_CONFIG) like
 * `configOrExit`, so the orchestrator shows a configuration error rather than a crash.
 */
export function refuseToRun(service: string, logger: Logger): (err: Error) => never {
  return (err) => {
    logger.fatal({ err: err.message, code: (err as { code?: unknown }).code }, err.message);
    process.stderr.write(`${service}: ${err.message}\n`);
    process.exit(78);
  };
}

/** Longer than load balancers' usual 60 s idle timeout, so they close first (AWS ALB, nginx upstream keepalive). */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface BootstrapOptions {
  service: string;
  logger: Logger;
  module: unknown;
  port: number;
  host: string;
  /** SIGTERM/SIGINT → app.close() (every onModuleDestroy/onApplicationShutdown hook) within this, else exit 1. */
  shutdownGraceMs: number;
  /** Longest a request may take to arrive, headers and body (HTTP_REQUEST_TIMEOUT_MS; `boundRequestTime`). */
  requestTimeoutMs: number;
  /** Serve HTTPS (and so WSS) with this certificate, sending HSTS. */
  tls?: TlsSettings;
  /** Runs before init: mount middleware that must precede Nest's router (Apollo Server, see STACK.md). */
  beforeInit?: (app: INestApplication) => Promise<void>;
  /** Runs after listen: attach servers that share the HTTP server (graphql-ws). */
  afterListen?: (app: INestApplication) => Promise<void>;
  /** The access log's options (default: a line at info for every request but probes). */
  accessLog?: RequestLoggingOptions;
  /**
   * Requests the app answers in front of express (after the access log and HSTS, which every request gets):
   * returns true when it takes the request. A request it takes and cannot answer is given to express with
   * `toExpress(err)`, whose error handlers (the route's, then Nest's) answer it as if the error had been raised
   * by express middleware. Used for the GraphQL POSTs (see `graphqlLane`): without express's app and router
   * around steps that need none of them, the gateway spends 40–54 % less CPU per request (bench/README.md, issue
   * 12, session 17).
   */
  front?: (req: IncomingMessage, res: ServerResponse, toExpress: (err: unknown) => void) => boolean;
}

/** Where a request taken by `front` carries the error it hands to express. */
const FRONT_ERROR = Symbol('error raised in front of express');

/**
 * Start a Switchyard Nest app. We handle SIGTERM/SIGINT ourselves instead of `enableShutdownHooks()`:
 * Nest re-raises the signal after closing, so the process would die by signal; we close the app (the same
 * lifecycle hooks run) and exit 0, or 1 when shutdown overran its grace period.
 */
export async function bootstrapApp(o: BootstrapOptions): Promise<INestApplication> {
  const { logger } = o;
  process.on('unhandledRejection', (reason) =>
    logger.error(
      { err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : reason },
      'unhandled rejection',
    ),
  );
  // The launcher that started us is gone (npm start killed): leave too, through the normal shutdown once
  // there is an app to close, at once before that.
  const shutdown: { stop?: (signal: string) => void } = {};
  watchLifeline(() => {
    logger.warn('the launcher is gone (lifeline closed): shutting down');
    if (shutdown.stop) shutdown.stop('lifeline');
    else process.exit(1);
  });
  const app = await NestFactory.create(o.module as never, {
    logger: new PinoNestLogger(logger),
    bodyParser: false,
    httpsOptions: o.tls ? { cert: o.tls.cert, key: o.tls.key } : undefined,
  });
  // No ETag on answers built by res.send: it hashed every GraphQL answer (POSTs nobody revalidates).
  // Static files (serve-static) keep theirs.
  const expressApp = app.getHttpAdapter().getInstance() as { set(setting: string, value: unknown): void };
  expressApp.set('etag', false);
  // No `X-Powered-By: Express`: it names the framework to a scanner, and the requests answered in front of
  // express (`front`) would not carry it.
  expressApp.set('x-powered-by', false);
  // A request `front` took and handed back with an error goes straight to express's error handlers.
  app.use((req: { [FRONT_ERROR]?: unknown }, _res: unknown, next: (err?: unknown) => void) =>
    next(req[FRONT_ERROR]),
  );
  inFrontOfExpress(app.getHttpServer() as Server, o);
  // before listen: node reads connectionsCheckingInterval when the server starts listening
  boundRequestTime(app.getHttpServer() as Server, o.requestTimeoutMs);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ graceMs: o.shutdownGraceMs }, 'shutdown overran its grace period; exiting');
      process.exit(1);
    }, o.shutdownGraceMs);
    force.unref();
    app
      .close()
      // Spans of the shutdown itself are flushed before the process goes.
      .then(() => shutdownTracing())
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((e: unknown) => {
        logger.error({ err: e instanceof Error ? e.message : String(e) }, 'shutdown failed');
        process.exit(1);
      });
  };
  shutdown.stop = stop;
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await o.beforeInit?.(app);
  await app.listen(o.port, o.host);
  // Callers (the gateway's subgraph clients, proxies) keep idle connections open without a client-side idle
  // timeout; Node's 5 s server default closes them under their feet, and a request sent on a socket the server
  // is closing fails with "socket hang up". Idle connections live longer here than any caller's pause.
  // (headersTimeout was raised above this to 66 s, for node < 18, which counted a kept-alive connection's idle
  // time as waiting for headers; node 20 counts from the request's first byte, and bounds it with requestTimeout.)
  (app.getHttpServer() as Server).keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await o.afterListen?.(app);
  const scheme = o.tls ? 'https' : 'http';
  logger.info({ port: o.port, host: o.host }, `${o.service} listening on ${scheme}://${o.host}:${o.port}`);
  return app;
}
