/**
 * @module
 * Picks the platform table for this OS once, on first use, so importing wal-db never loads a
 * native library a memory-only user does not need.
 */

import { unsupportedPlatform } from "../errors.ts";
import { darwinPlatform } from "./darwin.ts";
import { linuxPlatform } from "./linux.ts";
import type { Platform } from "./platform.ts";
import { windowsPlatform } from "./windows.ts";

export type { Platform } from "./platform.ts";

let current: Platform | undefined;

/** The platform table for the OS this process runs on. */
export function currentPlatform(): Platform {
  current ??= select(process.platform);
  return current;
}

function select(name: string): Platform {
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
