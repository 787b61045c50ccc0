import { Arg, Ctx, Directive, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { cost, requiresScope } from '#libs/auth';
import type { ArtifactService } from '../uploads/artifact-service.js';
import type { ArtifactsContext } from './context.js';
import { ArtifactType, CreateUploadInput, UploadTicketType } from './types.js';

@Resolver(() => ArtifactType)
export class ArtifactResolver {
  constructor(private readonly service: ArtifactService) {}

  @Directive(requiresScope('artifacts:read'))
  @Query(() => ArtifactType, { nullable: true })
  async artifact(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: ArtifactsContext,
  ): Promise<ArtifactType | null> {
    const record = await this.service.artifact(ctx.identity, id);
    return record ? ArtifactType.from(record) : null;
  }

  @Directive(requiresScope('artifacts:read'))
  @Directive(cost(2))
  @FieldResolver(() => String, { description: 'short-lived' })
  downloadUrl(@Root() artifact: ArtifactType, @Ctx() ctx: ArtifactsContext): Promise<string> {
    return this.service.downloadUrl(ctx.identity, artifact.record);
  }

  @Directive(requiresScope('artifacts:write'))
  @Directive(cost(5))
  @Mutation(() => UploadTicketType, { description: 'artifacts:write' })
  async createUpload(
    @Arg('input', () => CreateUploadInput) input: CreateUploadInput,
    @Ctx() ctx: ArtifactsContext,
  ): Promise<UploadTicketType> {
    return Object.assign(new UploadTicketType(), await this.service.createUpload(ctx.identity, input));
  }

  @Directive(requiresScope('artifacts:write'))
  @Mutation(() => ArtifactType, { description: 'artifacts:write' })
  async completeUpload(
    @Arg('artifactId', () => ID) artifactId: string,
    @Ctx() ctx: ArtifactsContext,
  ): Promise<ArtifactType> {
    return ArtifactType.from(await this.service.completeUpload(ctx.identity, artifactId));
  }

  @Directive(requiresScope('artifacts:write'))
  @Mutation(() => Boolean, { description: 'artifacts:write' })
  deleteArtifact(@Arg('id', () => ID) id: string, @Ctx() ctx: ArtifactsContext): Promise<boolean> {
    return this.service.deleteArtifact(ctx.identity, id);
  }
}
