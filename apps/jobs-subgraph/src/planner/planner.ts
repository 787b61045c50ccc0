import semver from 'semver';
import {
  NodeSpec,
  resourceClassOf,
  type GraphError,
  type GraphSpec,
  type JsonObject,
  type ResourceClass,
  type SubmitJobInput,
  type TaskManifest,
} from '#libs/contracts';
import type { CapabilityCatalog } from '../registry/capability-catalog.js';
import type { TemplateRegistry } from '../templates/template-registry.js';
import { analyzeGraph } from './graph-structure.js';
import { dottedPath } from './refs.js';
import {
  describeTypes,
  inputValidatorKey,
  SchemaCompileError,
  schemaIssues,
  subschemaAt,
  taskSchemaValidators,
  typesCompatible,
  withoutRefIssues,
} from './schema-validation.js';
import { timeoutErrors } from './timeout-bounds.js';

export interface PlannerLimits {
  maxNodes: number;
  maxEdges: number;
  /** Bytes of the submitted graph (or template params) as JSON, and of the expanded graph; labels included. */
  maxInputBytes: number;
}

/**
 * Nodes a job may hold at most, whatever PLANNER_MAX_NODES says: what `Job.nodes` tells routers to count when no
 * `first` is given (@listSize assumedSize), so that a static cost never counts fewer nodes than a job answers.
 */
export const JOB_NODES_LIST_SIZE = 200;

export const DEFAULT_PLANNER_LIMITS: PlannerLimits = {
  maxNodes: JOB_NODES_LIST_SIZE,
  maxEdges: 2000,
  maxInputBytes: 256 * 1024,
};

export interface PlannedNode {
  id: string;
  task: string;
  taskVersion: string;
  resourceClass: ResourceClass;
  /** Literals and `{ $ref }` objects exactly as given (the scheduler resolves refs before the node runs). */
  inputs: JsonObject;
  /** Every node this one waits for: $ref sources + dependsOn, deduplicated. */
  upstream: string[];
  attempts: number;
  timeoutMs: number;
  /** The manifest the node was planned against (its outputSchema validates the node's outputs). */
  manifest: TaskManifest;
}

export interface PlannedJob {
  /** The template name when the job came from one. */
  template?: string;
  templateVersion?: number;
  /** In topological order: every node after all of its upstream nodes. */
  nodes: PlannedNode[];
}

/** GraphErrors one refusal lists; past it the rest are counted in one TOO_LARGE (see `fail`). */
export const MAX_GRAPH_ERRORS = 100;

export type PlanResult = { ok: true; plan: PlannedJob } | { ok: false; errors: GraphError[] };

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');

/**
 * Turns a submission (explicit graph or template + params) into a plan, or reports every problem at
 * once. Pure: reads only the catalog of live tasks and the templates it is given.
 */
export function planJob(
  input: SubmitJobInput,
  catalog: CapabilityCatalog,
  templates: TemplateRegistry,
  limits: Partial<PlannerLimits> = {},
): PlanResult {
  const max: PlannerLimits = { ...DEFAULT_PLANNER_LIMITS, ...limits };
  const hasGraph = input.graph !== undefined && input.graph !== null;
  const hasTemplate = input.template !== undefined && input.template !== null;
  if (hasGraph === hasTemplate) {
    return fail([{ code: 'INVALID_INPUT', message: 'give exactly one of graph or template' }]);
  }

  // Bound the work before doing any: an oversized submission is refused on size alone. Labels are stored
  // with the job, so they count too.
  const labelBytes = input.labels === undefined ? 0 : jsonBytes(input.labels);
  const withLabels = labelBytes > 0 ? ` (with ${labelBytes} bytes of labels)` : '';
  const submittedBytes = jsonBytes(hasGraph ? input.graph : input.params) + labelBytes;
  if (submittedBytes > max.maxInputBytes) {
    return fail([
      tooLarge(
        hasGraph ? 'graph' : 'params',
        `${submittedBytes} bytes of JSON${withLabels}, over the limit of ${max.maxInputBytes}`,
      ),
    ]);
  }

  let graph: unknown = input.graph;
  let template: { name: string; version: number } | undefined;
  if (hasTemplate) {
    const expansion = templates.expand(input.template!, input.params);
    if (!expansion.ok) return fail(expansion.errors);
    graph = expansion.graph;
    template = { name: expansion.name, version: expansion.version };
    const expandedBytes = jsonBytes(graph) + labelBytes;
    if (expandedBytes > max.maxInputBytes) {
      return fail([
        tooLarge(
          'params',
          `the expanded graph is ${expandedBytes} bytes of JSON${withLabels}, over the limit of ${max.maxInputBytes}`,
        ),
      ]);
    }
  }

  const result = planGraph(graph, catalog, max);
  if (!result.ok) return result;
  return {
    ok: true,
    plan: {
      ...(template ? { template: template.name, templateVersion: template.version } : {}),
      nodes: result.nodes,
    },
  };
}

function planGraph(
  graph: unknown,
  catalog: CapabilityCatalog,
  max: PlannerLimits,
): { ok: true; nodes: PlannedNode[] } | { ok: false; errors: GraphError[] } {
  const rawNodes = (graph as Partial<GraphSpec> | null)?.nodes;
  if (!Array.isArray(rawNodes))
    return fail([{ code: 'INVALID_INPUT', path: 'graph.nodes', message: 'graph.nodes must be a list' }]);
  if (rawNodes.length === 0)
    return fail([{ code: 'EMPTY_GRAPH', path: 'graph.nodes', message: 'the graph has no nodes' }]);
  if (rawNodes.length > max.maxNodes) {
    // Like the byte limit: refused on size alone, before any per-node work.
    return fail([tooLarge('graph.nodes', `${rawNodes.length} nodes, over the limit of ${max.maxNodes}`)]);
  }

  const errors: GraphError[] = [];
  // Each node is parsed on its own so one malformed node does not hide the others' problems.
  const nodes: NodeSpec[] = [];
  const refusedIds: string[] = [];
  rawNodes.forEach((raw, i) => {
    const parsed = NodeSpec.safeParse(raw);
    if (parsed.success) {
      nodes.push(parsed.data);
      return;
    }
    const id = (raw as { id?: unknown } | null)?.id;
    if (typeof id === 'string') refusedIds.push(id);
    for (const issue of parsed.error.issues) {
      const path = dottedPath(issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)));
      errors.push({
        code: 'INVALID_INPUT',
        ...(typeof id === 'string' ? { nodeId: id } : {}),
        path: path || `graph.nodes.${i}`,
        message: `${path || `node ${i}`}: ${issue.message}`,
      });
    }
  });

  const structure = analyzeGraph(nodes, refusedIds);
  errors.push(...structure.errors);
  if (structure.edgeCount > max.maxEdges) {
    errors.push(
      tooLarge('graph.nodes', `${structure.edgeCount} dependencies, over the limit of ${max.maxEdges}`),
    );
  }

  // Resolve each distinct node's task first: reference checks need the upstream node's manifest.
  const firstById = new Map<string, NodeSpec>();
  for (const node of nodes) if (!firstById.has(node.id)) firstById.set(node.id, node);
  const manifests = new Map<string, TaskManifest>();
  for (const node of firstById.values()) {
    const manifest = resolveTask(node, catalog, errors);
    if (manifest) manifests.set(node.id, manifest);
  }

  for (const node of firstById.values()) {
    const manifest = manifests.get(node.id);
    const refs = structure.refs.get(node.id) ?? [];
    for (const found of refs) {
      if (!found.target || found.target.nodeId === node.id) continue; // reported by analyzeGraph
      const source = manifests.get(found.target.nodeId);
      if (!source) continue; // unknown node or unresolved task: already reported
      const path = dottedPath(['inputs', ...found.path]);
      const produced = subschemaAt(source.outputSchema, [found.target.field]);
      const properties = source.outputSchema.properties;
      const declared =
        typeof properties === 'object' &&
        properties !== null &&
        Object.hasOwn(properties, found.target.field);
      if (!declared) {
        errors.push({
          code: 'BAD_REFERENCE',
          nodeId: node.id,
          path,
          message: `"${found.ref}": ${source.name}@${source.version} declares no output "${found.target.field}"`,
        });
        continue;
      }
      const expected = manifest ? subschemaAt(manifest.inputSchema, found.path) : undefined;
      if (manifest && !typesCompatible(produced, expected)) {
        errors.push({
          code: 'INVALID_INPUT',
          nodeId: node.id,
          path,
          message: `${path} expects ${describeTypes(expected)} but "${found.ref}" is ${describeTypes(produced)}`,
        });
      }
    }
    if (manifest) errors.push(...timeoutErrors(node, manifest));
    if (manifest)
      errors.push(
        ...inputErrors(
          node,
          manifest,
          refs.map((r) => r.path),
        ),
      );
  }

  if (errors.length > 0 || !structure.order) return fail(errors);

  return {
    ok: true,
    nodes: structure.order.map((id) => {
      const node = firstById.get(id)!;
      const manifest = manifests.get(id)!;
      return {
        id,
        task: manifest.name,
        taskVersion: manifest.version,
        resourceClass: resourceClassOf(manifest.resources),
        inputs: node.inputs ?? {},
        upstream: structure.upstream.get(id)!,
        attempts: node.attempts ?? manifest.attempts,
        timeoutMs: node.timeoutSeconds !== undefined ? node.timeoutSeconds * 1000 : manifest.timeoutMs,
        manifest,
      };
    }),
  };
}

function resolveTask(
  node: NodeSpec,
  catalog: CapabilityCatalog,
  errors: GraphError[],
): TaskManifest | undefined {
  if (!catalog.has(node.task)) {
    errors.push({
      code: 'UNKNOWN_TASK',
      nodeId: node.id,
      path: 'task',
      message: `no live worker offers task "${node.task}"`,
    });
    return undefined;
  }
  if (node.version !== undefined && semver.validRange(node.version) === null) {
    errors.push({
      code: 'INVALID_INPUT',
      nodeId: node.id,
      path: 'version',
      message: `"${node.version}" is not a semver range`,
    });
    return undefined;
  }
  const manifest = catalog.resolve(node.task, node.version);
  if (!manifest) {
    errors.push({
      code: 'VERSION_UNAVAILABLE',
      nodeId: node.id,
      path: 'version',
      message: `no live version of "${node.task}" satisfies "${node.version}"; live: ${catalog.versions(node.task).join(', ')}`,
    });
    return undefined;
  }
  return manifest;
}

function inputErrors(
  node: NodeSpec,
  manifest: TaskManifest,
  refPaths: Array<Array<string | number>>,
): GraphError[] {
  let validate;
  try {
    validate = taskSchemaValidators.get(inputValidatorKey(manifest), manifest.inputSchema);
  } catch (e) {
    if (!(e instanceof SchemaCompileError)) throw e;
    return [
      {
        code: 'INVALID_INPUT',
        nodeId: node.id,
        path: 'inputs',
        message: `the input schema of ${manifest.name}@${manifest.version} is not usable JSON Schema: ${e.message}`,
      },
    ];
  }
  return withoutRefIssues(schemaIssues(validate, node.inputs ?? {}), refPaths).map((issue) => {
    const path = dottedPath(['inputs', ...issue.path]);
    return { code: 'INVALID_INPUT', nodeId: node.id, path, message: `${path} ${issue.message}` };
  });
}

const tooLarge = (path: string, message: string): GraphError => ({ code: 'TOO_LARGE', path, message });

/**
 * A refusal, listing at most MAX_GRAPH_ERRORS problems and then one TOO_LARGE that counts them all: one problem
 * per input key (a 200 KB graph drew 14,002) made an answer eight times the request and ~1 s of CPU between this
 * subgraph and the gateway, ~30 times a valid graph of the same size.
 */
const fail = (errors: GraphError[]): { ok: false; errors: GraphError[] } =>
  errors.length <= MAX_GRAPH_ERRORS
    ? { ok: false, errors }
    : {
        ok: false,
        errors: [
          ...errors.slice(0, MAX_GRAPH_ERRORS),
          tooLarge('graph', `${errors.length} problems; the first ${MAX_GRAPH_ERRORS} are listed`),
        ],
      };
