/**
 * Assertions (src/assert.ts) throw an AssertionError, never a WalError, so a broken invariant
 * cannot pass for an operating error; and the ones placed in the code fire when broken.
 */

import { expect, test } from "bun:test";
import { AssertionError, assert } from "../src/assert.ts";
import { RecordBoundaries } from "../src/boundaries.ts";
import { WalError } from "../src/index.ts";

test("a failed assertion is an AssertionError, not a WalError, and names the bug", () => {
  expect(() => assert(true, "never")).not.toThrow();
  let thrown: unknown;
  try {
    assert(1 > 2, "one is not above two");
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(AssertionError);
  expect(thrown).not.toBeInstanceOf(WalError);
  expect((thrown as Error).message).toContain("one is not above two");
});

test("the boundary index refuses a record that does not move the frontier forward", () => {
  const index = new RecordBoundaries(0);
  index.observe(0, 12);
  expect(() => index.observe(12, 12)).toThrow(AssertionError);
  expect(index.floor(100)).toBe(12);
});
