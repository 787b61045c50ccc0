import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request as a step sees it: node's own, with the parsed body once a body step has run. */
export type StepRequest = IncomingMessage & { body?: unknown };
export type Next = (err?: unknown) => void;
/**
 * Express's middleware signature over node's own request and response, without express's additions (`res.status`,
 * `req.query`…): a step runs unchanged as express middleware and in `runSteps`, without express.
 */
export type Step = (req: StepRequest, res: ServerResponse, next: Next) => void | Promise<void>;
/** Express's error middleware signature (four parameters), over node's request and response. */
export type ErrorStep = (err: unknown, req: StepRequest, res: ServerResponse, next: Next) => void;

const isPromise = (v: unknown): v is Promise<unknown> =>
  v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';

/**
 * Runs steps in order as express's router runs a route's middleware: `next()` goes to the next step, `next(err)`
 * (or a throw, or a rejected promise) skips to the next error step (four parameters), and what no step handled
 * reaches `done` (an error nobody answered, or a request nobody answered).
 */
export function runSteps(
  steps: readonly (Step | ErrorStep)[],
  req: StepRequest,
  res: ServerResponse,
  done: Next,
): void {
  let at = 0;
  const next: Next = (err) => {
    const failed = Boolean(err);
    while (at < steps.length) {
      const step = steps[at++]!;
      const errorStep = step.length === 4;
      if (errorStep !== failed) continue;
      try {
        const ran = errorStep ? (step as ErrorStep)(err, req, res, next) : (step as Step)(req, res, next);
        if (isPromise(ran)) ran.then(undefined, (e: unknown) => next(e ?? new Error('Rejected promise')));
      } catch (e) {
        next(e);
      }
      return;
    }
    done(err);
  };
  next();
}
