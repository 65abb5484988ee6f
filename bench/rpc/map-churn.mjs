/**
 * The V8 behaviour behind "After an idle" (docs/benchmarks.md), without NATS: 100 entries live in
 * a Map while a new key is set and an old one deleted, again and again, as a table of waiting
 * requests does; then the same with an array of slots. Each phase prints its young-generation
 * collections (scavenges) and their mean pause. Once the Map's hash table has been promoted (here
 * by the first phase's own survivors, or by the full collection between the phases), every later
 * table is allocated in the old generation and the replaced ones keep old entries alive through
 * every scavenge; the array does not.
 *
 *   node --expose-gc bench/rpc/map-churn.mjs map
 *   node --expose-gc bench/rpc/map-churn.mjs array
 */
import { constants, PerformanceObserver } from "node:perf_hooks";

const kind = process.argv[2] ?? "map";
let scavenges = 0;
let pauseMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind !== constants.NODE_PERFORMANCE_GC_MINOR) continue;
    scavenges++;
    pauseMs += entry.duration;
  }
}).observe({ entryTypes: ["gc"] });

const map = new Map();
const slots = [];
let id = 0;
function churn() {
  for (let i = 0; i < 2000; i++) {
    const k = id++;
    const entry = { k, payload: [k, k + 1, k + 2, { s: String(k) }], done: () => k };
    if (kind === "map") {
      map.set(k, entry);
      map.delete(k - 100);
    } else {
      slots[k % 100] = entry;
    }
  }
}
const turn = () => new Promise((resolve) => setImmediate(resolve));
async function phase(name) {
  scavenges = 0;
  pauseMs = 0;
  const start = performance.now();
  while (performance.now() - start < 2000) {
    churn();
    await turn();
  }
  await turn();
  console.log(
    `${kind} ${name}: ${scavenges} scavenges, ${(pauseMs / Math.max(scavenges, 1)).toFixed(2)} ms each`,
  );
}

await phase("phase 1");
await phase("phase 2");
if (typeof globalThis.gc !== "function") throw new Error("run with --expose-gc");
globalThis.gc();
await phase("after a full collection");
await phase("and later");
