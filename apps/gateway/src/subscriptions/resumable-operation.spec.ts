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
    // it starts right after where the feed stands, read first (so a reconnect before its first event resumes)
    expect(live.head).toEqual({ query: 'query SwitchyardStreamHead { jobFeedHead }', field: 'jobFeedHead' });

    const given = makeResumable(FEED_FETCH, { a: 'c1' }, JOB_EVENT_RESUME_POLICY);
    expect(given).toMatchObject({
      resumable: true,
      replayable: true,
      initialAfter: 'c1',
      afterVariable: 'a',
    });
    expect(given.head).toBeUndefined();
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
    expect(events).toMatchObject({ resumable: true, replayable: true, head: undefined });
    expect(events.query).toContain(`${HIDDEN.cursor}: cursor`);
  });

  it('a supergraph composed from subgraphs without jobFeed(after:) and feedCursor only de-duplicates jobFeed, one without jobFeedHead starts a live one now', () => {
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

    const subscriptions = `
      type JobEvent { cursor: String! feedCursor: String seq: Int! jobId: ID! type: String! nodeId: ID }
      type Subscription { jobEvents(jobId: ID!, after: String): JobEvent! jobFeed(after: String): JobEvent! }
    `;
    // session 14's subgraphs: jobFeed resumes from its events' feedCursor, but a live one starts "now"
    const withoutHead = supportedPolicy(
      JOB_EVENT_RESUME_POLICY,
      buildSchema(`${subscriptions} type Query { x: Int }`),
    );
    expect(withoutHead.fields.jobFeed).toEqual({
      afterArgument: 'after',
      cursorField: 'feedCursor',
      liveWithoutAfter: true,
    });
    expect(makeResumable('subscription { jobFeed { type } }', {}, withoutHead)).toMatchObject({
      resumable: true,
      head: undefined,
    });
    const current = buildSchema(`${subscriptions} type Query { jobFeedHead: String! }`);
    expect(supportedPolicy(JOB_EVENT_RESUME_POLICY, current)).toEqual(JOB_EVENT_RESUME_POLICY);
  });
});
