import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { rateLimitUnits } from './rate-limit-units.js';

const count = (query: string, variables?: Record<string, unknown>) => {
  const document = parse(query);
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  )!;
  return rateLimitUnits(document, operation, variables);
};

describe('rateLimitUnits (rate-limit tokens of an operation)', () => {
  it('counts one per submitJob, aliases included, and nothing for queries', () => {
    expect(count('{ jobs { edges { cursor } } }')).toBe(0);
    expect(count('mutation { __typename }')).toBe(0);
    expect(count('mutation { submitJob(input: { template: "t" }) { id } }')).toBe(1);
    expect(
      count(
        'mutation { a: submitJob(input: { template: "t" }) { id } b: submitJob(input: { template: "t" }) { id } }',
      ),
    ).toBe(2);
  });

  it('counts every input of submitJobs, from literals or variables, through fragments', () => {
    expect(count('mutation { submitJobs(inputs: [{ template: "a" }, { template: "b" }]) { index } }')).toBe(
      2,
    );
    expect(
      count('mutation($i: [SubmitJobInput!]!) { submitJobs(inputs: $i) { index } }', {
        i: Array.from({ length: 37 }, () => ({ template: 't' })),
      }),
    ).toBe(37);
    // a single object where a list is expected is coerced to a list of one
    expect(count('mutation { submitJobs(inputs: { template: "a" }) { index } }')).toBe(1);
    expect(
      count(
        'mutation($i: [SubmitJobInput!]!) { ...F ... on Mutation { submitJob(input: { template: "x" }) { id } } } fragment F on Mutation { submitJobs(inputs: $i) { index } }',
        { i: [{}, {}, {}] },
      ),
    ).toBe(4);
  });

  it('counts one per createUpload, aliases and fragments included, and mixes with submits', () => {
    const upload = (alias: string) =>
      `${alias}: createUpload(input: { name: "f", contentType: "text/plain", size: 0 }) { artifactId }`;
    expect(count(`mutation { ${upload('a')} }`)).toBe(1);
    expect(count(`mutation { ${Array.from({ length: 20 }, (_, i) => upload(`u${i}`)).join(' ')} }`)).toBe(20);
    expect(
      count(
        `mutation { ...U ... on Mutation { ${upload('b')} } submitJob(input: { template: "t" }) { id } } fragment U on Mutation { ${upload('c')} ${upload('d')} }`,
      ),
    ).toBe(4);
    // completing and deleting write too: one each
    expect(count('mutation { completeUpload(artifactId: "x") { id } deleteArtifact(id: "y") }')).toBe(2);
    expect(count(`query { artifact(id: "x") { id } }`)).toBe(0);
  });

  it('counts one per validateGraph in a query (each runs the planner), aliases and fragments included', () => {
    const validate = (alias: string) => `${alias}: validateGraph(input: $in) { valid }`;
    expect(count(`query($in: SubmitJobInput!) { ${validate('a')} }`)).toBe(1);
    expect(
      count(
        `query($in: SubmitJobInput!) { ${Array.from({ length: 20 }, (_, i) => validate(`v${i}`)).join(' ')} }`,
      ),
    ).toBe(20);
    expect(
      count(
        `query($in: SubmitJobInput!) { ...V ... on Query { ${validate('b')} } jobs { edges { cursor } } } fragment V on Query { ${validate('c')} }`,
      ),
    ).toBe(2);
    // a field counts under its own operation type only: no query field is named like a charged mutation
    expect(count('query { submitJob { id } submitJobs(inputs: []) { index } }')).toBe(0);
    expect(count('subscription { validateGraph(input: {}) { valid } }')).toBe(0);
  });

  it('counts one per field of every other mutation, aliases and fragments included (each writes)', () => {
    expect(count('mutation { cancelJob(id: "x") { id } }')).toBe(1);
    const twenty = Array.from({ length: 20 }, (_, i) => `c${i}: cancelJob(id: "j${i}") { id }`).join(' ');
    expect(count(`mutation { ${twenty} }`)).toBe(20);
    expect(
      count(
        'mutation { retryJob(id: "a") { id } ...F } fragment F on Mutation { deleteArtifact(id: "x") completeUpload(artifactId: "y") { id } }',
      ),
    ).toBe(3);
  });
});
