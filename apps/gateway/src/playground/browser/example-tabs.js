// Example operations, one per tab (used when no tabs are stored yet).
export const EXAMPLE_TABS = [
  {
    query: `# What the live workers can run now
query Capabilities {
  capabilities {
    name
    versions
    workers
    description
  }
  templates {
    name
    description
  }
}
`,
  },
  {
    query: `# Submit a template (upload the image first: createUpload → PUT → completeUpload, or use /console)
mutation SubmitThumbnail($params: JSON) {
  submitJob(input: { template: "thumbnail", params: $params }) {
    id
    status
  }
}
`,
    variables: `{
  "params": { "image": "<artifact id of an uploaded image>", "width": 64 }
}
`,
  },
  {
    query: `# Follow a job live; pass the last cursor as $after to resume after a disconnect
subscription FollowJob($jobId: ID!, $after: String) {
  jobEvents(jobId: $jobId, after: $after) {
    seq
    cursor
    type
    nodeId
    progress
    message
    job {
      status
      progress
      artifacts {
        name
        downloadUrl
      }
    }
  }
}
`,
    variables: `{
  "jobId": "<job id>"
}
`,
  },
];
