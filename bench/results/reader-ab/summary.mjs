// Per-round Catga ÷ raw from each run's rpc.json (rounds.results), grouped by build.
// Usage: node bench/results/reader-ab/summary.mjs (from the repository root or this folder).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (xs) =>
  `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)} (median ${median(xs).toFixed(2)})`;
const cells = {};
for (const file of readdirSync(here).filter((f) => /^(base|new)-\d+\.json$/.test(f))) {
  const build = file.split("-")[0];
  const j = JSON.parse(readFileSync(join(here, file), "utf8"));
  const seconds = j.settings.durationMs / 1000;
  for (const round of j.rounds.results) {
    for (const c of [100, 1000]) {
      const raw = round.find((r) => r.contender === "raw" && r.concurrency === c);
      const catga = round.find((r) => r.contender === "catga" && r.concurrency === c);
      const key = `${build} c=${c}`;
      cells[key] ??= {
        rate: [],
        p99: [],
        caller: [],
        callerRaw: [],
        over: [],
        scav: [],
        scavRaw: [],
      };
      const cell = cells[key];
      cell.rate.push(catga.rps / raw.rps);
      cell.p99.push(catga.p99_ms / raw.p99_ms);
      cell.caller.push(catga.caller_cpu_us);
      cell.callerRaw.push(raw.caller_cpu_us);
      cell.over.push(catga.caller_cpu_us - raw.caller_cpu_us);
      cell.scav.push((catga.caller_scavenges * catga.caller_scavenge_ms * 1000) / (catga.rps * seconds));
      cell.scavRaw.push((raw.caller_scavenges * raw.caller_scavenge_ms * 1000) / (raw.rps * seconds));
    }
  }
}
for (const [name, v] of Object.entries(cells).sort()) {
  console.log(`${name} (${v.rate.length} rounds)`);
  console.log(`  rate ÷ raw            ${fmt(v.rate)}`);
  console.log(`  p99 ÷ raw             ${fmt(v.p99)}`);
  console.log(`  caller µs/req catga   ${fmt(v.caller)}   raw ${fmt(v.callerRaw)}`);
  console.log(`  caller µs/req over raw's, same round ${fmt(v.over)}`);
  console.log(`  scavenge µs/req catga ${fmt(v.scav)}   raw ${fmt(v.scavRaw)}`);
}
