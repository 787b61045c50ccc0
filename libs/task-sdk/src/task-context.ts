import type { Device } from '#libs/contracts';

/** Which attempt of which node is running. */
export interface AttemptInfo {
  jobId: string;
  nodeId: string;
  attempt: number;
  tenant: string;
}

export interface TaskLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The device the actor owns (the runner process sees only it through CUDA_VISIBLE_DEVICES). */
export type TaskDevice = Pick<
  Device,
  'kind' | 'index' | 'name' | 'uuid' | 'memoryMb' | 'driverVersion' | 'cudaVersion'
>;

export interface ArtifactMeta {
  /** File name of the artifact (last segment of its object key), e.g. "resized.png". */
  name: string;
  contentType: string;
  /** Size in bytes when known up front (streams): lets storage avoid multipart uploads. */
  size?: number;
}

/** A source for `artifacts.put`: bytes, a path of a local file, or a stream. */
export type ArtifactSource = Buffer | string | NodeJS.ReadableStream;

/** What storage recorded about an artifact, known without reading its bytes. */
export interface ArtifactStat {
  name: string;
  contentType: string;
  /** Bytes, as recorded when the artifact was stored. */
  size: number;
}

export interface TaskArtifacts {
  /** The artifact's recorded name, type and size: check them before reading (same rules as `read`). */
  stat(artifactId: string): Promise<ArtifactStat>;
  /** Stores an output of this attempt; resolves to its artifact id once it is durably staged. */
  put(source: ArtifactSource, meta: ArtifactMeta): Promise<string>;
  /** Reads an artifact (usually an upstream node's output) into memory. */
  read(artifactId: string): Promise<Buffer>;
  /** Writes an artifact to a local file (for large inputs). */
  download(artifactId: string, toPath: string): Promise<void>;
}

/** What a task's `run` receives besides its validated input. */
export interface TaskContext {
  attempt: AttemptInfo;
  /** Fraction in [0, 1]. Out-of-range values are clamped and NaN ignored by runTask's wrapper. */
  progress(fraction: number, message?: string): void;
  log: TaskLog;
  /** Aborted on cancellation, timeout or drain; `signal.reason` may be a TaskError saying why. */
  signal: AbortSignal;
  device: TaskDevice;
  /** A private, empty directory for this attempt (removed after it). */
  workDir: string;
  artifacts: TaskArtifacts;
}
