import type { IncomingMessage, ServerResponse } from 'node:http';
import { setHttpRoute } from '#libs/observability';
import { runSteps, type ErrorStep, type Step } from './http-steps.js';
import { isPlainJsonPost } from './json-body.js';

/**
 * A `front` for bootstrapApp: the plain JSON POSTs of `path` (`isPlainJsonPost`: nearly every GraphQL request)
 * run `steps` without express; everything else goes to express, where the same checks are mounted with express's
 * body parser. An error no step answers goes to express's error handlers.
 */
export function graphqlLane(
  path: string,
  steps: readonly (Step | ErrorStep)[],
): (req: IncomingMessage, res: ServerResponse, toExpress: (err: unknown) => void) => boolean {
  return (req, res, toExpress) => {
    if (!isPlainJsonPost(req, path)) return false;
    // the route express's instrumentation named for these requests (tracing with the preload)
    setHttpRoute(path);
    runSteps(steps, req, res, toExpress);
    return true;
  };
}
