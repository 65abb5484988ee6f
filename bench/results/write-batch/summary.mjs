// Per-round Catga ÷ raw from the alternated runs' rpc.json files (base-N.json, new-N.json in this
// folder), and nats-server's and the publisher's µs per event: range and median per build.
//   node bench/results/write-batch/summary.mjs
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dirname;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const cell = (xs) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)} (${median(xs).toFixed(2)})`;

for (const build of ["base", "new"]) {
  const cells = new Map();
  const add = (k, v) => cells.set(k, [...(cells.get(k) ?? []), v]);
  for (const f of readdirSync(dir).filter((f) => f.startsWith(`${build}-`) && f.endsWith(".json"))) {
    const { rounds } = JSON.parse(readFileSync(join(dir, f), "utf8"));
    for (let i = 0; i < rounds.results.length; i++) {
      const of = (xs, name) => xs.find((x) => x.contender === name);
      for (const c of [100, 1000]) {
        const xs = rounds.results[i].filter((x) => x.concurrency === c);
        add(`c=${c} ÷ raw`, of(xs, "catga").rps / of(xs, "raw").rps);
        add(`p99 c=${c} ÷ raw's`, of(xs, "catga").p99_ms / of(xs, "raw").p99_ms);
      }
      for (const b of [50, 500, 2000]) {
        const xs = rounds.fanout[i].filter((x) => x.burst === b);
        const k = of(xs, "catga");
        const r = of(xs, "raw");
        add(`fan-out ${b} ÷ raw`, k.events_per_s_per_instance / r.events_per_s_per_instance);
        add(`server µs/event ${b}, catga`, k.server_cpu_us);
        add(`server µs/event ${b}, raw`, r.server_cpu_us);
        add(`publisher µs/event ${b}, catga`, k.publisher_cpu_us);
      }
    }
  }
  console.log(`${build} (${cells.get("c=100 ÷ raw")?.length ?? 0} rounds)`);
  for (const [k, xs] of cells) console.log(`  ${k.padEnd(30)} ${cell(xs)}`);
}
