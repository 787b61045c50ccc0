/** The next `n` values of an async iterator (a subscription, a stream follower): fewer if it ends first. */
export async function take<T>(it: { next(): Promise<IteratorResult<T>> }, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}
