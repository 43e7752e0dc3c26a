/**
 * Size knobs and figures for the reliability harnesses (docs/RELIABILITY.md).
 *
 * Every harness sizes itself with `sized(variable, ciDefault)`: the environment variable when
 * set, else the CI-sized default times `WAL_SCALE` (default 1; the nightly run sets 10). Each
 * harness ends by calling `reportFigures`, which prints one `[reliability]` line and, when
 * `WAL_RELIABILITY_OUT` names a file, appends the figures to it as a JSON line, so one run of
 * the suite yields every number RELIABILITY.md states.
 */

import { appendFileSync } from "node:fs";

/** The multiplier for every CI-sized default: WAL_SCALE, default 1. */
export const SCALE = positive("WAL_SCALE", 1);

/** `variable` from the environment when set, else `ciDefault × WAL_SCALE`. */
export function sized(variable: string, ciDefault: number): number {
  return process.env[variable] === undefined
    ? Math.ceil(ciDefault * SCALE)
    : positive(variable, ciDefault);
}

/** What one harness checked, and what it found wrong (every count but the first must be 0). */
export interface Figures {
  /** Units checked: crash images, faults, kills, bit flips, fuzz inputs... */
  readonly checked: number;
  /** What a unit is, plural: "crash images", "kills"... */
  readonly unit: string;
  /** Acknowledged records missing or different after recovery. */
  readonly lost: number;
  /** Recovered records never submitted, or stale ones a truncation had removed. */
  readonly phantom: number;
  /** Errors that were not `WalError`s. */
  readonly untyped: number;
  /** Anything else worth stating, as numbers. */
  readonly extra?: Readonly<Record<string, number>>;
  /** The seed to replay with (WAL_SEED), when the harness is randomised. */
  readonly seed?: number;
}

/** Prints one harness's figures and records them for RELIABILITY.md. */
export function reportFigures(harness: string, figures: Figures): void {
  const extra = Object.entries(figures.extra ?? {})
    .map(([key, value]) => ` ${key}=${value}`)
    .join("");
  const seed = figures.seed === undefined ? "" : ` WAL_SEED=${figures.seed}`;
  console.log(
    `[reliability] ${harness}: ${figures.checked} ${figures.unit}, ${figures.lost} lost, ` +
      `${figures.phantom} phantom, ${figures.untyped} untyped${extra}${seed}`,
  );
  const out = process.env.WAL_RELIABILITY_OUT;
  if (out !== undefined && out !== "") {
    appendFileSync(out, `${JSON.stringify({ harness, scale: SCALE, ...figures })}\n`);
  }
}

function positive(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${variable} must be a positive number, got ${JSON.stringify(raw)}`);
  }
  return value;
}
