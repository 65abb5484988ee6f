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
 * is from sending `didChange` to receiving `publishDiagnostics` for that version. Memory is the
 * server process's resident set (VmRSS of /proc), after the first edit and after the last.
 * With `--write` it replaces the section of docs/benchmarks.md between the `bench:lsp` markers.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LspClient } from "../../test/helpers/lsp-client.js";
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
  },
});
const services = Number(values.services);
const edits = Number(values.edits);

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error("no VmRSS in /proc status");
  return Number(match[1]);
}

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

async function main(): Promise<void> {
  const text = generateTopology(services);
  const uri = "file:///bench/bench.catga";
  const { client } = await LspClient.start();
  const pid = client.process.pid!;
  const opened = performance.now();
  const first = await client.open(uri, text);
  const openMs = performance.now() - opened;
  if (first.diagnostics.length > 0) throw new Error("the generated topology must check clean");

  const needle = `emits Created${Math.floor(services / 2)}\n`;
  const offset = text.indexOf(needle) + needle.length - 2; // before the name's last character
  const before = text.slice(0, offset);
  const line = before.split("\n").length - 1;
  const character = offset - before.lastIndexOf("\n") - 1;
  const at = { line, character };

  const latencies: number[] = [];
  let firstRss = 0;
  for (let i = 0; i < edits; i++) {
    const typing = i % 2 === 0;
    const range = typing ? { start: at, end: at } : { start: at, end: { line, character: character + 1 } };
    const start = performance.now();
    const version = await client.change(uri, [{ range, text: typing ? "x" : "" }]);
    const result = await client.diagnosticsFor(uri, version);
    latencies.push(performance.now() - start);
    const codes = result.diagnostics.map((d) => d.code);
    if (typing ? !codes.includes("C2001") : codes.length > 0)
      throw new Error(`edit ${i}: unexpected diagnostics ${codes.join(", ")}`);
    if (i === 0) firstRss = rssKiB(pid);
    if ((i + 1) % 100 === 0) {
      const so = [...latencies].sort((a, b) => a - b);
      process.stderr.write(
        `${i + 1} edits: p50 ${percentile(so, 50).toFixed(1)} ms, p99 ${percentile(so, 99).toFixed(1)} ms, RSS ${(rssKiB(pid) / 1024).toFixed(0)} MiB (first ${(firstRss / 1024).toFixed(0)})\n`,
      );
    }
  }
  const lastRss = rssKiB(pid);
  await client.stop();

  const sorted = [...latencies].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  const ratio = lastRss / firstRss;
  const cpu = cpus();
  const machine = `${cpu[0]?.model.trim() || "unknown CPU"}, ${cpu.length} cores, Node ${process.version}, ${platform()} ${release()}`;
  const lines = [
    START,
    `Machine: ${machine}.  `,
    `Command: \`npm run bench:lsp${values.write ? " -- --write" : ""}\` (${services.toLocaleString("en")} services, ${edits.toLocaleString("en")} edits).`,
    "",
    "| measure | value | target |",
    "| ------- | ----: | -----: |",
    `| first diagnostics after opening (${Math.round(text.length / 1024).toLocaleString("en")} KiB) | ${openMs.toFixed(0)} ms | — |`,
    `| diagnostics after a one-character edit, p50 | ${p50.toFixed(1)} ms | ≤ ${TARGET_P50_MS} ms |`,
    `| diagnostics after a one-character edit, p99 | ${p99.toFixed(1)} ms | — |`,
    `| diagnostics after a one-character edit, min / max | ${sorted[0]!.toFixed(1)} / ${sorted[sorted.length - 1]!.toFixed(1)} ms | — |`,
    `| server RSS after the first edit | ${(firstRss / 1024).toFixed(0)} MiB | — |`,
    `| server RSS after the last edit | ${(lastRss / 1024).toFixed(0)} MiB | — |`,
    `| growth (last / first) | ${ratio.toFixed(2)}× | ≤ ${TARGET_MEMORY_RATIO}× |`,
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
