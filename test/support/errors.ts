/** Assertions on thrown errors: anything wal-db throws on purpose must be a WalError. */

import { expect } from "bun:test";
import { WalError } from "../../src/index.ts";

/** Runs `run`, which must throw a WalError; returns it. Fails the test otherwise. */
export function walErrorOf(run: () => unknown): WalError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WalError);
    return error as WalError;
  }
  throw new Error("expected a WalError, but the call returned");
}

/** Awaits `promise`, which must reject with a WalError; returns it. Fails the test otherwise. */
export async function walRejectionOf(promise: Promise<unknown>): Promise<WalError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(WalError);
    return error as WalError;
  }
  throw new Error("expected a WalError, but the promise resolved");
}
