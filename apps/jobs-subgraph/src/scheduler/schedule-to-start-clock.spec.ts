import { ScheduleToStartClock } from './schedule-to-start-clock.js';

const offered = (tasks: Record<string, boolean>) =>
  new Map(Object.entries(tasks).map(([task, backlog]) => [task, { backlog }]));

describe('ScheduleToStartClock (when an offered task could first have been started)', () => {
  it("counts from no earlier than this leader's first pass, and afresh after a new election", () => {
    const clock = new ScheduleToStartClock({ scheduleToStartMs: 1_000 });
    clock.beginPass(5_000, offered({ a: false }));
    expect(clock.startableSince('a', 1_000)).toBe(5_000);
    expect(clock.startableSince('a', 6_000)).toBe(6_000);
    clock.beginPass(7_000, offered({ a: false }));
    expect(clock.startableSince('a', 1_000)).toBe(5_000); // the first pass, not the latest
    clock.leaderElected();
    clock.beginPass(9_000, offered({ a: false }));
    expect(clock.startableSince('a', 1_000)).toBe(9_000);
  });

  it('counts from the last pass that saw the task in a backlog, per task, until that is too old to matter', () => {
    const clock = new ScheduleToStartClock({ scheduleToStartMs: 1_000 });
    clock.beginPass(0, offered({ a: true, b: false }));
    clock.beginPass(500, offered({ a: true, b: false }));
    expect(clock.startableSince('a', 100)).toBe(500);
    expect(clock.startableSince('b', 100)).toBe(100);
    clock.beginPass(1_400, offered({ a: false }));
    expect(clock.startableSince('a', 100)).toBe(500); // 900 ms ago: still holds back a verdict
    clock.beginPass(1_600, offered({ a: false }));
    expect(clock.startableSince('a', 100)).toBe(100); // older than schedule-to-start: dropped
  });
});
