/**
 * @module
 * What `wal-db` resolves to outside Bun (the "default" condition of package.json "exports";
 * Bun takes the "bun" condition, src/index.ts). wal-db reaches its durability barrier and its
 * lock through bun:ffi and ships TypeScript, so another runtime could not load it anyway; this
 * fails at import with a message that says what to do instead of an obscure resolution error.
 *
 * Plain CommonJS on purpose: Node.js loads it from both `import` and `require`, at any version.
 */

"use strict";

const versions = typeof process === "object" && process !== null ? process.versions || {} : {};
const runtime =
  typeof Deno === "object"
    ? `Deno ${Deno.version.deno}`
    : versions.node
      ? `Node.js ${versions.node}`
      : "a runtime that is not Bun";

const error = new Error(
  `wal-db runs on Bun (>= 1.4.4); it was imported from ${runtime}. Install Bun: https://bun.sh`,
);
error.code = "ERR_WAL_DB_REQUIRES_BUN";
throw error;
