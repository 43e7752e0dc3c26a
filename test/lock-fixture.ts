/**
 * A second process for lock tests. Started by lock.test.ts:
 *   bun lock-fixture.ts hold <log path>  opens the log, prints "HOLDING", waits to be killed
 *   bun lock-fixture.ts try <log path>   tries to open the log, prints "OPENED" or "ERROR <code>"
 */

import { Wal, WalError } from "../src/index.ts";

const [mode, path] = process.argv.slice(2);
if (path === undefined || (mode !== "hold" && mode !== "try")) {
  console.error("usage: lock-fixture.ts hold|try <log path>");
  process.exit(2);
}

try {
  const wal = Wal.open(path);
  if (mode === "hold") {
    wal.appendAndSync("held by the fixture");
    console.log("HOLDING");
    setInterval(() => {}, 1 << 30); // keep the process, and so the lock, alive until killed
  } else {
    console.log("OPENED");
    wal.close();
  }
} catch (error) {
  if (!(error instanceof WalError)) throw error;
  console.log(`ERROR ${error.code} ${error.message}`);
}
