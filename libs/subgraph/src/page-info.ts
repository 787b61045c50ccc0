import { Directive, Field, ObjectType } from 'type-graphql';

/**
 * The full Relay PageInfo, one class for every subgraph that pages (jobs, a job's artifacts): a shared value type
 * must be the same in each (`@shareable`), and a supergraph that also has the usual Relay PageInfo can only
 * resolve it from us if we have every one of its fields.
 */
@ObjectType('PageInfo')
@Directive('@shareable')
export class PageInfoType {
  @Field(() => Boolean)
  hasNextPage!: boolean;
  @Field(() => Boolean, { description: 'true when paginating after a cursor (there are earlier items)' })
  hasPreviousPage!: boolean;
  @Field(() => String, { nullable: true })
  startCursor?: string;
  @Field(() => String, { nullable: true })
  endCursor?: string;
}
