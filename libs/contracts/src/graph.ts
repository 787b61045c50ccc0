import { z } from 'zod';
import { Json, JsonObject } from './json.js';

export const NODE_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const NodeId = z
  .string()
  .regex(NODE_ID_PATTERN, 'a node id is a letter then up to 63 letters, digits, _ or -');

export const REF_PATTERN = /^([A-Za-z][A-Za-z0-9_-]{0,63})\.outputs\.([A-Za-z_][A-Za-z0-9_]*)$/;
/** `{ "$ref": "<nodeId>.outputs.<field>" }`: an upstream node's output, resolved before this node runs. */
export const OutputRef = z
  .object({ $ref: z.string().regex(REF_PATTERN, 'expected "<nodeId>.outputs.<field>"') })
  .strict();
export type OutputRef = z.infer<typeof OutputRef>;

export function isOutputRef(value: unknown): value is OutputRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as { $ref?: unknown }).$ref === 'string'
  );
}

export function parseRef(ref: string): { nodeId: string; field: string } | null {
  const m = REF_PATTERN.exec(ref);
  return m ? { nodeId: m[1]!, field: m[2]! } : null;
}

/** Longest start-to-close timeout a node may ask for (7 days). */
export const MAX_NODE_TIMEOUT_SECONDS = 7 * 24 * 3600;

export const NodeSpec = z.object({
  id: z.string().min(1).max(64),
  task: z.string().min(1).max(128),
  version: z.string().max(64).optional(), // a semver range; absent = newest live version
  inputs: JsonObject.optional(),
  dependsOn: z.array(z.string()).max(256).optional(),
  attempts: z.number().int().min(1).max(20).optional(),
  timeoutSeconds: z.number().int().min(1).max(MAX_NODE_TIMEOUT_SECONDS).optional(),
});
export type NodeSpec = z.infer<typeof NodeSpec>;

export const GraphSpec = z.object({ nodes: z.array(NodeSpec) });
export type GraphSpec = z.infer<typeof GraphSpec>;

export const SubmitJobInput = z
  .object({
    graph: GraphSpec.optional(),
    template: z.string().min(1).max(128).optional(),
    params: Json.optional(),
    labels: JsonObject.optional(),
    priority: z.number().int().min(0).max(1000).optional(),
    idempotencyKey: z.string().min(1).max(200).optional(),
  })
  .refine((v) => (v.graph === undefined) !== (v.template === undefined), {
    message: 'give exactly one of graph or template',
  });
export type SubmitJobInput = z.infer<typeof SubmitJobInput>;

/** submitJobs takes at most this many inputs; every API key's rate-limit burst holds at least this many jobs. */
export const MAX_SUBMIT_BATCH = 100;
