// Realistic manifests of the built-in tasks (fields as in the gpu-worker issue), for tests of the
// catalog, the planner and the scheduler. Schemas look like task-sdk's draft-07 output: strict objects.
import {
  PROTOCOL_VERSION,
  resourceClassOf,
  schemaHash,
  type JsonSchema,
  type TaskManifest,
  type WorkerManifest,
} from '#libs/contracts';

const artifactId = { type: 'string', minLength: 1, maxLength: 256, description: 'artifact id' };

export function taskManifest(
  fields: Omit<TaskManifest, 'schemaHash' | 'artifactFields'> & { artifactFields?: string[] },
): TaskManifest {
  return {
    artifactFields: [],
    ...fields,
    schemaHash: schemaHash(fields.inputSchema, fields.outputSchema),
  };
}

const imageResizeInput: JsonSchema = {
  type: 'object',
  properties: {
    image: artifactId,
    width: { type: 'integer', minimum: 1, maximum: 16384 },
    height: { type: 'integer', minimum: 1, maximum: 16384 },
    format: { type: 'string', enum: ['png', 'jpeg', 'webp'] },
  },
  required: ['image', 'width'],
  additionalProperties: false,
};
const imageResizeOutput: JsonSchema = {
  type: 'object',
  properties: { image: artifactId, width: { type: 'integer' }, height: { type: 'integer' } },
  required: ['image', 'width', 'height'],
  additionalProperties: false,
};

export const imageResize = (version = '1.0.0'): TaskManifest =>
  taskManifest({
    name: 'image.resize',
    version,
    description: 'Resize an image (aspect kept when height is absent)',
    inputSchema: imageResizeInput,
    outputSchema: imageResizeOutput,
    resources: { gpu: 0, vramGb: 0, cpu: 1 },
    timeoutMs: 60_000,
    attempts: 3,
    artifactFields: ['image'],
  });

export const modelTrain = (version = '1.0.0'): TaskManifest =>
  taskManifest({
    name: 'model.train',
    version,
    description: 'Train a small classifier on a CSV dataset',
    inputSchema: {
      type: 'object',
      properties: {
        dataset: artifactId,
        epochs: { type: 'integer', minimum: 1, maximum: 1000 },
        learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        validationSplit: { type: 'number', minimum: 0, maximum: 0.9 },
      },
      required: ['dataset'],
      additionalProperties: false,
    },
    outputSchema: {
      type: 'object',
      properties: {
        model: artifactId,
        loss: { type: 'number' },
        accuracy: { type: 'number', minimum: 0, maximum: 1 },
        epochs: { type: 'integer' },
      },
      required: ['model', 'loss', 'accuracy', 'epochs'],
      additionalProperties: false,
    },
    resources: { gpu: 1, vramGb: 2, cpu: 2 },
    timeoutMs: 600_000,
    attempts: 2,
    artifactFields: ['model'],
  });

export const modelEvaluate = (version = '1.0.0'): TaskManifest =>
  taskManifest({
    name: 'model.evaluate',
    version,
    description: 'Evaluate a trained model on a CSV dataset',
    inputSchema: {
      type: 'object',
      properties: { model: artifactId, dataset: artifactId },
      required: ['model', 'dataset'],
      additionalProperties: false,
    },
    outputSchema: {
      type: 'object',
      properties: {
        accuracy: { type: 'number', minimum: 0, maximum: 1 },
        loss: { type: 'number' },
        rows: { type: 'integer', minimum: 0 },
      },
      required: ['accuracy', 'loss', 'rows'],
      additionalProperties: false,
    },
    resources: { gpu: 1, vramGb: 1, cpu: 1 },
    timeoutMs: 300_000,
    attempts: 2,
  });

/**
 * A ready, accepting worker offering `tasks`, by default with one IDLE actor of each resource class they need (as a real
 * worker advertises only tasks some actor of its own can lease).
 */
export function workerManifest(
  id: string,
  tasks: TaskManifest[],
  overrides: Partial<WorkerManifest> = {},
): WorkerManifest {
  const now = new Date().toISOString();
  const classes = [...new Set(tasks.map((t) => resourceClassOf(t.resources)))].sort().reverse(); // gpu first
  return {
    id,
    hostname: `host-${id}`,
    protocolVersion: PROTOCOL_VERSION,
    devices: [{ index: 0, kind: 'GPU', name: 'NVIDIA H200', memoryMb: 143771 }],
    actors: (classes.length ? classes : (['gpu'] as const)).map((rc) => ({
      id: `${id}/${rc}0`,
      device: `${rc.toUpperCase()} 0`,
      resourceClass: rc,
      state: 'IDLE' as const,
      restarts: 0,
    })),
    tasks,
    ready: true,
    accepting: true,
    startedAt: now,
    heartbeatAt: now,
    ...overrides,
  };
}
