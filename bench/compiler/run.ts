/**
 * Compiler benchmark: times `parse`, `checkSource` (parse + check) and a full build (check plus every
 * emitter of `catgac build`, without writing files) on generated topologies of 10 to 5,000 services
 * and prints a markdown table. With `--write` it also replaces the section of
 * docs/benchmarks.md between the `bench:compiler` markers.
 *
 *   npx tsx bench/compiler/run.ts [--write] [--sizes 10,100,1000,5000]
 *
 * Every generated topology must check without errors, so the benchmark measures the path a real
 * build takes; the script exits with status 1 otherwise.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { checkSource } from "../../compiler/check/index.js";
import { emitAll } from "../../compiler/emit/index.js";
import { hasErrors, parse } from "../../dsl/index.js";
import { generateTopology } from "./generate.js";

const DEFAULT_SIZES = [10, 100, 1_000, 5_000];
/** The size every per-service cost is compared with. */
const BASELINE = 100;
const DOC = fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));
const START = "<!-- bench:compiler:start -->";
const END = "<!-- bench:compiler:end -->";
const FILE = "bench.catga";

/** Warm-up and measured runs per size: small inputs are noisy and cheap, so they get more. */
function runsFor(services: number): { warmup: number; measured: number } {
  if (services <= 10) return { warmup: 20, measured: 50 };
  if (services <= 100) return { warmup: 10, measured: 30 };
  if (services <= 1_000) return { warmup: 3, measured: 10 };
  return { warmup: 2, measured: 7 };
}

interface Timing {
  median: number;
  min: number;
}

interface Row {
  services: number;
  lines: number;
  bytes: number;
  runs: number;
  parse: Timing;
  full: Timing;
  build: Timing;
}

/**
 * A full garbage collection, run before every measured run: each run then starts on a clean heap
 * instead of paying, at random, for the garbage of the runs before it. (Exposing `gc` at runtime
 * keeps the command a plain `npx tsx ...`.)
 */
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

function time(f: () => unknown, warmup: number, measured: number): Timing {
  for (let i = 0; i < warmup; i++) f();
  const samples: number[] = [];
  for (let i = 0; i < measured; i++) {
    collectGarbage();
    const start = performance.now();
    f();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  const median = samples.length % 2 === 1 ? samples[mid]! : (samples[mid - 1]! + samples[mid]!) / 2;
  return { median, min: samples[0]! };
}

/** Fails the run unless the topology parses and checks without errors. */
function assertClean(services: number, text: string): void {
  const result = checkSource(text, FILE);
  if (!hasErrors(result.diagnostics) && result.value !== undefined) return;
  const shown = result.diagnostics
    .filter((d) => d.severity === "error")
    .slice(0, 10)
    .map((d) => `  ${FILE}:${d.span.start.line}:${d.span.start.column} ${d.code} ${d.message}`);
  console.error(
    `The generated topology of ${services} services does not check cleanly:\n${shown.join("\n")}`,
  );
  console.error("Fix bench/compiler/generate.ts (or the checker): the benchmark must measure a valid build.");
  process.exit(1);
}

function measure(services: number): Row {
  const text = generateTopology(services);
  assertClean(services, text);
  const { warmup, measured } = runsFor(services);
  const parseTiming = time(() => parse(text, FILE), warmup, measured);
  const fullTiming = time(() => checkSource(text, FILE), warmup, measured);
  const buildTiming = time(
    () => emitAll(checkSource(text, FILE).value!, { sourceName: FILE }),
    warmup,
    measured,
  );
  return {
    services,
    lines: text.split("\n").length,
    bytes: Buffer.byteLength(text),
    runs: measured,
    parse: parseTiming,
    full: fullTiming,
    build: buildTiming,
  };
}

const ms = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const perService = (t: Timing, services: number): number => t.median / services;
const int = (n: number): string => n.toLocaleString("en-US");

function table(rows: Row[]): string {
  const base = rows.find((r) => r.services === BASELINE);
  const ratio = (row: Row, pick: (r: Row) => Timing): string =>
    base === undefined
      ? "—"
      : `${(perService(pick(row), row.services) / perService(pick(base), base.services)).toFixed(2)}×`;
  const header = [
    "services",
    "lines",
    "size",
    "runs",
    "parse median (min) ms",
    "parse ms/service",
    "parse+check median (min) ms",
    "parse+check ms/service",
    "build median (min) ms",
    "build ms/service",
    `per service vs ${BASELINE}: parse`,
    `per service vs ${BASELINE}: parse+check`,
    `per service vs ${BASELINE}: build`,
  ];
  const body = rows.map((row) => [
    int(row.services),
    int(row.lines),
    `${int(Math.round(row.bytes / 1024))} KiB`,
    String(row.runs),
    `${ms(row.parse.median)} (${ms(row.parse.min)})`,
    perService(row.parse, row.services).toFixed(3),
    `${ms(row.full.median)} (${ms(row.full.min)})`,
    perService(row.full, row.services).toFixed(3),
    `${ms(row.build.median)} (${ms(row.build.min)})`,
    perService(row.build, row.services).toFixed(3),
    ratio(row, (r) => r.parse),
    ratio(row, (r) => r.full),
    ratio(row, (r) => r.build),
  ]);
  return rightAligned(header, body);
}

/** A markdown table with every column right-aligned and padded, as the formatter (biome) writes it. */
function rightAligned(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
  const rule = `| ${widths.map((w) => `${"-".repeat(w - 1)}:`).join(" | ")} |`;
  return [line(header), rule, ...body.map(line)].join("\n");
}

function machine(): string {
  const cpu = cpus();
  const model = cpu[0]?.model.trim() || "unknown CPU";
  return `${model}, ${cpu.length} cores, Node ${process.version}, ${platform()} ${release()}`;
}

function section(rows: Row[], command: string): string {
  return [
    START,
    `Machine: ${machine()}.  `,
    `Command: \`${command}\`.`,
    "",
    "Median and minimum of the measured runs, after warm-up runs, with a full garbage collection",
    'before each measured run. "build" is parse, check and every emitter of `catgac build` (TypeScript,',
    "wiring, compose, Kubernetes, NATS config) without writing files. The last three columns divide the",
    `per-service cost at each size by the per-service cost at ${BASELINE} services: values near 1× mean`,
    "the cost grows linearly.",
    "",
    table(rows),
    END,
  ].join("\n");
}

function writeDoc(content: string): void {
  const doc = readFileSync(DOC, "utf8");
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) {
    throw new Error(
      `${DOC} has no '${START}' ... '${END}' section: restore the markers, then run again with --write`,
    );
  }
  writeFileSync(DOC, doc.slice(0, start) + content + doc.slice(end + END.length));
}

const { values } = parseArgs({
  options: {
    write: { type: "boolean", default: false },
    sizes: { type: "string" },
  },
});
const sizes =
  values.sizes === undefined ? DEFAULT_SIZES : values.sizes.split(",").map((s) => Number(s.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 4)) {
  console.error(`--sizes takes whole numbers of services >= 4, separated by commas; got '${values.sizes}'`);
  process.exit(2);
}

const rows: Row[] = [];
for (const services of sizes) {
  process.stderr.write(`measuring ${int(services)} services...\n`);
  rows.push(measure(services));
}
const command = `npx tsx bench/compiler/run.ts${values.sizes === undefined ? "" : ` --sizes ${values.sizes}`}${values.write ? " --write" : ""}`;
console.log(`${machine()}\n\n${table(rows)}`);
if (values.write) {
  writeDoc(section(rows, command));
  process.stderr.write(`updated ${DOC}\n`);
}
