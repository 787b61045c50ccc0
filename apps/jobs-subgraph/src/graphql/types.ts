import { IsOptional, Length, Max, MaxLength, Min } from 'class-validator';
import { Directive, Field, Float, ID, InputType, Int, ObjectType } from 'type-graphql';
import { assumedListSize, slicedListSize } from '#libs/auth';
import {
  workerTakesWork,
  type GraphError,
  type JobError,
  type JobEvent,
  type JsonObject,
  type WorkerManifest,
} from '#libs/contracts';
import { keepReadTogether } from '../events/read-together.js';
import type { TaskCapability } from '../registry/capability-catalog.js';
import type { TemplateSummary } from '../templates/template-registry.js';
import { JOB_NODES_LIST_SIZE } from '../planner/planner.js';
import { jobProgress } from '../scheduler/job-record.js';
import type { JobReadView, NodeReadRecord } from '../scheduler/job-views.js';
import { JobEventTypeEnum, JobStatusEnum, NodeStatusEnum } from './enums.js';
import { DateTimeScalar, JSONScalar, PageInfoType } from '#libs/subgraph';

type JobStatusValue = keyof typeof JobStatusEnum;
type NodeStatusValue = keyof typeof NodeStatusEnum;
type JobEventTypeValue = keyof typeof JobEventTypeEnum;

@ObjectType('JobError')
@Directive('@shareable')
export class JobErrorType {
  @Field(() => String, {
    description: 'e.g. TASK_FAILED, TIMEOUT, STUCK, UNSCHEDULABLE, STORAGE_UNAVAILABLE, CANCELLED',
  })
  code!: string;
  @Field(() => String)
  message!: string;
  @Field(() => Boolean)
  retryable!: boolean;

  static from(e: JobError | undefined): JobErrorType | undefined {
    return e && Object.assign(new JobErrorType(), e);
  }
}

@ObjectType('JobNode')
@Directive('@shareable')
export class JobNodeType {
  @Field(() => ID, { description: 'the node id given in the graph' })
  id!: string;
  @Field(() => String)
  task!: string;
  @Field(() => String, { description: 'the version that ran (or will run)' })
  taskVersion!: string;
  @Field(() => NodeStatusEnum)
  status!: NodeStatusValue;
  @Field(() => Float)
  progress!: number;
  @Field(() => String, { nullable: true })
  message?: string;
  @Field(() => Int)
  attempts!: number;
  @Field(() => JSONScalar, { nullable: true, description: "the task's validated outputs, once SUCCEEDED" })
  outputs?: JsonObject;
  @Field(() => JobErrorType, { nullable: true })
  error?: JobErrorType;
  @Field(() => String, { nullable: true })
  workerId?: string;
  @Field(() => DateTimeScalar, { nullable: true })
  startedAt?: string;
  @Field(() => DateTimeScalar, { nullable: true })
  finishedAt?: string;
  // Additive (not in the contract): the edges of the DAG, for clients that draw it (the console).
  @Field(() => [ID], { description: 'the nodes this one waits for: its $ref sources and dependsOn' })
  dependsOn!: string[];

  static from(n: NodeReadRecord): JobNodeType {
    return Object.assign(new JobNodeType(), {
      id: n.id,
      task: n.task,
      taskVersion: n.taskVersion,
      status: n.status,
      progress: n.status === 'SUCCEEDED' ? 1 : n.progress,
      message: n.message,
      attempts: n.attempt,
      outputs: n.status === 'SUCCEEDED' ? n.outputs : undefined,
      error: JobErrorType.from(n.error),
      workerId: n.workerId,
      startedAt: n.startedAt,
      finishedAt: n.finishedAt,
      dependsOn: n.upstream,
    });
  }
}

@ObjectType('Job')
@Directive('@key(fields: "id")')
// reachable through _entities from any subgraph: a foreign router must not hand it out anonymously (the
// scope is on each root field: submitJob returns a Job to a jobs:write key)
@Directive('@authenticated')
export class JobType {
  @Field(() => ID)
  id!: string;
  @Field(() => JobStatusEnum)
  status!: JobStatusValue;
  @Field(() => Float, { description: '0..1 over all nodes' })
  progress!: number;
  @Field(() => String, { nullable: true })
  template?: string;
  @Field(() => JSONScalar, { nullable: true })
  labels?: JsonObject | null;
  /** All of the job's nodes; the field (jobs.resolver.ts) answers the first `first` of them when given. */
  @Directive(slicedListSize(JOB_NODES_LIST_SIZE))
  @Field(() => [JobNodeType])
  nodes!: JobNodeType[];
  @Field(() => JobErrorType, { nullable: true })
  error?: JobErrorType;
  @Field(() => DateTimeScalar)
  createdAt!: string;
  @Field(() => DateTimeScalar, { nullable: true })
  startedAt?: string;
  @Field(() => DateTimeScalar, { nullable: true })
  finishedAt?: string;

  static from({ job, nodes }: JobReadView): JobType {
    return Object.assign(new JobType(), {
      id: job.id,
      status: job.status,
      progress: job.status === 'SUCCEEDED' ? 1 : jobProgress(nodes),
      template: job.template,
      labels: job.labels,
      nodes: nodes.map(JobNodeType.from),
      error: JobErrorType.from(job.error),
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
    });
  }
}

@ObjectType('JobEvent')
@Directive('@shareable')
export class JobEventType {
  @Field(() => String, { description: 'pass as `after` to resume right after this event' })
  cursor!: string;
  @Field(() => String, {
    nullable: true,
    description: "jobFeed events only: pass as jobFeed's `after` to resume the feed right after this event",
  })
  feedCursor?: string;
  @Field(() => Int, { description: 'per job, contiguous from 1' })
  seq!: number;
  @Field(() => ID)
  jobId!: string;
  @Field(() => ID, { nullable: true })
  nodeId?: string;
  @Field(() => JobEventTypeEnum)
  type!: JobEventTypeValue;
  @Field(() => Float, { nullable: true })
  progress?: number;
  @Field(() => String, { nullable: true })
  message?: string;
  @Field(() => DateTimeScalar)
  at!: string;
  /** The tenant, for resolving `job`; not a GraphQL field. */
  tenant!: string;

  static from(e: JobEvent): JobEventType {
    return keepReadTogether(e, Object.assign(new JobEventType(), e));
  }
}

@ObjectType('JobEdge')
@Directive('@shareable')
export class JobEdgeType {
  @Field(() => String)
  cursor!: string;
  @Field(() => JobType)
  node!: JobType;
}

@ObjectType('JobConnection')
@Directive('@shareable')
export class JobConnectionType {
  @Field(() => [JobEdgeType])
  edges!: JobEdgeType[];
  @Field(() => PageInfoType)
  pageInfo!: PageInfoType;
}

@ObjectType('GraphError')
@Directive('@shareable')
export class GraphErrorType {
  @Field(() => String)
  code!: string;
  @Field(() => String)
  message!: string;
  @Field(() => ID, { nullable: true })
  nodeId?: string;
  @Field(() => String, { nullable: true })
  path?: string;

  static from(e: GraphError): GraphErrorType {
    return Object.assign(new GraphErrorType(), e);
  }
}

@ObjectType('GraphValidation')
@Directive('@shareable')
export class GraphValidationType {
  @Field(() => Boolean)
  valid!: boolean;
  @Directive(assumedListSize(20))
  @Field(() => [GraphErrorType])
  errors!: GraphErrorType[];
}

@ObjectType('TaskCapability')
@Directive('@shareable')
export class TaskCapabilityType {
  @Field(() => String)
  name!: string;
  @Directive(assumedListSize(10))
  @Field(() => [String], { description: 'versions some live worker can run now' })
  versions!: string[];
  @Field(() => String, { nullable: true })
  description?: string;
  @Field(() => JSONScalar, { description: 'JSON Schema of the newest version' })
  inputSchema!: JsonObject;
  @Field(() => JSONScalar)
  outputSchema!: JsonObject;
  @Field(() => JSONScalar, { description: '{ gpu, vramGb, cpu }' })
  resources!: JsonObject;
  @Field(() => Int, { description: 'live workers that offer it' })
  workers!: number;

  static from(c: TaskCapability): TaskCapabilityType {
    return Object.assign(new TaskCapabilityType(), c);
  }
}

@ObjectType('PipelineTemplate')
@Directive('@shareable')
export class PipelineTemplateType {
  @Field(() => String)
  name!: string;
  @Field(() => String, { nullable: true })
  description?: string;
  @Field(() => JSONScalar)
  paramsSchema!: JsonObject;

  static from(t: TemplateSummary): PipelineTemplateType {
    return Object.assign(new PipelineTemplateType(), {
      name: t.name,
      description: t.description,
      paramsSchema: t.paramsSchema,
    });
  }
}

@ObjectType('Device')
@Directive('@shareable')
export class DeviceType {
  @Field(() => Int)
  index!: number;
  @Field(() => String, { description: 'GPU or CPU' })
  kind!: string;
  @Field(() => String)
  name!: string;
  @Field(() => Int, { nullable: true })
  memoryMb?: number;
}

@ObjectType('Actor')
@Directive('@shareable')
export class ActorType {
  @Field(() => ID)
  id!: string;
  @Field(() => String)
  device!: string;
  @Field(() => String, { description: 'IDLE, BUSY, RESTARTING, QUARANTINED' })
  state!: string;
  @Field(() => Int)
  restarts!: number;
  @Field(() => ID, { nullable: true })
  jobId?: string;
  @Field(() => ID, { nullable: true })
  nodeId?: string;
  @Field(() => String, { nullable: true, description: 'while QUARANTINED: why' })
  quarantineReason?: string;
  @Field(() => DateTimeScalar, {
    nullable: true,
    description: 'while QUARANTINED: when the cool-down ends and the actor probes its runner again',
  })
  quarantinedUntil?: string;
}

@ObjectType('Worker')
@Directive('@shareable')
export class WorkerType {
  @Field(() => ID)
  id!: string;
  @Field(() => String)
  hostname!: string;
  @Field(() => String)
  protocolVersion!: string;
  @Directive(assumedListSize(8))
  @Field(() => [DeviceType])
  devices!: DeviceType[];
  @Directive(assumedListSize(8))
  @Field(() => [ActorType])
  actors!: ActorType[];
  @Directive(assumedListSize(50))
  @Field(() => [String], { description: 'the tasks it offers, as name@version' })
  tasks!: string[];
  @Field(() => DateTimeScalar)
  lastHeartbeatAt!: string;
  @Field(() => Boolean, {
    description:
      'running, with actors, none quarantined; a worker not ready for a quarantined actor still runs tasks on its other actors (see their states)',
  })
  ready!: boolean;
  // Non-null: a worker too old to publish `accepting` is answered by the rule the scheduler uses for it
  // (`workerTakesWork`: its `ready`), so the field never says something the dispatch does not go by.
  @Field(() => Boolean, {
    description:
      'whether the worker takes work at all: its supervisor is running (not starting, draining or stopped). Unlike `ready`, a quarantined actor does not make it false: the worker keeps serving on its other actors (which tasks it takes follows their states). A worker too old to publish it is answered with its `ready`, which was the gate then',
  })
  accepting!: boolean;

  static from(w: WorkerManifest): WorkerType {
    return Object.assign(new WorkerType(), {
      accepting: workerTakesWork(w),
      id: w.id,
      hostname: w.hostname,
      protocolVersion: w.protocolVersion,
      devices: w.devices.map((d) => Object.assign(new DeviceType(), d)),
      actors: w.actors.map(({ quarantine, ...a }) =>
        Object.assign(new ActorType(), {
          ...a,
          ...(quarantine ? { quarantineReason: quarantine.reason, quarantinedUntil: quarantine.until } : {}),
        }),
      ),
      tasks: w.tasks.map((t) => `${t.name}@${t.version}`),
      lastHeartbeatAt: w.heartbeatAt,
      ready: w.ready,
    });
  }
}

@InputType('JobFilter')
export class JobFilterInput {
  @Field(() => [JobStatusEnum], { nullable: true })
  status?: JobStatusValue[];
  // field-level bounds at the GraphQL edge (class-validator); the service keeps the same bound for other callers
  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(128, { message: 'a template name has at most 128 characters' })
  template?: string;
}

@InputType('NodeInput')
export class NodeInputType {
  @Field(() => ID, { description: 'the node id given in the graph' })
  id!: string;
  @Field(() => String)
  task!: string;
  @Field(() => String, { nullable: true, description: 'a semver range; default: the newest live version' })
  version?: string;
  @Field(() => JSONScalar, {
    nullable: true,
    description: 'literal values, or { "$ref": "<nodeId>.outputs.<field>" }',
  })
  inputs?: JsonObject;
  @Field(() => [ID], { nullable: true, description: 'extra ordering; $ref already implies a dependency' })
  dependsOn?: string[];
  @Field(() => Int, { nullable: true, description: 'default from the task' })
  attempts?: number;
  @Field(() => Int, { nullable: true, description: 'default from the task' })
  timeoutSeconds?: number;
}

@InputType('GraphInput')
export class GraphInputType {
  @Field(() => [NodeInputType])
  nodes!: NodeInputType[];
}

@InputType('SubmitJobInput')
export class SubmitJobInputType {
  @Field(() => GraphInputType, { nullable: true, description: 'exactly one of graph or template' })
  graph?: GraphInputType;
  // field-level bounds at the GraphQL edge (class-validator), the same as the SubmitJobInput contract's
  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 128)
  template?: string;
  @Field(() => JSONScalar, { nullable: true, description: "the template's parameters" })
  params?: unknown;
  @Field(() => JSONScalar, { nullable: true })
  labels?: JsonObject;
  @Field(() => Int, { nullable: true })
  @IsOptional()
  @Min(0)
  @Max(1000)
  priority?: number;
  @Field(() => String, { nullable: true, description: 'the same key and tenant return the same job' })
  @IsOptional()
  @Length(1, 200)
  idempotencyKey?: string;
}
