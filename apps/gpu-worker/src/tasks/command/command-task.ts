import { mkdir, rm, writeFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { z } from 'zod';
import { artifactId, defineTask, TaskError, type TaskContext, type TaskDefinition } from '#libs/task-sdk';
import type { CommandTaskDeclaration } from './command-tasks-file.js';
import { artifactInputFields, restrictedSchemaToZod } from './restricted-input-schema.js';
import { listOutputFiles } from './output-files.js';
import { runCommand } from './run-command.js';
import { throttledProgress } from './throttled-progress.js';
import type { CommandTaskUserSettings } from '../../runner/ipc-protocol.js';
import { commandTaskUser, endProcessesOf, giveFile, giveTree, type TaskUser } from './task-user.js';
import { removeFilesOf } from './leftover-files.js';

export { MAX_OUTPUT_FILES } from './output-files.js';
/** Log lines forwarded per attempt; beyond that, output is counted, not shipped (protects the reports stream). */
export const MAX_LOG_LINES = 5000;
/**
 * Characters of output lines forwarded per attempt (1 MiB, the jobs subgraph's default JOB_LOG_MAX_BYTES for the
 * whole job): 5000 lines of 8000 characters would be 40 MB of reports for the scheduler to read and drop.
 */
export const MAX_LOG_CHARS = 1024 * 1024;
const MAX_LOG_LINE_CHARS = 8000;

/** Variables of the worker's environment a command may see: how to find programs and its device. */
const INHERITED_ENV = /^(PATH|HOME|LANG|LC_[A-Z]+|TZ|USER|LD_LIBRARY_PATH|CUDA_[A-Z_]+|NVIDIA_[A-Z_]+)$/;

const CommandOutput = z.strictObject({
  artifacts: z.array(artifactId()),
  exitCode: z.int(),
});
type CommandOutput = z.infer<typeof CommandOutput>;

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.csv': 'text/csv',
  '.txt': 'text/plain',
  '.log': 'text/plain',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.npy': 'application/octet-stream',
  '.pt': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
  '.zip': 'application/zip',
  '.tar': 'application/x-tar',
  '.gz': 'application/gzip',
};

export interface CommandTaskOptions {
  /** Grace between SIGTERM and SIGKILL on cancellation. */
  killGraceMs?: number;
  /** Who the command runs as when the runner runs as root (the worker's settings). */
  user?: CommandTaskUserSettings;
}

/**
 * A task that runs an operator-declared command. Its input values are written to SWITCHYARD_INPUT_FILE
 * (JSON); input artifacts are downloaded into SWITCHYARD_INPUT_DIR/<field>; every regular file the command
 * leaves in SWITCHYARD_OUTPUT_DIR becomes an artifact. stdout lines `{"progress":0.5,"message":"..."}`
 * are progress, other lines logs. A non-zero exit fails the attempt (retryable).
 */
export function commandTask(
  decl: CommandTaskDeclaration,
  opts: CommandTaskOptions = {},
): TaskDefinition<Record<string, unknown>, CommandOutput> {
  const artifactFields = artifactInputFields(decl.input);
  return defineTask({
    name: decl.name,
    version: decl.version,
    ...(decl.description === undefined ? {} : { description: decl.description }),
    resources: decl.resources,
    input: restrictedSchemaToZod(decl.input),
    output: CommandOutput,
    timeoutMs: decl.timeoutMs,
    attempts: decl.attempts,
    artifactFields: ['artifacts'],
    async run(input, ctx) {
      const inputDir = join(ctx.workDir, 'input');
      const outputDir = join(ctx.workDir, 'output');
      const tmpDir = join(ctx.workDir, 'tmp');
      // start from empty folders: only what this run leaves behind may become its artifacts
      await Promise.all(
        [inputDir, outputDir, tmpDir].map(async (d) => {
          await rm(d, { recursive: true, force: true });
          await mkdir(d, { recursive: true });
        }),
      );
      for (const field of artifactFields) {
        const id = input[field];
        if (typeof id === 'string') await ctx.artifacts.download(id, join(inputDir, field));
      }
      const inputFile = join(ctx.workDir, 'input.json');
      await writeFile(inputFile, JSON.stringify(input));
      // As root, the command runs as an unprivileged user that owns only this attempt's folders.
      const user = commandTaskUser(opts.user);
      if (user) {
        await endProcessesOf(user);
        // what an earlier attempt of the uid left in /tmp, /dev/shm… (a runner that died before cleaning)
        await removeFilesOf(user, { keep: [ctx.workDir] });
        for (const d of [inputDir, outputDir, tmpDir]) await giveTree(d, user);
        await giveFile(inputFile, user);
      }

      const log = boundedLog(ctx);
      const progress = throttledProgress((fraction, message) => ctx.progress(fraction, message));
      ctx.log.info(`running ${decl.argv.join(' ')}`);
      const result = await runCommand({
        argv: decl.argv,
        cwd: decl.cwd ?? ctx.workDir,
        env: commandEnv(decl, ctx, { inputFile, inputDir, outputDir, tmpDir }, user),
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
        signal: ctx.signal,
        ...(opts.killGraceMs === undefined ? {} : { killGraceMs: opts.killGraceMs }),
        onProgress: progress,
        onLine: (stream, line) => log(stream, line),
      }).finally(() => {
        progress.flush();
        log.flush();
      });
      // what it left running (outside its process group too) ends before its outputs are read
      // and what it left in /tmp, /dev/shm… goes too, before the actor's next attempt (same uid) can find it
      if (user) {
        await endProcessesOf(user);
        await removeFilesOf(user, { keep: [ctx.workDir] });
      }

      if (ctx.signal.aborted)
        throw new Error(`command stopped (${result.exitSignal ?? `exit ${result.exitCode}`})`);
      if (result.exitCode !== 0) {
        const how = result.exitSignal
          ? `was killed by ${result.exitSignal}`
          : `exited with code ${result.exitCode}`;
        const tail = result.stderrTail.length ? `: ${result.stderrTail.join('\n')}` : '';
        throw new TaskError('TASK_FAILED', `command ${decl.argv[0]} ${how}${tail}`, { retryable: true });
      }

      // bounded: files, entries and depth (output-files.ts); beyond one, the attempt fails and nothing is uploaded
      const files = await listOutputFiles(outputDir);
      const artifacts: string[] = [];
      for (const file of files) {
        const rel = relative(outputDir, file.path);
        artifacts.push(
          await ctx.artifacts.put(file.path, {
            name: rel.split(sep).join('_'),
            contentType: CONTENT_TYPES[extname(rel).toLowerCase()] ?? 'application/octet-stream',
            size: file.size,
          }),
        );
      }
      ctx.progress(1, `exit 0, ${artifacts.length} output file(s)`);
      return { artifacts, exitCode: 0 };
    },
  });
}

function commandEnv(
  decl: CommandTaskDeclaration,
  ctx: TaskContext,
  paths: { inputFile: string; inputDir: string; outputDir: string; tmpDir: string },
  user: TaskUser | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && INHERITED_ENV.test(k)) env[k] = v;
  return {
    ...env,
    ...(user ? { HOME: paths.tmpDir, USER: user.name } : {}),
    ...decl.env,
    TMPDIR: paths.tmpDir,
    SWITCHYARD_INPUT_FILE: paths.inputFile,
    SWITCHYARD_INPUT_DIR: paths.inputDir,
    SWITCHYARD_OUTPUT_DIR: paths.outputDir,
    SWITCHYARD_JOB_ID: ctx.attempt.jobId,
    SWITCHYARD_NODE_ID: ctx.attempt.nodeId,
    SWITCHYARD_ATTEMPT: String(ctx.attempt.attempt),
    SWITCHYARD_DEVICE: `${ctx.device.kind} ${ctx.device.index}`,
  };
}

/**
 * Forwards output lines as logs up to MAX_LOG_LINES lines and MAX_LOG_CHARS characters, then counts what it drops
 * and says so once. The first line refused ends forwarding: no shorter line after it, so the log has no holes.
 */
function boundedLog(ctx: TaskContext) {
  let sent = 0;
  let chars = 0;
  let dropped = 0;
  const log = (stream: 'stdout' | 'stderr', line: string) => {
    const text = line.length > MAX_LOG_LINE_CHARS ? `${line.slice(0, MAX_LOG_LINE_CHARS)}…` : line;
    if (dropped > 0 || sent >= MAX_LOG_LINES || chars + text.length > MAX_LOG_CHARS) {
      dropped++;
      return;
    }
    sent++;
    chars += text.length;
    if (stream === 'stderr') ctx.log.warn(text);
    else ctx.log.info(text);
  };
  log.flush = () => {
    if (dropped > 0)
      ctx.log.warn(
        `${dropped} further output line(s) were not forwarded (limit ${MAX_LOG_LINES} lines, ${MAX_LOG_CHARS} characters per attempt)`,
      );
  };
  return log;
}
