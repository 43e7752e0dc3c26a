/**
 * @module
 * The progress bar long scans draw on stderr. It is drawn only when stderr is a terminal:
 * piped or redirected, stderr carries errors only, so scripts and logs never see `\r` frames.
 * It appears only once a scan has run for a moment, so quick scans never flicker.
 */

/** Where a bar draws: stderr, or a test double with the same two members. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/**
 * How long a scan runs before its bar appears: shorter scans show nothing. The environment
 * variable `WAL_DB_PROGRESS_DELAY_MS` overrides it (tests set 0 to see the bar on small logs).
 */
const DEFAULT_DELAY_MS = delayFromEnvironment(process.env.WAL_DB_PROGRESS_DELAY_MS) ?? 300;
/** The least time between two redraws: faster gains nothing a person can see. */
const REDRAW_INTERVAL_MS = 100;
/** Width of the bar itself, in characters. */
const BAR_WIDTH = 30;

/** A progress bar over `total` units (bytes of log, for the scans). */
export class ProgressBar {
  private readonly enabled: boolean;
  private readonly startedAt = performance.now();
  private lastDrawAt = Number.NEGATIVE_INFINITY;
  private drawn = false;

  /**
   * @param label - what is being done, printed before the bar, e.g. "verify".
   * @param total - the units the scan covers; a total of 0 draws nothing.
   * @param stream - where to draw; nothing is drawn unless `stream.isTTY` is true.
   * @param delayMs - how long after creation the bar may first appear.
   */
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly delayMs = DEFAULT_DELAY_MS,
  ) {
    this.enabled = stream.isTTY === true && total > 0;
  }

  /** Reports that `done` of the `total` units are finished; redraws when it is time to. */
  update(done: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.startedAt < this.delayMs || now - this.lastDrawAt < REDRAW_INTERVAL_MS) return;
    this.lastDrawAt = now;
    const fraction = Math.min(1, Math.max(0, done / this.total));
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled);
    this.stream.write(`\r${this.label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%`);
    this.drawn = true;
  }

  /** Erases the bar, if it was drawn, so the next line on the terminal starts clean. */
  finish(): void {
    if (!this.drawn) return;
    this.stream.write("\r\x1b[2K");
    this.drawn = false;
  }
}

function delayFromEnvironment(text: string | undefined): number | undefined {
  const value = Number(text);
  return text !== undefined && text !== "" && Number.isFinite(value) && value >= 0
    ? value
    : undefined;
}
