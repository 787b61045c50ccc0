/**
 * The browser bundles step of `npm run build` (after tsc): bundles the GraphiQL playground and the console with
 * esbuild, each only when one of its inputs changed since it was last bundled (apps/gateway/src/http/bundle-manifest.ts),
 * so a build with nothing changed costs a few stat calls instead of seconds of esbuild. `--force` bundles both.
 */
import { CONSOLE_DIR, buildConsole } from '../apps/gateway/src/console/build-console.js';
import { bundleStaleReason } from '../apps/gateway/src/http/bundle-manifest.js';
import { PLAYGROUND_DIR, buildPlayground } from '../apps/gateway/src/playground/build-playground.js';

const force = process.argv.includes('--force');
const bundles = [
  { name: 'playground', dir: PLAYGROUND_DIR, build: buildPlayground },
  { name: 'console', dir: CONSOLE_DIR, build: buildConsole },
];

// esbuild runs its builds on its own threads: the two bundles overlap instead of queueing.
await Promise.all(
  bundles.map(async ({ name, dir, build }) => {
    const why = force ? 'forced' : bundleStaleReason(dir);
    if (!why) return;
    const started = Date.now();
    await build(dir);
    process.stdout.write(`${name} bundled into ${dir} in ${Date.now() - started} ms (${why})\n`);
  }),
);
