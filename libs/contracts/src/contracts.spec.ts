import {
  attemptJobId,
  parseAttemptJobId,
  LEASE_MAX_ATTEMPTS,
  leaseJobId,
  leaseDispatcher,
  DISPATCHER_ID_PATTERN,
  NodeLeasePayload,
  canonicalJson,
  GraphSpec,
  Identity,
  isOutputRef,
  JobEvent,
  JobEventType,
  JobStatus,
  NodeAttemptPayload,
  NodeReport,
  NodeStatus,
  parseContract,
  parseRef,
  SubmitJobInput,
  TaskManifest,
  WorkerManifest,
  workerTakesWork,
  ContractViolation,
  schemaHash,
  JobError,
  JOB_ERROR_MESSAGE_MAX,
  jobErrorMessage,
  ApiErrorCode,
  GraphErrorCode,
  JsonObject,
  plainJsonObject,
} from './index.js';
import { readFileSync } from 'node:fs';
import { parse, EnumTypeDefinitionNode } from 'graphql';

const at = '2026-11-28T12:00:00.000Z';

describe('status enums', () => {
  it('hold exactly the values of the public contract', () => {
    const doc = parse(readFileSync(new URL('../../../graphql/contract.graphql', import.meta.url), 'utf8'));
    const enumValues = (name: string) =>
      (
        doc.definitions.find(
          (d) => d.kind === 'EnumTypeDefinition' && d.name.value === name,
        ) as EnumTypeDefinitionNode
      ).values!.map((v) => v.name.value);
    expect([...JobStatus.options]).toEqual(enumValues('JobStatus'));
    expect([...NodeStatus.options]).toEqual(enumValues('NodeStatus'));
    expect([...JobEventType.options]).toEqual(enumValues('JobEventType'));
  });
  it('hold every error code the contract lists (extensions.code and GraphError.code)', () => {
    const contract = readFileSync(new URL('../../../graphql/contract.graphql', import.meta.url), 'utf8');
    // `# Errors carry extensions.code, one of: A, B (note), C …` up to the first blank line
    const header = /extensions\.code`, one of:([\s\S]*?)\n\n/.exec(contract)![1]!;
    const apiCodes = [...header.replace(/\([^)]*\)/g, '').matchAll(/\b[A-Z][A-Z_]{3,}\b/g)].map((m) => m[0]);
    expect(apiCodes).toContain('RATE_LIMITED');
    expect(apiCodes.filter((c) => !(ApiErrorCode.options as readonly string[]).includes(c))).toEqual([]);
    const graphLine = /type GraphError \{\s*code: String! # ([^\n]+)/.exec(contract)![1]!;
    expect([...GraphErrorCode.options]).toEqual(graphLine.split(',').map((c) => c.trim()));
  });
  it('reject loose strings', () => {
    expect(JobStatus.safeParse('succeeded').success).toBe(false);
    expect(NodeStatus.safeParse('DONE').success).toBe(false);
  });
});

describe('graph spec', () => {
  it('accepts nodes with $ref inputs', () => {
    const g = GraphSpec.parse({
      nodes: [
        { id: 'train', task: 'model.train', inputs: { dataset: 'a1' } },
        {
          id: 'eval',
          task: 'model.evaluate',
          inputs: { model: { $ref: 'train.outputs.model' }, dataset: 'a1' },
        },
      ],
    });
    expect(isOutputRef(g.nodes[1]!.inputs!.model)).toBe(true);
    expect(parseRef('train.outputs.model')).toEqual({ nodeId: 'train', field: 'model' });
    expect(parseRef('train.model')).toBeNull();
  });
  it('rejects a node without a task, and bad attempts', () => {
    expect(GraphSpec.safeParse({ nodes: [{ id: 'a' }] }).success).toBe(false);
    expect(GraphSpec.safeParse({ nodes: [{ id: 'a', task: 't', attempts: 0 }] }).success).toBe(false);
  });
  it('needs exactly one of graph or template', () => {
    expect(SubmitJobInput.safeParse({}).success).toBe(false);
    expect(SubmitJobInput.safeParse({ template: 'thumbnail', graph: { nodes: [] } }).success).toBe(false);
    expect(SubmitJobInput.safeParse({ template: 'thumbnail', params: { width: 3 } }).success).toBe(true);
  });
});

describe('manifests', () => {
  const task = {
    name: 'image.resize',
    version: '1.0.0',
    inputSchema: { type: 'object' },
    outputSchema: { type: 'object' },
    schemaHash: schemaHash({ type: 'object' }, { type: 'object' }),
    resources: { gpu: 0, vramGb: 0, cpu: 1 },
    timeoutMs: 60000,
    attempts: 3,
  };
  it('accepts a valid task and worker manifest', () => {
    expect(TaskManifest.parse(task).artifactFields).toEqual([]);
    const w = WorkerManifest.parse({
      id: 'w1',
      hostname: 'h',
      protocolVersion: '1.0',
      devices: [{ index: 0, kind: 'GPU', name: 'NVIDIA H200', memoryMb: 143771 }],
      actors: [{ id: 'w1/gpu0', device: 'GPU 0', resourceClass: 'gpu', state: 'IDLE', restarts: 0 }],
      tasks: [task],
      ready: true,
      startedAt: at,
      heartbeatAt: at,
    });
    expect(w.actors[0]!.state).toBe('IDLE');
    // an older worker publishes no `accepting`: its `ready` decides, as before
    expect(w.accepting).toBeUndefined();
    expect(workerTakesWork(w)).toBe(true);
    expect(workerTakesWork({ ready: false })).toBe(false);
    // a worker not ready for a quarantined actor, but running: it takes work on its other actors
    expect(workerTakesWork(WorkerManifest.parse({ ...w, ready: false, accepting: true }))).toBe(true);
    expect(workerTakesWork({ ready: true, accepting: false })).toBe(false); // draining
    expect(WorkerManifest.safeParse({ ...w, accepting: 'yes' }).success).toBe(false);
  });
  it('rejects a non-semver version and a bad hash', () => {
    expect(TaskManifest.safeParse({ ...task, version: 'v1' }).success).toBe(false);
    expect(TaskManifest.safeParse({ ...task, schemaHash: 'abc' }).success).toBe(false);
  });
  it('hashes schemas independently of key order', () => {
    expect(schemaHash({ a: 1, b: { c: 2, d: 3 } }, {})).toBe(schemaHash({ b: { d: 3, c: 2 }, a: 1 }, {}));
    expect(canonicalJson({ b: 1, a: [2, { z: 1, y: 2 }] })).toBe('{"a":[2,{"y":2,"z":1}],"b":1}');
  });
});

describe('events, payloads, reports, identity', () => {
  it('parse a valid event and refuse seq 0', () => {
    const e = { cursor: '1', seq: 1, jobId: 'j', tenant: 't', type: 'NODE_PROGRESS', progress: 0.5, at };
    expect(JobEvent.parse(e).seq).toBe(1);
    expect(JobEvent.safeParse({ ...e, seq: 0 }).success).toBe(false);
    expect(JobEvent.safeParse({ ...e, progress: 2 }).success).toBe(false);
  });
  it('parse an attempt payload; ids are BullMQ-safe', () => {
    const p = {
      jobId: 'j',
      tenant: 't',
      nodeId: 'a',
      attempt: 1,
      maxAttempts: 3,
      task: 'x',
      taskVersion: '1.0.0',
      inputs: {},
      timeoutMs: 1000,
      enqueuedAt: at,
    };
    expect(NodeAttemptPayload.parse(p).attempt).toBe(1);
    expect(NodeAttemptPayload.safeParse({ ...p, attempt: 0 }).success).toBe(false);
    expect(attemptJobId('j', 'a', 2)).not.toContain(':');
    const id = attemptJobId('6f1c2b0e-0d3a-4c1e-9a57-2b8f3c4d5e6f', 'resize', 2);
    expect(parseAttemptJobId(id)).toEqual({
      jobId: '6f1c2b0e-0d3a-4c1e-9a57-2b8f3c4d5e6f',
      nodeId: 'resize',
      attempt: 2,
    });
    expect(parseAttemptJobId('lease.x.a.1')).toBeNull();
    expect(parseAttemptJobId('~at-share')).toBeNull();
    // a lease carries 1..LEASE_MAX_ATTEMPTS attempts; its id is its first attempt's, prefixed (BullMQ: no ':')
    expect(NodeLeasePayload.parse({ attempts: [p, { ...p, nodeId: 'b' }] }).attempts).toHaveLength(2);
    expect(NodeLeasePayload.safeParse({ attempts: [] }).success).toBe(false);
    expect(
      NodeLeasePayload.safeParse({ attempts: Array.from({ length: LEASE_MAX_ATTEMPTS + 1 }, () => p) })
        .success,
    ).toBe(false);
    expect(NodeLeasePayload.safeParse({ attempts: [{ ...p, attempt: 0 }] }).success).toBe(false);
    expect(leaseJobId(p)).toBe(`lease.${attemptJobId(p.jobId, p.nodeId, p.attempt)}`);
    expect(leaseJobId(p)).not.toContain(':');
    // the replica that popped it rides along (attempt ids end in digits and node ids have no '@': unambiguous)
    expect(leaseJobId(p, 'r1a2')).toBe(`lease.${attemptJobId(p.jobId, p.nodeId, p.attempt)}@r1a2`);
    expect(leaseDispatcher(leaseJobId(p, 'r1a2'))).toBe('r1a2');
    expect(leaseDispatcher(leaseJobId(p))).toBeNull();
    expect(DISPATCHER_ID_PATTERN.test('r1a2')).toBe(true);
    for (const bad of ['', 'a:b', 'a.b', 'a@b']) expect(DISPATCHER_ID_PATTERN.test(bad)).toBe(false);
  });
  it('discriminate reports by type', () => {
    const base = { jobId: 'j', tenant: 't', nodeId: 'a', attempt: 1, workerId: 'w', at };
    const r = NodeReport.parse({
      ...base,
      type: 'failed',
      error: { code: 'STUCK', message: 'no heartbeat', retryable: true },
    });
    expect(r.type).toBe('failed');
    expect(
      NodeReport.safeParse({
        ...base,
        type: 'failed',
        error: { code: 'NOPE', message: 'x', retryable: true },
      }).success,
    ).toBe(false);
    expect(NodeReport.safeParse({ ...base, type: 'succeeded', outputs: {} }).success).toBe(false);
  });
  it('names the contract and the path in a violation', () => {
    expect(() =>
      parseContract(Identity, 'Identity', { tenant: 'Acme!', keyId: 'k', scopes: ['root'], exp: 1 }),
    ).toThrow(ContractViolation);
    try {
      parseContract(Identity, 'Identity', { tenant: 'acme', keyId: 'k', scopes: ['root'], exp: 1 });
    } catch (e) {
      expect((e as Error).message).toMatch(/^Identity: scopes\.0/);
    }
  });
});

describe('jobErrorMessage', () => {
  it.each([
    ['keeps a short message', 'boom', 'boom'],
    ['uses the fallback for a blank one', '', 'TASK_FAILED'],
  ])('%s', (_case, text, expected) => {
    expect(jobErrorMessage(text, 'TASK_FAILED')).toBe(expected);
  });
  it('clips a long message to the contract limit, ending in an ellipsis', () => {
    const clipped = jobErrorMessage('x'.repeat(JOB_ERROR_MESSAGE_MAX + 10));
    expect(clipped).toHaveLength(JOB_ERROR_MESSAGE_MAX);
    expect(clipped.endsWith('…')).toBe(true);
    expect(JobError.safeParse({ code: 'TASK_FAILED', message: clipped, retryable: true }).success).toBe(true);
  });
});

describe('plainJsonObject', () => {
  it('accepts only what JsonObject accepts, with the same copy; gives up on the rest', () => {
    const withSymbol = { a: 1, [Symbol('s')]: 2 };
    const hidden = Object.defineProperty({ a: 1 }, 'h', { value: 2, enumerable: false });
    const getter = Object.defineProperty({}, 'g', { get: () => 1, enumerable: true });
    const ownProto = JSON.parse('{"__proto__": {"x": 1}, "a": 1}') as unknown;
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    class Point {
      x = 1;
    }
    const samples: unknown[] = [
      { sleptMs: 0 },
      { a: [1, 'two', true, null, { b: [] }], c: { d: { e: -0.5 } }, '0': 'numeric key' },
      Object.assign(Object.create(null) as object, { a: 1 }),
      {},
      { n: Number.NaN },
      { n: Infinity },
      { u: undefined },
      { f: () => 1 },
      { d: new Date(0) },
      { m: new Map() },
      { big: 1n },
      { p: new Point() },
      { arr: sparse },
      [1, 2],
      'text',
      null,
      undefined,
      new Point(),
      withSymbol,
      hidden,
      getter,
      ownProto,
    ];
    let accepted = 0;
    for (const sample of samples) {
      const plain = plainJsonObject(sample);
      const parsed = JsonObject.safeParse(sample);
      if (plain === undefined) continue;
      accepted++;
      expect(parsed.success).toBe(true);
      expect(plain).toEqual(parsed.data);
      expect(plain).not.toBe(sample); // a copy, as the schema's
    }
    expect(accepted).toBe(4); // the first four; every other sample is left to the schema
    expect(plainJsonObject({ n: Number.NaN })).toBeUndefined();
    expect(JsonObject.safeParse({ n: Number.NaN }).success).toBe(false);
  });
});
