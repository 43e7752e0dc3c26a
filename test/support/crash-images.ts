/**
 * The disk images a power loss at one crash point could leave, enumerated from a
 * {@link CrashState} of the simulated disk (its module comment states the model):
 * - every pending operation lost (only what barriers made durable survives);
 * - each prefix of the pending operations persisted, in issue order;
 * - every pending operation but one persisted;
 * - seeded random subsets;
 * - a write torn: the operations before it persisted, then part of it, at 512 B, 4 KiB or
 *   byte granularity, with the rest of its range holding the old bytes, zeros or garbage, and
 *   also only its tail persisted. Garbage lies only where the file already held bytes (stale
 *   sectors of its own); past the file's durable end the unwritten part reads as zeros or is
 *   absent, as every journaling file system guarantees for blocks it newly allocates
 *   (ext4 `data=ordered`, XFS and btrfs unwritten extents, APFS, NTFS): a crash never shows
 *   another file's old bytes there.
 * Unsynced directory operations (segments created or deleted, a renamed head) are pending
 * operations like any other, so the images above include them reverted.
 */

import { type CrashState, imageOf, type PendingOperation, type SimDisk } from "./sim-disk.ts";

/** One image and how it was made, for failure messages. */
export interface CrashImage {
  readonly label: string;
  readonly disk: SimDisk;
}

/** How many of each kind of image to make per crash point. */
export interface ImageBudget {
  /** Random subsets per crash point. */
  readonly randomSubsets: number;
  /** Tear positions per granularity per write. */
  readonly tearsPerWrite: number;
}

const GRANULARITIES = [512, 4096, 1] as const;
const FILLS = ["old", "zeros", "garbage"] as const;

/** Every image of `state` under `budget`, drawing randomness from `next`. */
export function* crashImages(
  state: CrashState,
  next: () => number,
  budget: ImageBudget,
): Generator<CrashImage> {
  const pending = state.pending;
  const n = pending.length;
  yield { label: "pending lost", disk: imageOf(state, []) };
  for (let k = 1; k <= n; k++) {
    yield {
      label: `first ${k} of ${n} pending persisted`,
      disk: imageOf(state, pending.slice(0, k)),
    };
  }
  // Dropping the last one is the prefix n - 1, made above.
  for (let skip = 0; skip < n - 1; skip++) {
    yield {
      label: `all ${n} pending but #${skip + 1} persisted`,
      disk: imageOf(
        state,
        pending.filter((_, i) => i !== skip),
      ),
    };
  }
  if (n > 1) {
    for (let r = 0; r < budget.randomSubsets; r++) {
      const kept = pending.filter(() => (next() & 1) === 1);
      yield { label: `random subset of ${kept.length}/${n} pending`, disk: imageOf(state, kept) };
    }
  }
  for (let w = 0; w < n; w++) {
    const op = pending[w]!;
    if (op.kind !== "write" || op.bytes.length < 2) continue;
    const durableEnd = state.durable.files.get(op.inode)?.length ?? 0;
    for (const tear of tears(op, durableEnd, next, budget.tearsPerWrite)) {
      yield {
        label: `${w} pending persisted, then #${w + 1} torn: ${tear.label}`,
        disk: imageOf(state, [...pending.slice(0, w), ...tear.operations]),
      };
    }
  }
}

type Write = Extract<PendingOperation, { kind: "write" }>;

/**
 * Torn versions of `op`: which of its bytes persisted, and what the rest of its range holds.
 * `durableEnd` is the file's durable length, past which no garbage is made (see the top).
 */
function* tears(
  op: Write,
  durableEnd: number,
  next: () => number,
  perGranularity: number,
): Generator<{ label: string; operations: PendingOperation[] }> {
  const start = op.position;
  const end = op.position + op.bytes.length;
  for (const granularity of GRANULARITIES) {
    const cuts: number[] = [];
    for (let at = Math.ceil((start + 1) / granularity) * granularity; at < end; at += granularity) {
      cuts.push(at);
    }
    if (cuts.length === 0) continue;
    // Evenly spread when there are many: first, last, and between.
    const chosen = new Set<number>();
    for (let i = 0; i < perGranularity; i++) {
      chosen.add(
        cuts[
          granularity === 1
            ? next() % cuts.length
            : Math.floor((i * (cuts.length - 1)) / Math.max(1, perGranularity - 1))
        ]!,
      );
    }
    for (const cut of chosen) {
      const fill = FILLS[next() % FILLS.length]!;
      const head = part(op, start, cut);
      const rest = filler(fill, op, cut, end, durableEnd, next);
      yield {
        label: `first ${cut - start} of ${op.bytes.length} bytes at ${start} (${granularity} B), rest ${fill}`,
        operations: rest === null ? [head] : [head, rest],
      };
      yield {
        label: `last ${end - cut} of ${op.bytes.length} bytes at ${start} (${granularity} B), rest old`,
        operations: [part(op, cut, end)],
      };
    }
  }
}

function part(op: Write, from: number, to: number): Write {
  return { ...op, position: from, bytes: op.bytes.subarray(from - op.position, to - op.position) };
}

function filler(
  fill: (typeof FILLS)[number],
  op: Write,
  from: number,
  to: number,
  durableEnd: number,
  next: () => number,
): Write | null {
  if (fill === "old") return null;
  const bytes = new Uint8Array(to - from);
  if (fill === "garbage") {
    const stale = Math.max(0, Math.min(to, durableEnd) - from);
    for (let i = 0; i < stale; i++) bytes[i] = next() & 0xff;
  }
  return { ...op, position: from, bytes };
}
