/**
 * @tensorflow/tfjs on its pure-JS CPU backend, loaded on first use: tasks that do not train (most of a
 * runner's life) never pay for it, and no native binding is needed.
 */
export type Tf = typeof import('@tensorflow/tfjs');

let loading: Promise<Tf> | undefined;
let loaded: Tf | undefined;

export function loadTensorflow(): Promise<Tf> {
  loading ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    await tf.ready();
    // The CPU backend prints a multi-line "install tfjs-node" banner on first use; the pure-JS backend is
    // a deliberate choice here (no native build), so mark it as used to keep runner logs clean.
    (tf.backend() as { firstUse?: boolean }).firstUse = false;
    loaded = tf;
    return tf;
  })();
  return loading;
}

/** The tensors tfjs holds now (off the V8 heap); undefined when no task has loaded tfjs in this process. */
export function tensorMemory(): { tensors: number; bytes: number } | undefined {
  if (!loaded) return undefined;
  const m = loaded.memory();
  return { tensors: m.numTensors, bytes: m.numBytes };
}
