/* eslint-disable */
import * as types from './graphql';
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
    "\n  fragment JobRow on Job {\n    id\n    status\n    progress\n    template\n    createdAt\n    finishedAt\n    error {\n      code\n      message\n    }\n  }\n": typeof types.JobRowFragmentDoc,
    "\n  query ConsoleJobs($filter: JobFilter, $first: Int) {\n    jobs(filter: $filter, first: $first) {\n      edges {\n        cursor\n        node {\n          ...JobRow\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.ConsoleJobsDocument,
    "\n  subscription ConsoleJobFeed {\n    jobFeed {\n      cursor\n      seq\n      jobId\n      type\n      at\n      job {\n        ...JobRow\n      }\n    }\n  }\n": typeof types.ConsoleJobFeedDocument,
    "\n  fragment JobDetail on Job {\n    id\n    status\n    progress\n    template\n    labels\n    createdAt\n    startedAt\n    finishedAt\n    error {\n      code\n      message\n      retryable\n    }\n    nodes {\n      id\n      task\n      taskVersion\n      status\n      progress\n      message\n      attempts\n      outputs\n      workerId\n      startedAt\n      finishedAt\n      dependsOn\n      error {\n        code\n        message\n        retryable\n      }\n    }\n    artifacts {\n      id\n      nodeId\n      name\n      contentType\n      size\n      sha256\n      createdAt\n      downloadUrl\n    }\n  }\n": typeof types.JobDetailFragmentDoc,
    "\n  query ConsoleJob($id: ID!) {\n    job(id: $id) {\n      ...JobDetail\n    }\n  }\n": typeof types.ConsoleJobDocument,
    "\n  subscription ConsoleJobEvents($jobId: ID!, $after: String) {\n    jobEvents(jobId: $jobId, after: $after) {\n      cursor\n      seq\n      nodeId\n      type\n      progress\n      message\n      at\n    }\n  }\n": typeof types.ConsoleJobEventsDocument,
    "\n  mutation ConsoleCancelJob($id: ID!) {\n    cancelJob(id: $id) {\n      ...JobDetail\n    }\n  }\n": typeof types.ConsoleCancelJobDocument,
    "\n  mutation ConsoleRetryJob($id: ID!) {\n    retryJob(id: $id) {\n      ...JobDetail\n    }\n  }\n": typeof types.ConsoleRetryJobDocument,
    "\n  query ConsoleTemplates {\n    templates {\n      name\n      description\n      paramsSchema\n    }\n  }\n": typeof types.ConsoleTemplatesDocument,
    "\n  mutation ConsoleSubmitJob($input: SubmitJobInput!) {\n    submitJob(input: $input) {\n      id\n      status\n    }\n  }\n": typeof types.ConsoleSubmitJobDocument,
    "\n  mutation ConsoleCreateUpload($input: CreateUploadInput!) {\n    createUpload(input: $input) {\n      artifactId\n      uploadUrl\n      method\n      headers\n      fields\n      expiresAt\n    }\n  }\n": typeof types.ConsoleCreateUploadDocument,
    "\n  mutation ConsoleCompleteUpload($artifactId: ID!) {\n    completeUpload(artifactId: $artifactId) {\n      id\n      name\n      contentType\n      size\n      sha256\n    }\n  }\n": typeof types.ConsoleCompleteUploadDocument,
    "\n  query ConsoleSignInCheck {\n    templates {\n      name\n    }\n  }\n": typeof types.ConsoleSignInCheckDocument,
};
const documents: Documents = {
    "\n  fragment JobRow on Job {\n    id\n    status\n    progress\n    template\n    createdAt\n    finishedAt\n    error {\n      code\n      message\n    }\n  }\n": types.JobRowFragmentDoc,
    "\n  query ConsoleJobs($filter: JobFilter, $first: Int) {\n    jobs(filter: $filter, first: $first) {\n      edges {\n        cursor\n        node {\n          ...JobRow\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.ConsoleJobsDocument,
    "\n  subscription ConsoleJobFeed {\n    jobFeed {\n      cursor\n      seq\n      jobId\n      type\n      at\n      job {\n        ...JobRow\n      }\n    }\n  }\n": types.ConsoleJobFeedDocument,
    "\n  fragment JobDetail on Job {\n    id\n    status\n    progress\n    template\n    labels\n    createdAt\n    startedAt\n    finishedAt\n    error {\n      code\n      message\n      retryable\n    }\n    nodes {\n      id\n      task\n      taskVersion\n      status\n      progress\n      message\n      attempts\n      outputs\n      workerId\n      startedAt\n      finishedAt\n      dependsOn\n      error {\n        code\n        message\n        retryable\n      }\n    }\n    artifacts {\n      id\n      nodeId\n      name\n      contentType\n      size\n      sha256\n      createdAt\n      downloadUrl\n    }\n  }\n": types.JobDetailFragmentDoc,
    "\n  query ConsoleJob($id: ID!) {\n    job(id: $id) {\n      ...JobDetail\n    }\n  }\n": types.ConsoleJobDocument,
    "\n  subscription ConsoleJobEvents($jobId: ID!, $after: String) {\n    jobEvents(jobId: $jobId, after: $after) {\n      cursor\n      seq\n      nodeId\n      type\n      progress\n      message\n      at\n    }\n  }\n": types.ConsoleJobEventsDocument,
    "\n  mutation ConsoleCancelJob($id: ID!) {\n    cancelJob(id: $id) {\n      ...JobDetail\n    }\n  }\n": types.ConsoleCancelJobDocument,
    "\n  mutation ConsoleRetryJob($id: ID!) {\n    retryJob(id: $id) {\n      ...JobDetail\n    }\n  }\n": types.ConsoleRetryJobDocument,
    "\n  query ConsoleTemplates {\n    templates {\n      name\n      description\n      paramsSchema\n    }\n  }\n": types.ConsoleTemplatesDocument,
    "\n  mutation ConsoleSubmitJob($input: SubmitJobInput!) {\n    submitJob(input: $input) {\n      id\n      status\n    }\n  }\n": types.ConsoleSubmitJobDocument,
    "\n  mutation ConsoleCreateUpload($input: CreateUploadInput!) {\n    createUpload(input: $input) {\n      artifactId\n      uploadUrl\n      method\n      headers\n      fields\n      expiresAt\n    }\n  }\n": types.ConsoleCreateUploadDocument,
    "\n  mutation ConsoleCompleteUpload($artifactId: ID!) {\n    completeUpload(artifactId: $artifactId) {\n      id\n      name\n      contentType\n      size\n      sha256\n    }\n  }\n": types.ConsoleCompleteUploadDocument,
    "\n  query ConsoleSignInCheck {\n    templates {\n      name\n    }\n  }\n": types.ConsoleSignInCheckDocument,
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
export function graphql(source: "\n  fragment JobRow on Job {\n    id\n    status\n    progress\n    template\n    createdAt\n    finishedAt\n    error {\n      code\n      message\n    }\n  }\n"): (typeof documents)["\n  fragment JobRow on Job {\n    id\n    status\n    progress\n    template\n    createdAt\n    finishedAt\n    error {\n      code\n      message\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleJobs($filter: JobFilter, $first: Int) {\n    jobs(filter: $filter, first: $first) {\n      edges {\n        cursor\n        node {\n          ...JobRow\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleJobs($filter: JobFilter, $first: Int) {\n    jobs(filter: $filter, first: $first) {\n      edges {\n        cursor\n        node {\n          ...JobRow\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleJobFeed {\n    jobFeed {\n      cursor\n      seq\n      jobId\n      type\n      at\n      job {\n        ...JobRow\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription ConsoleJobFeed {\n    jobFeed {\n      cursor\n      seq\n      jobId\n      type\n      at\n      job {\n        ...JobRow\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment JobDetail on Job {\n    id\n    status\n    progress\n    template\n    labels\n    createdAt\n    startedAt\n    finishedAt\n    error {\n      code\n      message\n      retryable\n    }\n    nodes {\n      id\n      task\n      taskVersion\n      status\n      progress\n      message\n      attempts\n      outputs\n      workerId\n      startedAt\n      finishedAt\n      dependsOn\n      error {\n        code\n        message\n        retryable\n      }\n    }\n    artifacts {\n      id\n      nodeId\n      name\n      contentType\n      size\n      sha256\n      createdAt\n      downloadUrl\n    }\n  }\n"): (typeof documents)["\n  fragment JobDetail on Job {\n    id\n    status\n    progress\n    template\n    labels\n    createdAt\n    startedAt\n    finishedAt\n    error {\n      code\n      message\n      retryable\n    }\n    nodes {\n      id\n      task\n      taskVersion\n      status\n      progress\n      message\n      attempts\n      outputs\n      workerId\n      startedAt\n      finishedAt\n      dependsOn\n      error {\n        code\n        message\n        retryable\n      }\n    }\n    artifacts {\n      id\n      nodeId\n      name\n      contentType\n      size\n      sha256\n      createdAt\n      downloadUrl\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleJob($id: ID!) {\n    job(id: $id) {\n      ...JobDetail\n    }\n  }\n"): (typeof documents)["\n  query ConsoleJob($id: ID!) {\n    job(id: $id) {\n      ...JobDetail\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleJobEvents($jobId: ID!, $after: String) {\n    jobEvents(jobId: $jobId, after: $after) {\n      cursor\n      seq\n      nodeId\n      type\n      progress\n      message\n      at\n    }\n  }\n"): (typeof documents)["\n  subscription ConsoleJobEvents($jobId: ID!, $after: String) {\n    jobEvents(jobId: $jobId, after: $after) {\n      cursor\n      seq\n      nodeId\n      type\n      progress\n      message\n      at\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleCancelJob($id: ID!) {\n    cancelJob(id: $id) {\n      ...JobDetail\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleCancelJob($id: ID!) {\n    cancelJob(id: $id) {\n      ...JobDetail\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleRetryJob($id: ID!) {\n    retryJob(id: $id) {\n      ...JobDetail\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleRetryJob($id: ID!) {\n    retryJob(id: $id) {\n      ...JobDetail\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleTemplates {\n    templates {\n      name\n      description\n      paramsSchema\n    }\n  }\n"): (typeof documents)["\n  query ConsoleTemplates {\n    templates {\n      name\n      description\n      paramsSchema\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleSubmitJob($input: SubmitJobInput!) {\n    submitJob(input: $input) {\n      id\n      status\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleSubmitJob($input: SubmitJobInput!) {\n    submitJob(input: $input) {\n      id\n      status\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleCreateUpload($input: CreateUploadInput!) {\n    createUpload(input: $input) {\n      artifactId\n      uploadUrl\n      method\n      headers\n      fields\n      expiresAt\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleCreateUpload($input: CreateUploadInput!) {\n    createUpload(input: $input) {\n      artifactId\n      uploadUrl\n      method\n      headers\n      fields\n      expiresAt\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleCompleteUpload($artifactId: ID!) {\n    completeUpload(artifactId: $artifactId) {\n      id\n      name\n      contentType\n      size\n      sha256\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleCompleteUpload($artifactId: ID!) {\n    completeUpload(artifactId: $artifactId) {\n      id\n      name\n      contentType\n      size\n      sha256\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleSignInCheck {\n    templates {\n      name\n    }\n  }\n"): (typeof documents)["\n  query ConsoleSignInCheck {\n    templates {\n      name\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;