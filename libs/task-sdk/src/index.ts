export { defineTask, TaskDefinitionError } from './define-task.js';
export type { TaskDefinition, TaskSpec } from './define-task.js';
export type {
  ArtifactMeta,
  ArtifactSource,
  ArtifactStat,
  AttemptInfo,
  TaskArtifacts,
  TaskContext,
  TaskDevice,
  TaskLog,
} from './task-context.js';
export { TaskError, isTaskError, errorMessage } from './task-error.js';
export { runTask, normaliseProgress, describeIssues, MAX_PROGRESS_MESSAGE } from './run-task.js';
export { TaskCatalog, DuplicateTaskError } from './task-catalog.js';
export { toTaskJsonSchema } from './json-schema.js';
export { artifactId } from './artifact-id.js';
export { createLocalTaskContext } from './local-task-context.js';
export type { LocalTaskContext, LocalTaskContextOptions, StoredLocalArtifact } from './local-task-context.js';
export { schemaDisagreements } from './schema-agreement.js';
export type { AgreementMismatch } from './schema-agreement.js';
export { readBounded, assertArtifactSize } from './read-bounded.js';
