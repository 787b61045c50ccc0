import { Directive, Field, Float, ID, InputType, ObjectType } from 'type-graphql';
import type { ArtifactRecord } from '#libs/contracts';
import { DateTimeScalar, JSONScalar, PageInfoType } from '#libs/subgraph';

@ObjectType('Artifact', { description: 'A stored file: a task output or a client upload' })
@Directive('@key(fields: "id")')
@Directive('@authenticated')
export class ArtifactType {
  @Field(() => ID)
  id!: string;

  @Field(() => ID, { nullable: true })
  jobId?: string;

  @Field(() => ID, { nullable: true })
  nodeId?: string;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  contentType!: string;

  @Field(() => Float, { description: 'bytes (Float: GraphQL Int is 32-bit)' })
  size!: number;

  @Field(() => String)
  sha256!: string;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description:
      "when it was committed (its task attempt's completion, or completeUpload): a job's artifacts list in commit order. Null for artifacts committed before this field was recorded",
  })
  committedAt?: Date;

  /** The record behind it (for downloadUrl); not a GraphQL field. */
  record!: ArtifactRecord;

  static from(record: ArtifactRecord): ArtifactType {
    return Object.assign(new ArtifactType(), {
      id: record.id,
      jobId: record.jobId,
      nodeId: record.nodeId,
      name: record.name,
      contentType: record.contentType,
      size: record.size,
      sha256: record.sha256,
      createdAt: new Date(record.createdAt),
      committedAt: record.committedAt !== undefined ? new Date(record.committedAt) : undefined,
      record,
    });
  }
}

/** The jobs subgraph's Job, extended here with its artifacts. */
@ObjectType('Job')
@Directive('@key(fields: "id")')
export class JobReference {
  @Field(() => ID)
  id!: string;
}

@ObjectType('ArtifactEdge')
export class ArtifactEdgeType {
  @Field(() => String)
  cursor!: string;
  @Field(() => ArtifactType)
  node!: ArtifactType;
}

@ObjectType('ArtifactConnection', { description: "a page of a job's committed artifacts" })
export class ArtifactConnectionType {
  @Field(() => [ArtifactEdgeType])
  edges!: ArtifactEdgeType[];
  @Field(() => PageInfoType)
  pageInfo!: PageInfoType;
}

@ObjectType('UploadTicket')
@Directive('@shareable')
export class UploadTicketType {
  @Field(() => ID)
  artifactId!: string;

  @Field(() => String, { description: 'send the bytes here with `method`, `headers` and `fields`' })
  uploadUrl!: string;

  @Field(() => String, {
    description: 'POST: a multipart/form-data form of `fields`, then the bytes as `file`',
  })
  method!: string;

  @Field(() => JSONScalar)
  headers!: Record<string, string>;

  @Field(() => JSONScalar, {
    description:
      'form fields to send, in this order, before the file part `file`; they bind the upload to its key, declared content type and exact size until expiresAt',
  })
  fields!: Record<string, string>;

  @Field(() => DateTimeScalar)
  expiresAt!: Date;
}

@InputType('CreateUploadInput')
export class CreateUploadInput {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  contentType!: string;

  @Field(() => Float)
  size!: number;

  @Field(() => String, { nullable: true, description: 'checked on completeUpload when given' })
  sha256?: string | null;
}
