/**
 * The mailbox through which a segmented store hands the sync thread a descriptor of its newest
 * segment (src/store/barrier-handoff.ts): the last post wins, a descriptor never taken comes
 * back to the poster to close, a take owns what it took, and indices past 2^31 survive.
 */

import { expect, test } from "bun:test";
import { BarrierHandoff } from "../src/store/barrier-handoff.ts";

test("BarrierHandoff.take() of an empty mailbox is null", () => {
  expect(BarrierHandoff.create().take()).toBeNull();
});

test("BarrierHandoff.post() returns the descriptor it replaces when nobody took it", () => {
  const handoff = BarrierHandoff.create();
  expect(handoff.post(10, 0)).toBe(-1);
  expect(handoff.post(11, 1)).toBe(10);
  expect(handoff.take()).toEqual({ fd: 11, index: 1 });
  expect(handoff.take()).toBeNull();
  expect(handoff.post(12, 2)).toBe(-1);
});

test("BarrierHandoff.attach() sees what another view of the buffer posted, indices past 2^31 too", () => {
  const poster = BarrierHandoff.create();
  const taker = BarrierHandoff.attach(poster.buffer);
  const index = 2 ** 40 + 12_345;
  poster.post(7, index);
  expect(taker.take()).toEqual({ fd: 7, index });
  expect(poster.take()).toBeNull();
});

test("BarrierHandoff across a Worker: every posted descriptor is taken once or returned once", async () => {
  const poster = BarrierHandoff.create();
  const source = `
    import { BarrierHandoff } from ${JSON.stringify(`${import.meta.dir}/../src/store/barrier-handoff.ts`)};
    self.onmessage = ({ data }) => {
      const handoff = BarrierHandoff.attach(data.buffer);
      const taken = [];
      while (taken.at(-1) !== data.last) {
        const posted = handoff.take();
        if (posted !== null) taken.push(posted.fd);
      }
      postMessage(taken);
    };`;
  const url = URL.createObjectURL(new Blob([source], { type: "application/typescript" }));
  const worker = new Worker(url);
  const taken = new Promise<number[]>((resolve) => {
    worker.onmessage = (event) => resolve(event.data);
  });
  const count = 20_000;
  worker.postMessage({ buffer: poster.buffer, last: count });
  const returned: number[] = [];
  for (let fd = 1; fd <= count; fd++) {
    const replaced = poster.post(fd, fd);
    if (replaced >= 0) returned.push(replaced);
  }
  const seen = await taken;
  worker.terminate();
  // Each descriptor is owned by exactly one side in the end: taken, or handed back to close.
  const all = [...seen, ...returned].sort((a, b) => a - b);
  expect(all).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  expect(seen).toEqual([...seen].sort((a, b) => a - b));
});
