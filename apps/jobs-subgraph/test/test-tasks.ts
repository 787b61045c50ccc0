import { schemaHash, type JsonSchema, type TaskManifest } from '#libs/contracts';

const task = (
  name: string,
  inputSchema: JsonSchema,
  outputSchema: JsonSchema,
  extra: Partial<TaskManifest> = {},
): TaskManifest => ({
  name,
  version: '1.0.0',
  description: `test task ${name}`,
  inputSchema,
  outputSchema,
  schemaHash: schemaHash(inputSchema, outputSchema),
  resources: { gpu: 0, vramGb: 0, cpu: 1 },
  timeoutMs: 30_000,
  attempts: 3,
  artifactFields: [],
  ...extra,
});

const num = { type: 'number' };
const obj = (properties: Record<string, unknown>, required = Object.keys(properties)): JsonSchema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

/** Tasks the in-test worker runs: small arithmetic so every output is checkable. */
export const TEST_TASKS = {
  emit: task('test.emit', obj({ value: num }), obj({ value: num })),
  add: task('test.add', obj({ a: num, b: num }), obj({ sum: num })),
  join: task('test.join', obj({ left: num, right: num }), obj({ total: num })),
  /** Fails with a retryable error (attempts: 3). */
  flaky: task('test.flaky', obj({ value: num }), obj({ value: num })),
  /** Sleeps `ms`, reporting progress, unless cancelled. */
  slow: task('test.slow', obj({ ms: num }), obj({ slept: num })),
  /** Runs on the gpu queue (no worker for it unless a test offers one). */
  gpu: task('test.gpu', obj({ value: num }), obj({ value: num }), {
    resources: { gpu: 1, vramGb: 1, cpu: 1 },
  }),
} satisfies Record<string, TaskManifest>;

export type TestTaskName = keyof typeof TEST_TASKS;
