import { RestartPolicy } from './restart-policy.js';

describe('RestartPolicy', () => {
  const policy = () =>
    new RestartPolicy({ maxRestarts: 3, windowMs: 60_000, baseDelayMs: 500, maxDelayMs: 1_500 });

  it.each([
    ['first crash restarts after the base delay', [0], { action: 'restart', delayMs: 500, recent: 1 }],
    ['delays double and are capped', [0, 1_000, 2_000], { action: 'restart', delayMs: 1_500, recent: 3 }],
    [
      'one crash too many inside the window is a crash loop',
      [0, 1_000, 2_000, 3_000],
      { action: 'give-up', recent: 3 },
    ],
    [
      'crashes older than the window are forgotten',
      [0, 1_000, 2_000, 62_500],
      { action: 'restart', delayMs: 500, recent: 1 },
    ],
  ])('%s', (_name, times, expected) => {
    const p = policy();
    let last;
    for (const t of times) last = p.onExit(t);
    expect(last).toEqual(expected);
  });
});
