import { NODE_ID_PATTERN, type GraphError, type NodeSpec } from '#libs/contracts';
import { dottedPath, findRefs, type FoundRef } from './refs.js';

/** The shape of a graph, independent of which tasks exist (also used to check templates at boot). */
export interface GraphStructure {
  errors: GraphError[];
  /** Per node id (first occurrence): every node it waits for ($ref sources + dependsOn), deduplicated, first mention first. */
  upstream: Map<string, string[]>;
  /** Node ids with upstream before downstream (ties in submission order), or null when the graph has a cycle. */
  order: string[] | null;
  /** Distinct upstream → downstream edges. */
  edgeCount: number;
  /** Output references of each node (first occurrence), including malformed ones. */
  refs: Map<string, FoundRef[]>;
}

/**
 * Checks ids, duplicates, dependsOn, $ref targets and cycles, reporting every problem it finds.
 * Task-dependent checks (task exists, inputs, output fields) are the planner's. `refusedIds` are the
 * ids of nodes already refused as malformed (and reported): they exist, but add no edges.
 */
export function analyzeGraph(nodes: readonly NodeSpec[], refusedIds: Iterable<string> = []): GraphStructure {
  const errors: GraphError[] = [];
  // Ids of nodes refused earlier still exist for dependsOn/$ref, so they cause no follow-on errors.
  const present = new Set(nodes.map((n) => n.id));
  const ids = new Set([...present, ...refusedIds]);
  const upstream = new Map<string, string[]>();
  const refs = new Map<string, FoundRef[]>();
  const selfLoops = new Set<string>();

  const occurrences = new Map<string, number>();
  for (const node of nodes) occurrences.set(node.id, (occurrences.get(node.id) ?? 0) + 1);
  for (const [id, count] of occurrences) {
    if (count > 1)
      errors.push({ code: 'DUPLICATE_NODE', nodeId: id, message: `node id "${id}" is used ${count} times` });
  }

  for (const node of nodes) {
    const first = !upstream.has(node.id);
    const waitsFor = new Set<string>();
    if (!NODE_ID_PATTERN.test(node.id)) {
      errors.push({
        code: 'INVALID_INPUT',
        nodeId: node.id,
        path: 'id',
        message: `node id "${node.id}" must be a letter then up to 63 letters, digits, _ or -`,
      });
    }
    (node.dependsOn ?? []).forEach((dep, i) => {
      if (dep === node.id) {
        selfLoops.add(node.id);
        errors.push({
          code: 'CYCLE',
          nodeId: node.id,
          path: `dependsOn.${i}`,
          message: `node "${node.id}" depends on itself`,
        });
      } else if (!ids.has(dep)) {
        errors.push({
          code: 'UNKNOWN_DEPENDENCY',
          nodeId: node.id,
          path: `dependsOn.${i}`,
          message: `node "${node.id}" depends on "${dep}", which is not a node of this graph`,
        });
      } else if (present.has(dep)) waitsFor.add(dep);
    });
    const nodeRefs = findRefs(node.inputs);
    for (const found of nodeRefs) {
      const path = dottedPath(['inputs', ...found.path]);
      if (!found.target) {
        errors.push({
          code: 'BAD_REFERENCE',
          nodeId: node.id,
          path,
          message: `"${found.ref}" is not a reference of the form "<nodeId>.outputs.<field>"`,
        });
      } else if (found.target.nodeId === node.id) {
        errors.push({
          code: 'BAD_REFERENCE',
          nodeId: node.id,
          path,
          message: `"${found.ref}" refers to the node's own output`,
        });
      } else if (!ids.has(found.target.nodeId)) {
        errors.push({
          code: 'BAD_REFERENCE',
          nodeId: node.id,
          path,
          message: `"${found.ref}" refers to "${found.target.nodeId}", which is not a node of this graph`,
        });
      } else if (present.has(found.target.nodeId)) waitsFor.add(found.target.nodeId);
    }
    // Later duplicates are checked above but add no edges: the graph is refused anyway.
    if (first) {
      upstream.set(node.id, [...waitsFor]);
      refs.set(node.id, nodeRefs);
    }
  }

  const nodeOrder = [...upstream.keys()];
  const downstream = new Map<string, string[]>(nodeOrder.map((id) => [id, []]));
  let edgeCount = 0;
  for (const [id, ups] of upstream) {
    for (const up of ups) {
      downstream.get(up)!.push(id);
      edgeCount++;
    }
  }

  const cycles = findCycles(nodeOrder, downstream);
  for (const cycle of cycles) {
    errors.push({
      code: 'CYCLE',
      nodeId: cycle[0],
      message: `nodes ${cycle.map((id) => `"${id}"`).join(', ')} form a cycle (${[...cycle, cycle[0]].join(' → ')})`,
    });
  }
  const order =
    cycles.length === 0 && selfLoops.size === 0 ? topologicalOrder(nodeOrder, upstream, downstream) : null;
  return { errors, upstream, order, edgeCount, refs };
}

/** Kahn's algorithm; ready nodes are taken in submission order so the plan is deterministic. */
function topologicalOrder(
  nodeOrder: string[],
  upstream: Map<string, string[]>,
  downstream: Map<string, string[]>,
): string[] {
  const position = new Map(nodeOrder.map((id, i) => [id, i]));
  const waiting = new Map(nodeOrder.map((id) => [id, upstream.get(id)!.length]));
  const ready = nodeOrder.filter((id) => waiting.get(id) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => position.get(a)! - position.get(b)!);
    const id = ready.shift()!;
    order.push(id);
    for (const down of downstream.get(id)!) {
      const left = waiting.get(down)! - 1;
      waiting.set(down, left);
      if (left === 0) ready.push(down);
    }
  }
  return order;
}

/**
 * One cycle per strongly connected component with more than one node (Tarjan, iterative so a large
 * graph cannot overflow the stack), each as the shortest cycle through the component's first node.
 */
function findCycles(nodeOrder: string[], downstream: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;

  for (const root of nodeOrder) {
    if (index.has(root)) continue;
    const work: Array<{ id: string; edge: number }> = [{ id: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = downstream.get(frame.id)!;
      if (frame.edge < edges.length) {
        const to = edges[frame.edge++]!;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ id: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.id, Math.min(low.get(frame.id)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.id, Math.min(low.get(parent.id)!, low.get(frame.id)!));
      if (low.get(frame.id) === index.get(frame.id)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.id);
        if (component.length > 1) components.push(component);
      }
    }
  }

  const position = new Map(nodeOrder.map((id, i) => [id, i]));
  return components
    .map((component) => shortestCycle(component, downstream, position))
    .sort((a, b) => position.get(a[0]!)! - position.get(b[0]!)!);
}

function shortestCycle(
  component: string[],
  downstream: Map<string, string[]>,
  position: Map<string, number>,
): string[] {
  const members = new Set(component);
  const start = [...component].sort((a, b) => position.get(a)! - position.get(b)!)[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  const seen = new Set([start]);
  while (queue.length > 0) {
    const id = queue.shift()!;
    for (const to of downstream.get(id)!) {
      if (!members.has(to)) continue;
      if (to === start) {
        const cycle = [id];
        while (cycle[0] !== start) cycle.unshift(previous.get(cycle[0]!)!);
        return cycle;
      }
      if (!seen.has(to)) {
        seen.add(to);
        previous.set(to, id);
        queue.push(to);
      }
    }
  }
  return [start]; // unreachable for a strongly connected component
}
