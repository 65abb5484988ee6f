/**
 * Loads what a Catga contender of a benchmark runs on: the runtime as `catga/runtime` (the
 * package's own export, i.e. dist/: run `npm run build` first), the code `catgac` generated into
 * `$CATGA_BENCH_OUT` (client.ts) and its wiring. The generated code imports `catga/runtime` too, so
 * both share one copy of the runtime.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

type Runtime = typeof import("../../runtime/index.js");

/** The runtime, the generated module (typed by the caller as `G`), its wiring and a NATS connector. */
export async function loadGenerated<G>() {
  const out = process.env.CATGA_BENCH_OUT;
  if (out === undefined) throw new Error("CATGA_BENCH_OUT (the folder of the generated code) is not set");
  // Specifiers in variables: the type checker must not need dist/ or the generated code to exist.
  const runtimeModule = "catga/runtime";
  const runtime = (await import(runtimeModule)) as Runtime;
  const generated = (await import(pathToFileURL(join(out, "client.ts")).href)) as G;
  const wiring = runtime.parseWiring(JSON.parse(await readFile(join(out, "wiring.json"), "utf8")));
  const connect = (url: string) => runtime.natsTransport({ servers: [url] });
  return { runtime, generated, wiring, connect };
}
