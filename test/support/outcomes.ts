/**
 * How a call ended, as plain data that crosses threads and processes: the value it returned, or
 * what it threw (whether a WalError, its code and message), and how long it took.
 */

import { WalError } from "../../src/index.ts";

/** How one call ended. */
export type CallOutcome =
  | { readonly kind: "ok"; readonly lsn: number | null; readonly ms: number }
  | {
      readonly kind: "threw";
      readonly walError: boolean;
      readonly code: string | null;
      readonly message: string;
      readonly ms: number;
    };

/** Runs `call` (awaiting it when it returns a promise) and describes how it ended; never throws. */
export async function outcomeOf(call: () => unknown): Promise<CallOutcome> {
  const started = performance.now();
  try {
    const result = await call();
    const lsn = typeof result === "number" ? result : null;
    return { kind: "ok", lsn, ms: performance.now() - started };
  } catch (error) {
    return {
      kind: "threw",
      walError: error instanceof WalError,
      code: error instanceof WalError ? error.code : null,
      message: error instanceof Error ? error.message : String(error),
      ms: performance.now() - started,
    };
  }
}
