import { buildSchema } from 'graphql';
import { DocumentGuard, DocumentRefused, type AdmitRequest } from '../limits/document-guard.js';
import { DEFAULT_GUARD_LIMITS } from '../limits/test/guard-fixtures.js';
import { AdmittedDocuments } from './admitted-documents.js';

const schema = buildSchema(`
  type Query { ok: Boolean }
  type Event { seq: Int! }
  type Subscription { jobFeed: Event! jobEvents(jobId: ID!): Event! }
`);

describe('AdmittedDocuments', () => {
  const setup = () => {
    const guard = new DocumentGuard(DEFAULT_GUARD_LIMITS);
    let calls = 0;
    const admit = guard.admit.bind(guard);
    guard.admit = (r: AdmitRequest) => {
      calls++;
      return admit(r);
    };
    return { docs: new AdmittedDocuments(guard), calls: () => calls };
  };
  const req = (query: string, variables?: Record<string, unknown>, s = schema): AdmitRequest => ({
    query,
    variables,
    schema: s,
    validate: true,
    introspection: false,
  });

  it('admits an identical document once and hands out the same parsed document', () => {
    const { docs, calls } = setup();
    const a = docs.admit(req('subscription { jobFeed { seq } }'));
    const b = docs.admit(req('subscription { jobFeed { seq } }'));
    expect(b).toBe(a);
    expect(calls()).toBe(1);
    expect(docs.hits).toBe(1);
  });

  it('checks again for other variables, another document or another schema', () => {
    const { docs, calls } = setup();
    const q = 'subscription($id: ID!) { jobEvents(jobId: $id) { seq } }';
    docs.admit(req(q, { id: '1' }));
    docs.admit(req(q, { id: '2' }));
    docs.admit(req('subscription { jobFeed { seq } }'));
    const reloaded = buildSchema(
      'type Event { seq: Int! } type Query { a: Int } type Subscription { jobFeed: Event! }',
    );
    docs.admit(req('subscription { jobFeed { seq } }', undefined, reloaded));
    expect(calls()).toBe(4);
  });

  it('never caches a refusal', () => {
    const { docs, calls } = setup();
    const bad = req('subscription { nope }');
    expect(() => docs.admit(bad)).toThrow(DocumentRefused);
    expect(() => docs.admit(bad)).toThrow(DocumentRefused);
    expect(calls()).toBe(2);
  });
});
