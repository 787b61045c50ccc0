import { request } from 'node:http';

export interface ProbeResult {
  status: number;
  body: string;
}

/**
 * One GET of an app's readiness URL: its status and body, or null when nothing answered (not listening yet,
 * or no answer within `timeoutMs`). node:http rather than fetch: the launcher probes often while the apps
 * boot, and a probe should cost the two cores they boot on as little as possible. No keep-alive: a probe
 * leaves no idle socket open to the app.
 */
export function probe(url: string, timeoutMs = 3_000): Promise<ProbeResult | null> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

export type Readiness = { ready: true } | { ready: false; why: string };

/**
 * Probes `url` every `intervalMs` until it answers 200 (ready), `deadline` (epoch ms) passes (not ready: the
 * last answer says why), or `cancelled()` (not ready: cancelled).
 */
export async function waitUntilReady(
  url: string,
  o: { deadline: number; intervalMs: number; cancelled: () => boolean },
): Promise<Readiness> {
  for (;;) {
    if (o.cancelled()) return { ready: false, why: 'cancelled' };
    const res = await probe(url);
    if (res?.status === 200) return { ready: true };
    if (Date.now() > o.deadline) return { ready: false, why: res ? res.body : 'not listening' };
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
}
