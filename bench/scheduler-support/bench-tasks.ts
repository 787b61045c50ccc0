import {
  schemaHash,
  type JsonObject,
  type JsonSchema,
  type SubmitJobInput,
  type TaskManifest,
} from '#libs/contracts';

const num = { type: 'number' };
const obj = (properties: Record<string, unknown>): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

const task = (name: string, inputSchema: JsonSchema, outputSchema: JsonSchema): TaskManifest => ({
  name,
  version: '1.0.0',
  description: `benchmark task ${name}: arithmetic that returns at once`,
  inputSchema,
  outputSchema,
  schemaHash: schemaHash(inputSchema, outputSchema),
  resources: { gpu: 0, vramGb: 0, cpu: 1 },
  timeoutMs: 30_000,
  attempts: 1,
  artifactFields: [],
});

/** What the gpu-worker stand-in advertises: tasks whose work is nil, so only scheduling is measured. */
export const BENCH_TASKS: TaskManifest[] = [
  task('bench.emit', obj({ value: num }), obj({ value: num })),
  task('bench.add', obj({ a: num, b: num }), obj({ sum: num })),
  task('bench.join', obj({ left: num, right: num }), obj({ total: num })),
];

/** The stand-in's task bodies (outputs match the output schemas, which the scheduler checks). */
export function runBenchTask(task: string, inputs: JsonObject): JsonObject {
  switch (task) {
    case 'bench.emit':
      return { value: inputs.value as number };
    case 'bench.add':
      return { sum: (inputs.a as number) + (inputs.b as number) };
    case 'bench.join':
      return { total: (inputs.left as number) + (inputs.right as number) };
    default:
      throw new Error(`the benchmark worker has no task ${task}`);
  }
}

export const singleNodeJob = (i: number): SubmitJobInput => ({
  graph: { nodes: [{ id: 'only', task: 'bench.emit', inputs: { value: i } }] },
});

/** A → B, A → C, B + C → D: four nodes, three levels, one fan-out and one join. */
export const diamondJob = (i: number): SubmitJobInput => ({
  graph: {
    nodes: [
      { id: 'A', task: 'bench.emit', inputs: { value: i } },
      { id: 'B', task: 'bench.add', inputs: { a: { $ref: 'A.outputs.value' }, b: 10 } },
      { id: 'C', task: 'bench.add', inputs: { a: { $ref: 'A.outputs.value' }, b: 100 } },
      {
        id: 'D',
        task: 'bench.join',
        inputs: { left: { $ref: 'B.outputs.sum' }, right: { $ref: 'C.outputs.sum' } },
      },
    ],
  },
});

/** Levels on a diamond's critical path (A, then B|C, then D). */
export const DIAMOND_NODES = 4;
export const DIAMOND_LEVELS = 3;
