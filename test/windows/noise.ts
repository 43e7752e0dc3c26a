/**
 * What Bun's Windows build prints under Wine on its own account: its module resolver reports
 * "Internal error: directory mismatch" for files Wine's directory handles name differently.
 * Harmless (Bun says so), but a test reading a child's stderr must look past it.
 */

const WINE_RESOLVER_NOISE = /^Internal error: directory mismatch for directory .*\n?/gm;

/** A child's stderr without Bun's resolver lines under Wine. */
export function bunStderr(stderr: Uint8Array | string): string {
  const text = typeof stderr === "string" ? stderr : new TextDecoder().decode(stderr);
  return text.replace(WINE_RESOLVER_NOISE, "");
}
