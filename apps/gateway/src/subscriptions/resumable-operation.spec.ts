import { buildSchema } from 'graphql';
import { HIDDEN, JOB_EVENT_RESUME_POLICY, makeResumable, supportedPolicy } from './resumable-operation.js';

const FEED_FETCH = 'subscription($a: String) { jobFeed(after: $a) { type } }';

describe('resume policy', () => {
  it('jobFeed resumes from its events’ feedCursor; without `after` it starts now, with nothing to replay', () => {
    const live = makeResumable('subscription { jobFeed { type } }', {}, JOB_EVENT_RESUME_POLICY);
    expect(live).toMatchObject({
      tracked: true,
      resumable: true,
      replayable: false,
      initialAfter: undefined,
    });
    expect(live.query).toContain(`${HIDDEN.cursor}: feedCursor`);
    expect(live.query).toContain('jobFeed(after: $_syAfter)');

    const given = makeResumable(FEED_FETCH, { a: 'c1' }, JOB_EVENT_RESUME_POLICY);
    expect(given).toMatchObject({
      resumable: true,
      replayable: true,
      initialAfter: 'c1',
      afterVariable: 'a',
    });
    // the variable decides per request: made without variables, it names the variable to look at
    expect(makeResumable(FEED_FETCH, {}, JOB_EVENT_RESUME_POLICY)).toMatchObject({
      replayable: false,
      afterVariable: 'a',
    });
    // jobEvents replays from its start whether or not `after` is given
    const events = makeResumable(
      'subscription { jobEvents(jobId: "j") { seq } }',
      {},
      JOB_EVENT_RESUME_POLICY,
    );
    expect(events).toMatchObject({ resumable: true, replayable: true });
    expect(events.query).toContain(`${HIDDEN.cursor}: cursor`);
  });

  it('a supergraph composed from subgraphs without jobFeed(after:) and feedCursor only de-duplicates jobFeed', () => {
    const older = buildSchema(`
      type JobEvent { cursor: String! seq: Int! jobId: ID! type: String! nodeId: ID }
      type Query { x: Int }
      type Subscription { jobEvents(jobId: ID!, after: String): JobEvent! jobFeed: JobEvent! }
    `);
    const policy = supportedPolicy(JOB_EVENT_RESUME_POLICY, older);
    expect(policy.fields).toEqual({ jobEvents: { afterArgument: 'after' }, jobFeed: {} });
    const feed = makeResumable('subscription { jobFeed { type } }', {}, policy);
    expect(feed).toMatchObject({ tracked: true, resumable: false, replayable: false });
    expect(feed.query).not.toContain('feedCursor');

    const current = buildSchema(`
      type JobEvent { cursor: String! feedCursor: String seq: Int! jobId: ID! type: String! nodeId: ID }
      type Query { x: Int }
      type Subscription { jobEvents(jobId: ID!, after: String): JobEvent! jobFeed(after: String): JobEvent! }
    `);
    expect(supportedPolicy(JOB_EVENT_RESUME_POLICY, current)).toEqual(JOB_EVENT_RESUME_POLICY);
  });
});
