/**
 * A/B of two builds on bench/rpc: runs `bench/rpc/run.ts --only raw,catga` in this tree and in
 * another worktree (the base build, e.g. `git worktree add ../base <commit>`, with its own
 * `npm run build`), alternating which goes first, `--pairs` times. Each run measures Catga against
 * the raw client in the same run, so the ratios of the two builds are comparable even when the
 * machine's load moves between runs; the load average is recorded with each run. Prints every run
 * and the medians per build, and writes bench/results/rpc-ab.json.
 *
 *   npx tsx bench/rpc/ab.ts --base ../base [--pairs 3] [--rounds 2] [--levels 100,1000] [--burst 500]
 *
 * `--burst` is the fan-out's events per turn of the publisher's loop (run.ts `--bursts`); a base
 * build from before bursts always publishes 500 per turn, so leave it at 500 for one.
 *
 * Both trees need `npm run build` first (run.ts loads the runtime from dist/).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { machine, median, ROOT, table } from "../_shared/orchestrator.js";

const { values } = parseArgs({
  options: {
    base: { type: "string" },
    pairs: { type: "string", default: "3" },
    rounds: { type: "string", default: "2" },
    levels: { type: "string", default: "100,1000" },
    burst: { type: "string", default: "500" },
  },
});
if (values.base === undefined) {
  console.error("--base <worktree of the base build> is required");
  process.exit(2);
}
const BASE = resolve(values.base);
const PAIRS = Number(values.pairs);
const LEVELS = values.levels.split(",").map(Number);

interface Row {
  contender: string;
  concurrency?: number;
  rps?: number;
  p99_ms?: number;
  events_per_s_per_instance?: number;
  burst?: number;
  caller_cpu_us?: number;
  responder_cpu_us?: number;
  server_cpu_us?: number | null;
}
interface Run {
  build: "base" | "new";
  pair: number;
  load: number;
  /** Per level: Catga's requests/s ÷ raw's, Catga's p99 ÷ raw's, and Catga's CPU per request. */
  requests: Record<number, { rps: number; rawRps: number; ratio: number; p99Ratio: number; cpu: string }>;
  fanout: { eps: number; rawEps: number; ratio: number };
  /** The run's own rpc.json: every contender's figures, CPU per message included. */
  report: unknown;
}

function runOnce(tree: string, build: Run["build"], pair: number): Run {
  const load = loadavg()[0]!;
  execFileSync(
    "npx",
    [
      "tsx",
      join(tree, "bench/rpc/run.ts"),
      "--only",
      "raw,catga",
      "--rounds",
      values.rounds,
      "--levels",
      values.levels,
      // A base build from before bursts refuses the option: it publishes 500 per turn anyway.
      ...(values.burst === "500" ? [] : ["--bursts", values.burst]),
    ],
    { cwd: tree, stdio: ["ignore", "ignore", "inherit"] },
  );
  const report: unknown = JSON.parse(readFileSync(join(tree, "bench/results/rpc.json"), "utf8"));
  const out = report as {
    results: Row[];
    fanout: Row[];
  };
  const requests: Run["requests"] = {};
  for (const level of LEVELS) {
    const of = (c: string) => out.results.find((r) => r.contender === c && r.concurrency === level)!;
    const raw = of("raw");
    const catga = of("catga");
    requests[level] = {
      rps: catga.rps!,
      rawRps: raw.rps!,
      ratio: catga.rps! / raw.rps!,
      p99Ratio: catga.p99_ms! / raw.p99_ms!,
      cpu: `${catga.caller_cpu_us} + ${catga.responder_cpu_us} + ${catga.server_cpu_us ?? "–"}`,
    };
  }
  // Rows without a burst come from a build that always published 500 per turn.
  const f = (c: string) =>
    out.fanout.find((r) => r.contender === c && (r.burst ?? 500) === Number(values.burst))!
      .events_per_s_per_instance!;
  const run: Run = {
    build,
    pair,
    load,
    requests,
    fanout: { eps: f("catga"), rawEps: f("raw"), ratio: f("catga") / f("raw") },
    report,
  };
  console.log(
    `pair ${pair} ${build}: load ${load.toFixed(1)}; ` +
      LEVELS.map(
        (l) =>
          `c=${l} ${run.requests[l]!.ratio.toFixed(2)}× raw (p99 ${run.requests[l]!.p99Ratio.toFixed(2)}×)`,
      ).join(", ") +
      `; fan-out ${run.fanout.ratio.toFixed(2)}× raw`,
  );
  return run;
}

const runs: Run[] = [];
for (let pair = 1; pair <= PAIRS; pair++) {
  // Alternate who goes first, so neither build always runs on the heels of the other.
  const order: [string, Run["build"]][] = [
    [BASE, "base"],
    [ROOT, "new"],
  ];
  if (pair % 2 === 0) order.reverse();
  for (const [tree, build] of order) runs.push(runOnce(tree, build, pair));
}

const fmt = (x: number) => `${x.toFixed(2)}×`;
const rows = runs.map((r) => [
  r.build,
  String(r.pair),
  r.load.toFixed(1),
  ...LEVELS.flatMap((l) => [
    `${Math.round(r.requests[l]!.rps).toLocaleString("en-US")} / ${Math.round(r.requests[l]!.rawRps).toLocaleString("en-US")}`,
    fmt(r.requests[l]!.ratio),
    fmt(r.requests[l]!.p99Ratio),
  ]),
  fmt(r.fanout.ratio),
]);
for (const build of ["base", "new"] as const) {
  const mine = runs.filter((r) => r.build === build);
  rows.push([
    `**${build} median**`,
    "",
    median(mine.map((r) => r.load)).toFixed(1),
    ...LEVELS.flatMap((l) => [
      "",
      fmt(median(mine.map((r) => r.requests[l]!.ratio))),
      fmt(median(mine.map((r) => r.requests[l]!.p99Ratio))),
    ]),
    fmt(median(mine.map((r) => r.fanout.ratio))),
  ]);
}
const text = table(
  [
    "build",
    "pair",
    "load (1 min)",
    ...LEVELS.flatMap((l) => [`c=${l} req/s catga / raw`, `c=${l} ÷ raw`, `c=${l} p99 ÷ raw's`]),
    "fan-out ÷ raw",
  ],
  rows,
  [false, true, true, ...LEVELS.flatMap(() => [true, true, true]), true],
);
console.log(`\n${text}`);
const RESULTS = join(ROOT, "bench/results/rpc-ab.json");
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(
  RESULTS,
  `${JSON.stringify({ machine: machine(), base: BASE, settings: values, runs }, null, 2)}\n`,
);
console.log(`wrote ${RESULTS}`);
