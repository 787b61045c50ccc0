import { composeServices } from '@apollo/composition';
import { buildSchema, parse, type GraphQLObjectType } from 'graphql';
import { printArtifactsSubgraphSdl } from './subgraph-schema.js';

// The smallest jobs subgraph that owns Job, to check that ours composes against it.
const JOBS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  scalar DateTime
  type Job @key(fields: "id") { id: ID! status: String! createdAt: DateTime! }
  type Query { job(id: ID!): Job }
`;

describe('artifacts subgraph SDL', () => {
  it('declares the entities and operations of the contract', async () => {
    const sdl = await printArtifactsSubgraphSdl();
    expect(sdl).toMatch(/type Artifact @key\(fields: "id"\)/);
    expect(sdl).toMatch(/type Job @key\(fields: "id"\)/);
    // federation directives (@key, @shareable, @requiresScopes...) are not declared in the printed SDL
    const schema = buildSchema(sdl.replace(/^extend schema @link.*$/m, ''), { assumeValidSDL: true });
    const artifact = schema.getType('Artifact') as GraphQLObjectType;
    expect(
      Object.fromEntries(Object.values(artifact.getFields()).map((f) => [f.name, String(f.type)])),
    ).toEqual({
      id: 'ID!',
      jobId: 'ID',
      nodeId: 'ID',
      name: 'String!',
      contentType: 'String!',
      size: 'Float!',
      sha256: 'String!',
      createdAt: 'DateTime!',
      committedAt: 'DateTime', // added: null for records committed before it existed
      downloadUrl: 'String!',
    });
    expect(String((schema.getType('Job') as GraphQLObjectType).getFields().artifacts!.type)).toBe(
      '[Artifact!]!',
    );
    expect(String(schema.getQueryType()!.getFields().artifact!.type)).toBe('Artifact');
    const m = schema.getMutationType()!.getFields();
    expect(String(m.createUpload!.type)).toBe('UploadTicket!');
    expect(String(m.completeUpload!.type)).toBe('Artifact!');
    expect(String(m.deleteArtifact!.type)).toBe('Boolean!');
    expect(String(m.createUpload!.args[0]!.type)).toBe('CreateUploadInput!');
    const ticket = schema.getType('UploadTicket') as GraphQLObjectType;
    expect(
      Object.fromEntries(Object.values(ticket.getFields()).map((f) => [f.name, String(f.type)])),
    ).toEqual({
      artifactId: 'ID!',
      uploadUrl: 'String!',
      method: 'String!',
      headers: 'JSON!',
      fields: 'JSON!', // added (POST policy form); the rest is the contract's
      expiresAt: 'DateTime!',
    });
  });

  it('composes with a jobs subgraph into a supergraph where Job has artifacts', async () => {
    const result = composeServices([
      { name: 'jobs', url: 'http://jobs/graphql', typeDefs: parse(JOBS_SDL) },
      {
        name: 'artifacts',
        url: 'http://artifacts/graphql',
        typeDefs: parse(await printArtifactsSubgraphSdl()),
      },
    ]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.supergraphSdl).toMatch(/artifacts: \[Artifact!\]! @join__field\(graph: ARTIFACTS\)/);
  });
});
