/**
 * graphql-js in its production mode, whatever NODE_ENV says. Imported by an app's main.ts right after
 * '#libs/tracing' and before anything that loads graphql.
 *
 * graphql-js decides once, when `graphql/jsutils/instanceOf.js` loads, whether `process.env.NODE_ENV` is
 * 'production'. Outside it, every failed type check (`isObjectType(x)`, `isListType(x)`, … called many times
 * per field of every answer) also compares the value's class name with the type's to detect a second copy of
 * graphql — about 10 % of a subgraph's CPU per request in our profiles. `npm start` leaves NODE_ENV unset, and
 * setting it to 'production' for the whole process would also change what our apps do in production mode
 * (identity secret and object-store credentials required, introspection off, internal errors hidden). So only
 * that one graphql module is loaded with NODE_ENV=production, and the variable is put back at once.
 *
 * The duplicate-copy check it skips guards against a broken install (two graphql versions); the repository has
 * one copy (tests still run with the check: jest sets NODE_ENV=test and does not import this module).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const saved = process.env.NODE_ENV;
process.env.NODE_ENV = 'production';
try {
  // the ESM entry of graphql is its CommonJS build (no "exports" map): this is the module every import shares
  require('graphql/jsutils/instanceOf.js');
} finally {
  if (saved === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = saved;
}

/** Whether graphql-js checks types with a plain `instanceof` (its production mode) in this process. */
export function graphqlProductionMode(): boolean {
  const { instanceOf } = require('graphql/jsutils/instanceOf.js') as {
    instanceOf: (value: unknown, constructor: new () => unknown) => boolean;
  };
  // the development variant throws for an object whose class name matches but is not an instance
  class Probe {
    get [Symbol.toStringTag]() {
      return 'Probe';
    }
  }
  const lookalike = { [Symbol.toStringTag]: 'Probe' };
  try {
    return instanceOf(lookalike, Probe) === false;
  } catch {
    return false;
  }
}
