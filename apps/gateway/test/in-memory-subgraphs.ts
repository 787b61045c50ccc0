// Two small federated subgraphs for the gateway's unit tests: "jobs" (JobEvent streams over graphql-ws: one
// job's, and the feed of every job's, each resumable by cursor) and "artifacts" (Job.artifacts via _entities). Real graphql-ws servers on loopback,
// in-memory data; each refuses a connection without a valid signed identity, like the real subgraphs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { verifyIdentity } from '#libs/auth';

/** A caller that may read both subgraphs' fields, and the subscription the forwarder specs send. */
export const TEST_IDENTITY = {
  tenant: 'acme',
  keyId: 'k1',
  scopes: ['jobs:read' as const, 'artifacts:read' as const],
};
export const JOB_EVENTS_SUBSCRIPTION =
  'subscription ($id: ID!) { jobEvents(jobId: $id) { seq type job { status artifacts { name } } } }';

export const TEST_SECRET = 'test-identity-secret-0123456789abcdef';

export const JOBS_SDL = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
enum JobStatus { QUEUED RUNNING SUCCEEDED FAILED CANCELLED }
enum JobEventType { JOB_QUEUED JOB_STARTED JOB_SUCCEEDED JOB_FAILED JOB_CANCELLED NODE_QUEUED NODE_STARTED NODE_PROGRESS NODE_RETRYING NODE_SUCCEEDED NODE_FAILED NODE_CANCELLED ARTIFACT_CREATED LOG }
type Job @key(fields: "id") { id: ID! status: JobStatus! }
type JobEvent { cursor: String! feedCursor: String seq: Int! jobId: ID! nodeId: ID type: JobEventType! progress: Float job: Job! }
type Query { job(id: ID!): Job jobFeedHead: String! }
type Subscription { jobEvents(jobId: ID!, after: String): JobEvent! jobFeed(after: String): JobEvent! }
`;

export const ARTIFACTS_SDL = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Artifact { id: ID! name: String! }
type Job @key(fields: "id") { id: ID! artifacts: [Artifact!]! }
type Query { artifact(id: ID!): Artifact }
`;

export function composeTestSupergraph(): string {
  const result = composeServices([
    { name: 'jobs', typeDefs: parse(JOBS_SDL), url: 'http://jobs.invalid/graphql' },
    { name: 'artifacts', typeDefs: parse(ARTIFACTS_SDL), url: 'http://artifacts.invalid/graphql' },
  ]);
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.supergraphSdl;
}

export interface TestEvent {
  seq: number;
  type: string;
  nodeId?: string;
  progress?: number;
}

/** An event in the feed: `position` (from 1) is its feedCursor. */
export interface FeedEntry {
  position: number;
  jobId: string;
  event: TestEvent;
}

/** The jobs subgraph's state: per-job event log, the feed of every job's events, plus live listeners. */
export class EventLog {
  readonly events = new Map<string, TestEvent[]>();
  readonly feed: FeedEntry[] = [];
  /** jobFeed subscriptions opened on the server, and how many times jobFeedHead was read. */
  feedOpened: { after: string | null; keyId: string }[] = [];
  headReads = 0;
  /** jobFeedHead answers this error instead (a subgraph that cannot say where its feed stands). */
  headError: string | null = null;
  readonly status = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  private readonly completed = new Set<string>();
  /** Subscriptions opened / ended on the server (to check teardown, resume, and on whose behalf). */
  opened: { jobId: string; after: string | null; tenant: string; keyId: string }[] = [];
  ended = 0;
  /** Behave like a source that cannot resume: replay from the start whatever `after` says. */
  ignoreAfter = false;

  append(jobId: string, type: string, extra: Partial<TestEvent> = {}): TestEvent {
    const list = this.events.get(jobId) ?? [];
    const event = { seq: list.length + 1, type, ...extra };
    list.push(event);
    this.events.set(jobId, list);
    this.feed.push({ position: this.feed.length + 1, jobId, event });
    if (type === 'JOB_SUCCEEDED') this.status.set(jobId, 'SUCCEEDED');
    for (const l of this.listeners) l();
    return event;
  }

  /** Ends every stream of the job once it has replayed what the job has (as the jobs subgraph does at its end). */
  complete(jobId: string): void {
    this.completed.add(jobId);
    for (const l of this.listeners) l();
  }

  /** Replays after `after`, then follows live; return() ends it at once, even while it waits. */
  stream(jobId: string, after: string | null): AsyncIterableIterator<TestEvent> {
    const start = after && !this.ignoreAfter ? Number(after) + 1 : 1;
    return this.follow(
      () => this.events.get(jobId) ?? [],
      start,
      () => this.completed.has(jobId),
    );
  }

  /** The feed right after position `after`, or from now on (live) without it; it never completes. */
  feedStream(after: string | null): AsyncIterableIterator<FeedEntry> {
    return this.follow(
      () => this.feed,
      after ? Number(after) + 1 : this.feed.length + 1,
      () => false,
    );
  }

  private follow<T>(items: () => T[], first: number, completed: () => boolean): AsyncIterableIterator<T> {
    let next = first;
    let done = false;
    let wake: (() => void) | null = null;
    const listener = () => wake?.();
    this.listeners.add(listener);
    const finish = () => {
      if (done) return;
      done = true;
      this.listeners.delete(listener);
      this.ended++;
      wake?.();
    };
    const iterator: AsyncIterableIterator<T> = {
      next: async () => {
        for (;;) {
          if (done) return { done: true, value: undefined };
          const list = items();
          if (next <= list.length) return { done: false, value: list[next++ - 1]! };
          if (completed()) {
            finish();
            return { done: true, value: undefined };
          }
          await new Promise<void>((r) => (wake = r));
        }
      },
      return: async () => {
        finish();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}

export interface RunningSubgraph {
  url: string;
  wsUrl: string;
  port: number;
  schema: GraphQLSchema;
  /** Drops every connection and stops listening (like a crash). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export function jobsSchema(log: EventLog): GraphQLSchema {
  return buildSubgraphSchema([
    {
      typeDefs: parse(JOBS_SDL),
      resolvers: {
        Query: {
          job: (_: unknown, { id }: { id: string }) => ({ id }),
          jobFeedHead: () => {
            log.headReads++;
            if (log.headError) throw new Error(log.headError);
            return String(log.feed.length);
          },
        },
        Job: {
          __resolveReference: (ref: { id: string }) => ref,
          status: (job: { id: string }) => log.status.get(job.id) ?? 'RUNNING',
        },
        Subscription: {
          jobEvents: {
            subscribe: (
              _: unknown,
              args: { jobId: string; after?: string | null },
              ctx: { tenant: string; keyId: string },
            ) => {
              log.opened.push({ jobId: args.jobId, after: args.after ?? null, ...ctx });
              return log.stream(args.jobId, args.after ?? null);
            },
            resolve: (e: TestEvent, args: { jobId: string }) => ({
              ...e,
              cursor: String(e.seq),
              jobId: args.jobId,
              job: { id: args.jobId },
            }),
          },
          jobFeed: {
            subscribe: (_: unknown, args: { after?: string | null }, ctx: { keyId: string }) => {
              log.feedOpened.push({ after: args.after ?? null, keyId: ctx.keyId });
              return log.feedStream(args.after ?? null);
            },
            resolve: ({ position, jobId, event }: FeedEntry) => ({
              ...event,
              cursor: String(event.seq),
              feedCursor: String(position),
              jobId,
              job: { id: jobId },
            }),
          },
        },
      } as never,
    },
  ]);
}

export function artifactsSchema(names: Map<string, string[]>): GraphQLSchema {
  return buildSubgraphSchema([
    {
      typeDefs: parse(ARTIFACTS_SDL),
      resolvers: {
        Query: { artifact: () => null },
        Job: {
          __resolveReference: (ref: { id: string }) => ref,
          artifacts: (job: { id: string }) =>
            (names.get(job.id) ?? []).map((name, i) => ({ id: `${job.id}-${i}`, name })),
        },
      } as never,
    },
  ]);
}

/** Serves `schema` over graphql-ws on /graphql, requiring a signed identity in connectionParams. */
export async function serveGraphqlWs(schema: GraphQLSchema, port = 0): Promise<RunningSubgraph> {
  let server: Server;
  let wss: WebSocketServer;
  let actualPort = port;
  const listen = async () => {
    server = createServer((_req, res) => res.writeHead(404).end());
    wss = new WebSocketServer({ server, path: '/graphql' });
    useServer(
      {
        schema,
        onConnect: (ctx) => {
          try {
            verifyIdentity(ctx.connectionParams?.identity as string | undefined, TEST_SECRET);
            return true;
          } catch {
            return false;
          }
        },
        context: (ctx) => {
          const { tenant, keyId } = verifyIdentity(ctx.connectionParams?.identity as string, TEST_SECRET);
          return { tenant, keyId };
        },
      },
      wss,
    );
    await new Promise<void>((r) => server.listen(actualPort, '127.0.0.1', r));
    actualPort = (server.address() as AddressInfo).port;
  };
  await listen();
  const kill = async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return {
    get url() {
      return `http://127.0.0.1:${actualPort}/graphql`;
    },
    get wsUrl() {
      return `ws://127.0.0.1:${actualPort}/graphql`;
    },
    get port() {
      return actualPort;
    },
    schema,
    kill,
    restart: listen,
    close: kill,
  };
}
