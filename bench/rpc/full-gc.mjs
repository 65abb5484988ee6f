/**
 * A preload for bench/rpc's workers (`BENCH_PRELOAD`): one full garbage collection in a caller,
 * `FULL_GC_AT_MS` (default 1500) after its first load phase began. With the callers started with
 * `--expose-gc` it triggers, without an idle, what an idle did (docs/benchmarks.md, "After an
 * idle"):
 *
 *   BENCH_PRELOAD=$PWD/bench/rpc/full-gc.mjs BENCH_CALLER_FLAGS=--expose-gc \
 *     npx tsx bench/rpc/run.ts --only catga --rounds 4 --levels 100
 */
let first = true;
process.on("message", (command) => {
  if (!first || command?.op !== "load") return;
  first = false;
  setTimeout(
    () => {
      if (typeof globalThis.gc !== "function")
        throw new Error("full-gc.mjs: start the callers with --expose-gc");
      globalThis.gc();
    },
    Number(process.env.FULL_GC_AT_MS ?? 1500),
  );
});
