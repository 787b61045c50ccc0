// Every GraphQL operation the console sends, typed by graphql-codegen (codegen.ts → ./gql).
import { graphql } from './gql/index.js';

export const JobRowFields = graphql(`
  fragment JobRow on Job {
    id
    status
    progress
    template
    createdAt
    finishedAt
    error {
      code
      message
    }
  }
`);

export const JobsQuery = graphql(`
  query ConsoleJobs($filter: JobFilter, $first: Int) {
    jobs(filter: $filter, first: $first) {
      edges {
        cursor
        node {
          ...JobRow
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const JobFeedSubscription = graphql(`
  subscription ConsoleJobFeed {
    jobFeed {
      cursor
      seq
      jobId
      type
      at
      job {
        ...JobRow
      }
    }
  }
`);

export const JobDetailFields = graphql(`
  fragment JobDetail on Job {
    id
    status
    progress
    template
    labels
    createdAt
    startedAt
    finishedAt
    error {
      code
      message
      retryable
    }
    nodes {
      id
      task
      taskVersion
      status
      progress
      message
      attempts
      outputs
      workerId
      startedAt
      finishedAt
      dependsOn
      error {
        code
        message
        retryable
      }
    }
    artifacts {
      id
      nodeId
      name
      contentType
      size
      sha256
      createdAt
      downloadUrl
    }
  }
`);

export const JobQuery = graphql(`
  query ConsoleJob($id: ID!) {
    job(id: $id) {
      ...JobDetail
    }
  }
`);

export const JobEventsSubscription = graphql(`
  subscription ConsoleJobEvents($jobId: ID!, $after: String) {
    jobEvents(jobId: $jobId, after: $after) {
      cursor
      seq
      nodeId
      type
      progress
      message
      at
    }
  }
`);

export const CancelJobMutation = graphql(`
  mutation ConsoleCancelJob($id: ID!) {
    cancelJob(id: $id) {
      ...JobDetail
    }
  }
`);

export const RetryJobMutation = graphql(`
  mutation ConsoleRetryJob($id: ID!) {
    retryJob(id: $id) {
      ...JobDetail
    }
  }
`);

export const TemplatesQuery = graphql(`
  query ConsoleTemplates {
    templates {
      name
      description
      paramsSchema
    }
  }
`);

export const SubmitJobMutation = graphql(`
  mutation ConsoleSubmitJob($input: SubmitJobInput!) {
    submitJob(input: $input) {
      id
      status
    }
  }
`);

export const CreateUploadMutation = graphql(`
  mutation ConsoleCreateUpload($input: CreateUploadInput!) {
    createUpload(input: $input) {
      artifactId
      uploadUrl
      method
      headers
      fields
      expiresAt
    }
  }
`);

export const CompleteUploadMutation = graphql(`
  mutation ConsoleCompleteUpload($artifactId: ID!) {
    completeUpload(artifactId: $artifactId) {
      id
      name
      contentType
      size
      sha256
    }
  }
`);

export const WhoAmIQuery = graphql(`
  query ConsoleSignInCheck {
    templates {
      name
    }
  }
`);
