/** The slice of a pino logger storage code uses (so the lib stays free of a concrete logger). */
export interface StorageLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * Hooks for counting what storage does; the app binds them to its metrics (libs/observability), so
 * no metrics SDK is called from here.
 */
export interface StorageMetrics {
  storageError(operation: string, code: string): void;
}

export const NO_METRICS: StorageMetrics = { storageError: () => undefined };
