/** Iterating a log in tests where the iteration itself may throw. */

/**
 * Drains an iterator, returning what it yielded and what it threw (null when it ended). Calling
 * `start` is inside the catch, so an error thrown eagerly counts as thrown before any yield.
 */
export function drain<T>(start: () => Iterable<T>): { yielded: T[]; thrown: unknown } {
  const yielded: T[] = [];
  try {
    for (const item of start()) yielded.push(item);
    return { yielded, thrown: null };
  } catch (error) {
    return { yielded, thrown: error };
  }
}
