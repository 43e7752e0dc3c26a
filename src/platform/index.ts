/**
 * @module
 * Picks the platform table for this OS once, on first use, so importing wal-db never loads a
 * native library a memory-only user does not need. Every file-backed open resolves it before
 * it touches the disk, so an OS without a known barrier is refused with nothing created.
 */

import { unsupportedPlatform } from "../errors.ts";
import { darwinPlatform } from "./darwin.ts";
import { linuxPlatform } from "./linux.ts";
import type { Platform } from "./platform.ts";
import { windowsPlatform } from "./windows.ts";

export { type BarrierStrength, type Platform, weakerBarrier } from "./platform.ts";

let current: Platform | undefined;

/**
 * The platform table for the OS this process runs on.
 * @throws WalError `UNSUPPORTED_PLATFORM` on an OS wal-db knows no barrier for.
 */
export function currentPlatform(): Platform {
  current ??= platformFor(process.platform);
  return current;
}

/**
 * Whether `platform` is the table {@link currentPlatform} returned: true only once it has been
 * resolved, so asking never loads a library, and never throws on an unsupported OS (a store
 * over an injected platform asks, to know whether other threads can share it).
 */
export function isCurrentPlatform(platform: Platform): boolean {
  return current !== undefined && platform === current;
}

/**
 * The platform table for the OS named `name`, as `process.platform` names it; binds its native
 * library. Exported so that tests can check which names are refused.
 * @throws WalError `UNSUPPORTED_PLATFORM`, naming `name`, for anything but linux, darwin, win32.
 */
export function platformFor(name: string): Platform {
  switch (name) {
    case "linux":
      return linuxPlatform();
    case "darwin":
      return darwinPlatform();
    case "win32":
      return windowsPlatform();
    default:
      throw unsupportedPlatform(name);
  }
}
