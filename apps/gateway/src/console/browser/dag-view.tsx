// The job's DAG, laid out by dagre (left to right) and drawn as SVG: one box per node, coloured by its
// NodeStatus, with its progress; edges from each node's dependsOn.
import dagre from '@dagrejs/dagre';
import { useMemo } from 'react';
import type { JobDetailFragment } from './gql/graphql.js';

type Node = JobDetailFragment['nodes'][number];
const W = 190;
const H = 62;

export function DagView({ nodes }: { nodes: Node[] }) {
  const shape = useMemo(() => {
    const g = new dagre.graphlib.Graph();
    g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 56, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of nodes) g.setNode(n.id, { width: W, height: H });
    for (const n of nodes) for (const up of n.dependsOn) if (g.hasNode(up)) g.setEdge(up, n.id);
    dagre.layout(g);
    const graph = g.graph();
    return {
      width: Math.max(W + 16, graph.width ?? 0),
      height: Math.max(H + 16, graph.height ?? 0),
      boxes: g.nodes().map((id) => ({ id, ...(g.node(id) as { x: number; y: number }) })),
      edges: g.edges().map((e) => ({
        key: `${e.v}->${e.w}`,
        points: (g.edge(e) as { points: Array<{ x: number; y: number }> }).points,
      })),
    };
  }, [nodes.map((n) => `${n.id}:${n.dependsOn.join(',')}`).join('|')]);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return (
    <figure className="dag">
      <svg width={shape.width} height={shape.height} role="img" aria-label={`DAG of ${nodes.length} nodes`}>
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" className="dag-arrow" />
          </marker>
        </defs>
        {shape.edges.map((e) => (
          <polyline
            key={e.key}
            className="dag-edge"
            points={e.points.map((p) => `${p.x},${p.y}`).join(' ')}
            markerEnd="url(#arrow)"
          />
        ))}
        {shape.boxes.map((b) => {
          const n = byId.get(b.id)!;
          const pct = Math.round((n.status === 'SUCCEEDED' ? 1 : n.progress) * 100);
          return (
            <g
              key={b.id}
              transform={`translate(${b.x - W / 2},${b.y - H / 2})`}
              className={`dag-node node-${n.status.toLowerCase()}`}
              data-node-id={n.id}
            >
              <title>{`${n.id} (${n.task}@${n.taskVersion}): ${n.status}`}</title>
              <rect width={W} height={H} rx={6} />
              <text x={10} y={20} className="dag-id">
                {n.id}
              </text>
              <text x={10} y={38} className="dag-status">
                {n.status}
              </text>
              <rect x={10} y={46} width={W - 20} height={6} rx={3} className="dag-bar-bg" />
              <rect x={10} y={46} width={((W - 20) * pct) / 100} height={6} rx={3} className="dag-bar" />
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
