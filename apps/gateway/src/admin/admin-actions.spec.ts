import { classifyAdminRequest, isCrossSite } from './admin-actions.js';

describe('classifyAdminRequest', () => {
  it('lets every read through', () => {
    for (const path of [
      '/',
      '/queue/sy-nodes-cpu',
      '/api/queues',
      '/api/queues/sy-nodes-cpu/a.b.1/logs',
      '/static/js/x.js',
    ])
      expect(classifyAdminRequest('GET', path)).toEqual({ kind: 'read' });
    expect(classifyAdminRequest('HEAD', '/')).toEqual({ kind: 'read' });
  });

  it('allows retrying failed jobs and cleaning finished ones, in bulk', () => {
    expect(classifyAdminRequest('PUT', '/api/queues/sy-nodes-cpu/retry/failed')).toEqual({
      kind: 'action',
      action: 'retry-failed',
      queueName: 'sy-nodes-cpu',
      status: 'failed',
    });
    for (const status of ['completed', 'failed'])
      expect(classifyAdminRequest('PUT', `/api/queues/sy-nodes-gpu/clean/${status}`)).toEqual({
        kind: 'action',
        action: 'clean-finished',
        queueName: 'sy-nodes-gpu',
        status,
      });
  });

  it('names the job of a single-job retry or clean (decoded)', () => {
    expect(classifyAdminRequest('PUT', '/api/queues/sy-nodes-cpu/job%2D1.n.2/retry')).toEqual({
      kind: 'action',
      action: 'retry-job',
      queueName: 'sy-nodes-cpu',
      jobId: 'job-1.n.2',
    });
    expect(classifyAdminRequest('PUT', '/api/queues/sy-nodes-cpu/j.n.1/clean')).toEqual({
      kind: 'action',
      action: 'clean-job',
      queueName: 'sy-nodes-cpu',
      jobId: 'j.n.1',
    });
  });

  it('refuses every other action, and variants of allowed ones', () => {
    const refused = [
      ['PUT', '/api/queues/sy-nodes-cpu/retry/completed'],
      ['PUT', '/api/queues/sy-nodes-cpu/clean/waiting'],
      ['PUT', '/api/queues/sy-nodes-cpu/clean/active'],
      ['PUT', '/api/queues/sy-nodes-cpu/clean/retry'],
      ['POST', '/api/queues/sy-nodes-cpu/add'],
      ['PUT', '/api/queues/sy-nodes-cpu/pause'],
      ['PUT', '/api/queues/sy-nodes-cpu/resume'],
      ['PUT', '/api/queues/pause'],
      ['PUT', '/api/queues/sy-nodes-cpu/empty'],
      ['PUT', '/api/queues/sy-nodes-cpu/obliterate'],
      ['PUT', '/api/queues/sy-nodes-cpu/promote'],
      ['PUT', '/api/queues/sy-nodes-cpu/concurrency'],
      ['PUT', '/api/queues/sy-nodes-cpu/j.n.1/promote'],
      ['PATCH', '/api/queues/sy-nodes-cpu/j.n.1/update-data'],
      ['PATCH', '/api/queues/sy-nodes-cpu/j.n.1/priority'],
      ['PUT', '/api/queues/sy-nodes-cpu/j.n.1/remove-unprocessed-children'],
      ['POST', '/api/metrics/history/purge'],
      // Express matches case-insensitively and ignores a trailing slash; the policy does neither.
      ['PUT', '/api/queues/sy-nodes-cpu/RETRY/failed'],
      ['PUT', '/API/queues/sy-nodes-cpu/retry/failed'],
      ['PUT', '/api/queues/sy-nodes-cpu/j.n.1/Retry'],
      ['PUT', '/api/queues/sy-nodes-cpu/retry/failed/'],
      ['PUT', '/api/queues/sy-nodes-cpu/%E0%A4%A/retry'],
      ['POST', '/api/queues/sy-nodes-cpu/retry/failed'],
      ['DELETE', '/api/queues/sy-nodes-cpu/j.n.1/clean'],
      ['OPTIONS', '/api/queues'],
    ] as const;
    for (const [method, path] of refused)
      expect([method, path, classifyAdminRequest(method, path)]).toEqual([method, path, { kind: 'refused' }]);
  });
});

describe('isCrossSite', () => {
  it('trusts fetch metadata when the browser sends it', () => {
    expect(
      isCrossSite({ 'sec-fetch-site': 'same-origin', origin: 'http://elsewhere', host: 'gw:4000' }),
    ).toBe(false);
    expect(isCrossSite({ 'sec-fetch-site': 'none' })).toBe(false);
    expect(isCrossSite({ 'sec-fetch-site': 'same-site', host: 'gw:4000' })).toBe(true);
    expect(isCrossSite({ 'sec-fetch-site': 'cross-site', origin: 'http://gw:4000', host: 'gw:4000' })).toBe(
      true,
    );
  });

  it('otherwise compares Origin with Host; no Origin is not a browser page', () => {
    expect(isCrossSite({ origin: 'https://gw.example.com', host: 'gw.example.com' })).toBe(false);
    expect(isCrossSite({ origin: 'https://evil.example', host: 'gw.example.com' })).toBe(true);
    expect(isCrossSite({ origin: 'null', host: 'gw.example.com' })).toBe(true);
    expect(isCrossSite({ host: 'gw.example.com' })).toBe(false);
  });
});
