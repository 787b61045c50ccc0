import { registerEnumType } from 'type-graphql';
import { JobEventType, JobStatus, NodeStatus } from '#libs/contracts';

/** A GraphQL enum from a zod enum's options: the values exist once, in #libs/contracts. */
const fromZod = <T extends string>(options: readonly T[]) =>
  Object.fromEntries(options.map((v) => [v, v])) as { [K in T]: K };

export const JobStatusEnum = fromZod(JobStatus.options);
export const NodeStatusEnum = fromZod(NodeStatus.options);
export const JobEventTypeEnum = fromZod(JobEventType.options);

registerEnumType(JobStatusEnum, { name: 'JobStatus' });
registerEnumType(NodeStatusEnum, { name: 'NodeStatus' });
registerEnumType(JobEventTypeEnum, { name: 'JobEventType' });
