import express, { type Request, type RequestHandler } from 'express';
import { boundedBodyParser, type ErrorStep, type Step } from '#libs/graphql-http';
import type { GraphQLFormattedError } from 'graphql';
import { gatewayError } from '../gateway-errors.js';
import { sendGraphQLError } from './graphql-error-response.js';

const JSON_TYPES = ['application/json', 'application/graphql-response+json'];

/**
 * JSON bodies up to `maxBytes`; a larger body is refused with 413 before it is read in full (one whose
 * Content-Length says so is not read at all: `boundedBodyParser`). The plain JSON POSTs (`isPlainJsonPost`) are
 * read by the lane's `jsonBody(maxBytes)` instead, with the same errors.
 */
export function graphqlBody(maxBytes: number): RequestHandler {
  return boundedBodyParser(
    express.json({ limit: maxBytes, type: JSON_TYPES }) as unknown as Step,
    maxBytes,
    (req) => Boolean((req as unknown as Request).is(JSON_TYPES)),
  ) as unknown as RequestHandler;
}

export function bodyErrors(
  format: (f: GraphQLFormattedError, e: unknown) => GraphQLFormattedError,
): ErrorStep {
  return (error, req, res, next) => {
    const err = error as { type?: string; status?: number; limit?: number } | undefined;
    if (err?.type === 'entity.too.large') {
      const e = gatewayError('BAD_USER_INPUT', `request body larger than ${err.limit} bytes`, {
        limit: 'maxBodyBytes',
      });
      return sendGraphQLError(req, res, e, format, 413);
    }
    if (err?.type === 'entity.parse.failed') {
      return sendGraphQLError(
        req,
        res,
        gatewayError('BAD_USER_INPUT', 'request body is not valid JSON'),
        format,
        400,
      );
    }
    next(err);
  };
}
