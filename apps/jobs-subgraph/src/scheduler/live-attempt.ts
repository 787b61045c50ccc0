import type { ResourceClass } from '#libs/contracts';

/** "nodeId|attempt|resourceClass", as the Lua scripts list live attempts. */
export interface LiveAttempt {
  nodeId: string;
  attempt: number;
  resourceClass: ResourceClass;
}

export const parseLive = (s: string): LiveAttempt => {
  const [nodeId, attempt, resourceClass] = s.split('|');
  return { nodeId: nodeId!, attempt: Number(attempt), resourceClass: resourceClass as ResourceClass };
};
