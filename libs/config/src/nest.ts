/** Injection token of an app's typed config object (parsed once in main.ts, provided by value). */
export const APP_CONFIG = Symbol.for('switchyard.config');
