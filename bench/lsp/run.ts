/**
 * Language server benchmark: how long `catgac lsp` takes to publish diagnostics after a
 * one-character edit in a generated topology of 1,000 services (bench/compiler/generate.ts), and
 * how much memory the server holds after many edits compared with after the first.
 *
 *   npm run bench:lsp -- [--write] [--services 1000] [--edits 1000]
 *
 * The server runs as editors start it (`node bin/catgac.js lsp --stdio`, from dist/: `npm run
 * bench:lsp` builds first) and is driven by a real JSON-RPC client. Each edit alternately types a
 * character into a name (`emits Created500` becomes `emits Created50x0`: an unknown event, C2001)
 * and deletes it again, and waits for the diagnostics of its version before the next one: latency
 * is from sending `didChange` to receiving `publishDiagnostics` for that version.
 *
 * The server runs with `CATGA_LSP_STATS=1`, which makes it answer `catga/stats`: after each edit
 * (outside the timed window) the bench asks where the server's time went (incremental parse, check,
 * repair, serializing the diagnostics; the rest of the latency is transport and the event loop).
 * Memory is measured twice, after the first edit and after the last: the resident set (VmRSS of
 * /proc, what the system sees) and the live heap (V8's heapUsed after a full collection: the server
 * runs with --expose-gc, and only `catga/stats` with `collect` calls it). RSS alone cannot tell
 * retention from the empty heap V8 keeps reserved after a collection.
 * With `--write` it replaces the section of docs/benchmarks.md between the `bench:lsp` markers.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LspClient } from "../../test/helpers/lsp-client.js";
import { STATS_ENV, STATS_REQUEST } from "../../tooling/lsp/server.js";
import { generateTopology } from "../compiler/generate.js";

const DOC = fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));
const START = "<!-- bench:lsp:start -->";
const END = "<!-- bench:lsp:end -->";
/** Targets of issue 17: p50 latency and memory growth. */
const TARGET_P50_MS = 100;
const TARGET_MEMORY_RATIO = 1.5;

const { values } = parseArgs({
  options: {
    write: { type: "boolean", default: false },
    services: { type: "string", default: "1000" },
    edits: { type: "string", default: "1000" },
    /** Edits of a declared name, measured after the others. */
    "name-edits": { type: "string", default: "100" },
    /** Extra flags for the server's node process, comma-separated (to compare V8 heap settings). */
    "server-flags": { type: "string", default: "" },
  },
});
const serverFlags = values["server-flags"] === "" ? [] : values["server-flags"].split(",");
const services = Number(values.services);
const edits = Number(values.edits);
const nameEdits = Number(values["name-edits"]);

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error("no VmRSS in /proc status");
  return Number(match[1]);
}

/** The LSP position (0-based line and column) of an offset. */
function positionOf(text: string, offset: number): { line: number; character: number } {
  const before = text.slice(0, offset);
  return { line: before.split("\n").length - 1, character: offset - before.lastIndexOf("\n") - 1 };
}

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

type Step = "parse" | "check" | "repair" | "serialize" | "other";

/** The answer to `catga/stats` (tooling/lsp/server.ts). */
interface Stats {
  published: {
    version: number;
    timings: { parse: number; check: number; repair: number };
    analyzeMs: number;
    serializeMs: number;
  } | null;
  incremental: boolean | null;
  memory: NodeJS.MemoryUsage;
}

const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();

const loadBefore = loadavg()
  .map((l) => l.toFixed(2))
  .join(", ");

async function main(): Promise<void> {
  const text = generateTopology(services);
  const uri = "file:///bench/bench.catga";
  const { client } = await LspClient.start({
    nodeFlags: ["--expose-gc", ...serverFlags],
    env: { [STATS_ENV]: "1" },
  });
  const pid = client.process.pid!;
  const stats = (collect: boolean) =>
    client.connection.sendRequest(STATS_REQUEST, { uri, collect }) as Promise<Stats>;
  const opened = performance.now();
  const first = await client.open(uri, text);
  const openMs = performance.now() - opened;
  if (first.diagnostics.length > 0) throw new Error("the generated topology must check clean");

  const needle = `emits Created${Math.floor(services / 2)}\n`;
  const offset = text.indexOf(needle) + needle.length - 2; // before the name's last character
  const at = positionOf(text, offset);
  const { line, character } = at;

  const latencies: number[] = [];
  const steps: Record<Step, number[]> = { parse: [], check: [], repair: [], serialize: [], other: [] };
  let incremental = 0;
  let firstRss = 0;
  let firstHeap = 0;
  /** The highest RSS of the samples taken every 100 edits: V8's heap sizing moves it up and down. */
  let peakRss = 0;
  for (let i = 0; i < edits; i++) {
    const typing = i % 2 === 0;
    const range = typing ? { start: at, end: at } : { start: at, end: { line, character: character + 1 } };
    const start = performance.now();
    const version = await client.change(uri, [{ range, text: typing ? "x" : "" }]);
    const result = await client.diagnosticsFor(uri, version);
    const latency = performance.now() - start;
    latencies.push(latency);
    if (i === 0) firstRss = rssKiB(pid);
    const s = await stats(i === 0);
    if (s.published?.version !== version) throw new Error(`edit ${i}: no timings for version ${version}`);
    const t = s.published.timings;
    steps.parse.push(t.parse);
    steps.check.push(t.check);
    steps.repair.push(t.repair);
    steps.serialize.push(s.published.serializeMs);
    steps.other.push(latency - s.published.analyzeMs - s.published.serializeMs);
    if (s.incremental) incremental++;
    if (i === 0) firstHeap = s.memory.heapUsed;
    const codes = result.diagnostics.map((d) => d.code);
    if (typing ? !codes.includes("C2001") : codes.length > 0)
      throw new Error(`edit ${i}: unexpected diagnostics ${codes.join(", ")}`);
    if ((i + 1) % 100 === 0) {
      peakRss = Math.max(peakRss, rssKiB(pid));
      const so = [...latencies].sort((a, b) => a - b);
      process.stderr.write(
        `${i + 1} edits: p50 ${percentile(so, 50).toFixed(1)} ms, p99 ${percentile(so, 99).toFixed(1)} ms, RSS ${(rssKiB(pid) / 1024).toFixed(0)} MiB (first ${(firstRss / 1024).toFixed(0)})\n`,
      );
    }
  }
  const lastRss = rssKiB(pid);
  const last = await stats(true);
  const lastHeap = last.memory.heapUsed;
  const lastRssCollected = rssKiB(pid);

  // A keystroke in a declared name changes the namespace, so every result that reads names is
  // checked again: the slow case of the cache, measured on its own (after the memory figures).
  const declared = `event Created${Math.floor(services / 2)} {`;
  const nameAt = positionOf(text, text.indexOf(declared) + declared.length - 3);
  const renames: number[] = [];
  for (let i = 0; i < nameEdits; i++) {
    const typing = i % 2 === 0;
    const range = typing
      ? { start: nameAt, end: nameAt }
      : { start: nameAt, end: { line: nameAt.line, character: nameAt.character + 1 } };
    const start = performance.now();
    const version = await client.change(uri, [{ range, text: typing ? "x" : "" }]);
    const result = await client.diagnosticsFor(uri, version);
    renames.push(performance.now() - start);
    if (typing ? result.diagnostics.length === 0 : result.diagnostics.length > 0)
      throw new Error(`name edit ${i}: unexpected diagnostics`);
  }
  renames.sort((a, b) => a - b);
  await client.stop();

  const sorted = [...latencies].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  const ratio = lastRss / firstRss;
  const heapRatio = lastHeap / firstHeap;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  const median = (list: number[]) =>
    percentile(
      [...list].sort((a, b) => a - b),
      50,
    );
  const cpu = cpus();
  const machine = `${cpu[0]?.model.trim() || "unknown CPU"}, ${cpu.length} cores, Node ${process.version}, ${platform()} ${release()}`;
  const lines = [
    START,
    `Machine: ${machine}.  `,
    `Command: \`npm run bench:lsp -- --edits ${edits} --name-edits ${nameEdits}${serverFlags.length > 0 ? ` --server-flags ${serverFlags.join(",")}` : ""}${values.write ? " --write" : ""}\` (${services.toLocaleString("en")} services, ${edits.toLocaleString("en")} edits).  `,
    `Commit ${commit}, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.  `,
    `Load average before the run (\`uptime\`): ${loadBefore}; after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}.`,
    "",
    "| measure | value | target |",
    "| ------- | ----: | -----: |",
    `| first diagnostics after opening (${Math.round(text.length / 1024).toLocaleString("en")} KiB) | ${openMs.toFixed(0)} ms | — |`,
    `| diagnostics after a one-character edit, p50 | ${p50.toFixed(1)} ms | ≤ ${TARGET_P50_MS} ms |`,
    `| diagnostics after a one-character edit, p99 | ${p99.toFixed(1)} ms | — |`,
    `| diagnostics after a one-character edit, min / max | ${sorted[0]!.toFixed(1)} / ${sorted[sorted.length - 1]!.toFixed(1)} ms | — |`,
    ...(renames.length > 0
      ? [
          `| diagnostics after a one-character edit of a declared name (${nameEdits} edits), p50 / p99 | ${percentile(renames, 50).toFixed(1)} / ${percentile(renames, 99).toFixed(1)} ms | — |`,
        ]
      : []),
    `| edits re-parsed incrementally | ${incremental} of ${edits} | — |`,
    `| of which (median): incremental parse | ${median(steps.parse).toFixed(1)} ms | — |`,
    `| of which (median): check | ${median(steps.check).toFixed(1)} ms | — |`,
    `| of which (median): repair for the server's features | ${median(steps.repair).toFixed(1)} ms | — |`,
    `| of which (median): diagnostics to LSP | ${median(steps.serialize).toFixed(1)} ms | — |`,
    `| of which (median): rest (JSON-RPC, document update, event loop) | ${median(steps.other).toFixed(1)} ms | — |`,
    `| live heap after the first edit (after a full GC) | ${mib(firstHeap)} | — |`,
    `| live heap after the last edit (after a full GC) | ${mib(lastHeap)} | — |`,
    `| live heap growth (last / first) | ${heapRatio.toFixed(2)}× | ≤ ${TARGET_MEMORY_RATIO}× |`,
    `| server RSS after the first edit | ${(firstRss / 1024).toFixed(0)} MiB | — |`,
    `| server RSS after the last edit (before / after that full GC) | ${(lastRss / 1024).toFixed(0)} / ${(lastRssCollected / 1024).toFixed(0)} MiB | — |`,
    `| server RSS, highest of the samples every 100 edits | ${(peakRss / 1024).toFixed(0)} MiB | — |`,
    `| RSS growth (last / first) | ${ratio.toFixed(2)}× | ≤ ${TARGET_MEMORY_RATIO}× |`,
    END,
  ];
  const section = lines.join("\n");
  process.stdout.write(`${section}\n`);
  if (values.write) {
    const doc = readFileSync(DOC, "utf8");
    const s = doc.indexOf(START);
    const e = doc.indexOf(END);
    if (s < 0 || e < s) throw new Error(`${DOC} has no '${START}' ... '${END}' section`);
    writeFileSync(DOC, doc.slice(0, s) + section + doc.slice(e + END.length));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:lsp: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
