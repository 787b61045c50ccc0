/**
 * Preload for full coverage: `node --import ./dist/libs/tracing/src/register.js dist/apps/<app>/src/main.js`
 * (the Docker image does this). Our apps are ES modules, and a package imported from an ES module (express
 * from Nest's platform adapter, ioredis from #libs/redis) never passes through `require`, so the plain
 * `import '#libs/tracing'` in main.ts can only instrument node:http and fetch. This preload also installs
 * import-in-the-middle's loader hook before the app's module graph is loaded, limited to the modules the
 * instrumentations ask for, so express, graphql and ioredis spans appear as well.
 *
 * With tracing off it does nothing: no hook, no SDK.
 */
import { register } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { tracingSettings } from './tracing-settings.js';

let on = false;
try {
  on = tracingSettings(process.env, process.argv[1]).enabled;
} catch {
  // A malformed OTEL_* variable: index.js below reports it and exits 78.
}

if (on) {
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  await import('./index.js');
  // The instrumentations have told the loader thread which modules to wrap; wait until it has them all,
  // or the app's first imports could slip through unwrapped.
  await waitForAllMessagesAcknowledged();
} else {
  await import('./index.js');
}
