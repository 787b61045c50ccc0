/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "subscription FollowJob($jobId: ID!, $after: String) {\n  jobEvents(jobId: $jobId, after: $after) {\n    cursor\n    seq\n    type\n    nodeId\n    progress\n    message\n    at\n    job {\n      id\n      status\n      progress\n      error {\n        code\n        message\n      }\n    }\n  }\n}": typeof types.FollowJobDocument,
    "query JobWithArtifacts($id: ID!) {\n  job(id: $id) {\n    id\n    status\n    finishedAt\n    artifacts {\n      id\n      name\n      contentType\n      size\n    }\n  }\n}": typeof types.JobWithArtifactsDocument,
    "mutation SubmitJob($input: SubmitJobInput!) {\n  submitJob(input: $input) {\n    id\n    status\n    nodes {\n      id\n      task\n      status\n    }\n  }\n}": typeof types.SubmitJobDocument,
};
const documents: Documents = {
    "subscription FollowJob($jobId: ID!, $after: String) {\n  jobEvents(jobId: $jobId, after: $after) {\n    cursor\n    seq\n    type\n    nodeId\n    progress\n    message\n    at\n    job {\n      id\n      status\n      progress\n      error {\n        code\n        message\n      }\n    }\n  }\n}": types.FollowJobDocument,
    "query JobWithArtifacts($id: ID!) {\n  job(id: $id) {\n    id\n    status\n    finishedAt\n    artifacts {\n      id\n      name\n      contentType\n      size\n    }\n  }\n}": types.JobWithArtifactsDocument,
    "mutation SubmitJob($input: SubmitJobInput!) {\n  submitJob(input: $input) {\n    id\n    status\n    nodes {\n      id\n      task\n      status\n    }\n  }\n}": types.SubmitJobDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription FollowJob($jobId: ID!, $after: String) {\n  jobEvents(jobId: $jobId, after: $after) {\n    cursor\n    seq\n    type\n    nodeId\n    progress\n    message\n    at\n    job {\n      id\n      status\n      progress\n      error {\n        code\n        message\n      }\n    }\n  }\n}"): (typeof documents)["subscription FollowJob($jobId: ID!, $after: String) {\n  jobEvents(jobId: $jobId, after: $after) {\n    cursor\n    seq\n    type\n    nodeId\n    progress\n    message\n    at\n    job {\n      id\n      status\n      progress\n      error {\n        code\n        message\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query JobWithArtifacts($id: ID!) {\n  job(id: $id) {\n    id\n    status\n    finishedAt\n    artifacts {\n      id\n      name\n      contentType\n      size\n    }\n  }\n}"): (typeof documents)["query JobWithArtifacts($id: ID!) {\n  job(id: $id) {\n    id\n    status\n    finishedAt\n    artifacts {\n      id\n      name\n      contentType\n      size\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation SubmitJob($input: SubmitJobInput!) {\n  submitJob(input: $input) {\n    id\n    status\n    nodes {\n      id\n      task\n      status\n    }\n  }\n}"): (typeof documents)["mutation SubmitJob($input: SubmitJobInput!) {\n  submitJob(input: $input) {\n    id\n    status\n    nodes {\n      id\n      task\n      status\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;