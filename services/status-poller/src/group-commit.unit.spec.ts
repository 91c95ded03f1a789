import { test } from "node:test";
import assert from "node:assert/strict";
import { context, createContextKey, ROOT_CONTEXT } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { GroupCommit } from "./group-commit.js";

/** A writer whose statements the test ends one at a time; it records each statement's items. */
function heldWriter(fail: (item: number) => boolean = () => false) {
  const statements: number[][] = [];
  const pending: (() => void)[] = [];
  const writeMany = (items: readonly number[]) => {
    statements.push([...items]);
    return new Promise<number[]>((resolve, reject) =>
      pending.push(() => (items.some(fail) ? reject(new Error(`cannot write ${items.filter(fail).join(",")}`)) : resolve(items.map((i) => i * 10)))),
    );
  };
  const finishNext = async () => {
    for (let i = 0; i < 20 && pending.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    pending.shift()!();
  };
  return { statements, writeMany, finishNext };
}

test("a lone write goes out at once; what arrives while it is written goes together in the next statement", async () => {
  const w = heldWriter();
  const group = new GroupCommit(w.writeMany, 64);
  const first = group.submit(1);
  assert.deepEqual(w.statements, [[1]]);
  const rest = [2, 3, 4].map((i) => group.submit(i));
  assert.equal(w.statements.length, 1, "nothing else goes out while the first statement is being written");
  await w.finishNext();
  await w.finishNext();
  assert.deepEqual(await Promise.all([first, ...rest]), [10, 20, 30, 40]);
  assert.deepEqual(w.statements, [[1], [2, 3, 4]]);
});

test("a statement carries at most maxBatch items", async () => {
  const w = heldWriter();
  const group = new GroupCommit(w.writeMany, 2);
  const all = [1, 2, 3, 4, 5].map((i) => group.submit(i));
  for (let i = 0; i < 3; i++) await w.finishNext();
  assert.deepEqual(await Promise.all(all), [10, 20, 30, 40, 50]);
  assert.deepEqual(w.statements, [[1], [2, 3], [4, 5]]);
});

test("when a batch fails, each item is written alone: the one that cannot be written fails, the others are written", async () => {
  const w = heldWriter((i) => i === 3);
  const group = new GroupCommit(w.writeMany, 64);
  const first = group.submit(1);
  const rest = [2, 3, 4].map((i) => group.submit(i));
  for (let i = 0; i < 5; i++) await w.finishNext();
  assert.equal(await first, 10);
  const settled = await Promise.allSettled(rest);
  assert.deepEqual(settled.map((s) => (s.status === "fulfilled" ? s.value : (s.reason as Error).message)), [20, "cannot write 3", 40]);
  assert.deepEqual(w.statements, [[1], [2, 3, 4], [2], [3], [4]]);
});

test("a lone write runs in its caller's trace context, a write of several in none", async () => {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  try {
    const key = createContextKey("caller");
    const seen: unknown[][] = [];
    const w = heldWriter();
    const group = new GroupCommit((items: readonly number[]) => {
      seen.push([...items, context.active().getValue(key)]);
      return w.writeMany(items);
    }, 64);
    const all = [1, 2, 3].map((i) => context.with(ROOT_CONTEXT.setValue(key, `caller ${i}`), () => group.submit(i)));
    await w.finishNext();
    await w.finishNext();
    await Promise.all(all);
    assert.deepEqual(seen, [
      [1, "caller 1"],
      [2, 3, undefined],
    ]);
  } finally {
    context.disable();
  }
});
