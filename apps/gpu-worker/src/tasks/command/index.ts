export { commandTask, MAX_LOG_LINES, MAX_OUTPUT_FILES } from './command-task.js';
export type { CommandTaskOptions } from './command-task.js';
export {
  CommandTaskDeclaration,
  CommandTasksFile,
  CommandTasksFileError,
  readCommandTasksFile,
} from './command-tasks-file.js';
export {
  RestrictedInputSchema,
  restrictedSchemaToZod,
  artifactInputFields,
} from './restricted-input-schema.js';
export { killRunningCommands, parseProgressLine, runCommand } from './run-command.js';
