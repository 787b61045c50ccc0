import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleBuilt, bundleStaleReason, writeBundleManifest } from './bundle-manifest.js';

describe('bundle manifest: a bundle is rebuilt exactly when one of its inputs changed', () => {
  let dir: string;
  let a: string;
  let b: string;
  const past = Date.now() / 1000 - 60;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bundle-manifest-'));
    a = join(dir, 'a.tsx');
    b = join(dir, 'b.css');
    writeFileSync(a, 'export const a = 1;');
    writeFileSync(b, 'body{}');
    utimesSync(a, past, past);
    utimesSync(b, past, past);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is stale before it was built, fresh right after', () => {
    expect(bundleBuilt(dir)).toBe(false);
    expect(bundleStaleReason(dir)).toBe('not built');
    writeBundleManifest(dir, [a, b], Date.now());
    expect(bundleBuilt(dir)).toBe(true);
    expect(bundleStaleReason(dir)).toBeNull();
  });

  it('is stale when an input is edited, even to the same size', () => {
    writeBundleManifest(dir, [a, b], Date.now());
    writeFileSync(a, 'export const a = 2;');
    expect(bundleStaleReason(dir)).toBe(`${a} changed`);
  });

  it('is stale when an input only moved back in time (a checkout of an older version)', () => {
    writeBundleManifest(dir, [a, b], Date.now());
    utimesSync(b, past - 3600, past - 3600);
    expect(bundleStaleReason(dir)).toBe(`${b} changed`);
  });

  it('is stale when an input is gone', () => {
    writeBundleManifest(dir, [a, b], Date.now());
    rmSync(b);
    expect(bundleStaleReason(dir)).toBe(`${b} is gone`);
  });

  it('never trusts an input that changed while the bundle was being built', () => {
    const startedAt = Date.now() - 1_000;
    writeFileSync(a, 'export const a = 3;'); // edited after the build began
    writeBundleManifest(dir, [a, b], startedAt);
    expect(bundleStaleReason(dir)).toBe(`${a} changed`);
  });

  it('is stale with a manifest from before inputs were recorded', () => {
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ builtAt: new Date().toISOString() }));
    expect(bundleBuilt(dir)).toBe(true);
    expect(bundleStaleReason(dir)).toBe('its manifest lists no inputs');
  });
});
