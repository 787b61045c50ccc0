import type { GraphError, NodeSpec, TaskManifest } from '#libs/contracts';

/**
 * A node's `timeoutSeconds` below its task's declared `minTimeoutSeconds` would only burn attempts and
 * kill runners (e.g. a training task given 1 s): refused as INVALID_INPUT. Without an override the task's
 * own default timeout applies, which the task SDK keeps at or above the minimum.
 */
export function timeoutErrors(
  node: Pick<NodeSpec, 'id' | 'timeoutSeconds'>,
  manifest: TaskManifest,
): GraphError[] {
  const min = manifest.minTimeoutSeconds;
  if (node.timeoutSeconds === undefined || min === undefined || node.timeoutSeconds >= min) return [];
  return [
    {
      code: 'INVALID_INPUT',
      nodeId: node.id,
      path: 'timeoutSeconds',
      message: `timeoutSeconds ${node.timeoutSeconds} is below the minimum of ${manifest.name}@${manifest.version} (${min} s)`,
    },
  ];
}
