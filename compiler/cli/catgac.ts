import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { closest, type Diagnostic, format, hasErrors, parse, sortDiagnostics } from "../../dsl/index.js";
import { checkSource } from "../check/index.js";
import { emitBuild } from "../emit/index.js";
import { buildGraph, DENSE_SERVICES, emitDot, emitMermaid, topologySvg } from "../graph/index.js";
import { againstCheck, diffCommand } from "./diff.js";
import { renderHuman, summary, toJson } from "./render.js";

/**
 * Exit codes of every catgac command, documented in docs/cli.md.
 * 0: no errors (warnings allowed). 1: errors in the input (or, for `fmt --check`, unformatted files).
 * 2: usage or I/O error.
 */
export const EXIT = { ok: 0, inputErrors: 1, usage: 2 } as const;

/** Where a command writes; injected so tests run the CLI in-process. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether to colour human output. */
  color: boolean;
}

/** A usage or environment problem: printed as one line, exit 2. Never used for findings in user input. */
export class UsageError extends Error {
  override name = "UsageError";
}

const VERSION = "0.1.0";

const MAIN_HELP = `catgac — the Catga compiler

Usage: catgac <command> [options] FILE...

Commands:
  check FILE...            type-check topologies and report diagnostics
  build FILE [--out DIR]   emit TypeScript, wiring, compose, Kubernetes and NATS config
  fmt [--check] FILE...    rewrite files in the canonical layout
  diff OLD NEW             classify the changes between two versions (docs/diff.md)
  graph FILE [--format svg|mermaid|dot] [--out PATH]
                           draw the topology: services, messages, sagas, schedules
  lsp [--stdio]            the language server, for editors (docs/editors.md)

Options:
  -h, --help               show help (also: catgac <command> --help)
  -v, --version            print the version

Exit codes: 0 no errors (warnings allowed), 1 errors in the input, 2 usage or I/O error.
`;

const CHECK_HELP = `catgac check — type-check topologies

Usage: catgac check [--format human|json] FILE...

Parses and checks every FILE and prints its diagnostics: file:line:col, severity, code, message,
the source line with the span underlined, and a hint. Codes are listed in docs/diagnostics.md.

Options:
  --format human|json      output format (default: human). json prints one array of
                           { code, severity, message, file, line, column, endLine, endColumn, hint? }
  -h, --help               show this help

Exit codes: 0 no errors (warnings allowed), 1 errors in the input, 2 usage or I/O error.
`;

const BUILD_HELP = `catgac build — compile a topology into deployable outputs

Usage: catgac build [--out DIR] [--against OLD [--allow CODE,...]] FILE

Checks FILE and, when it has no errors, writes into DIR (default: out/<topology>/):
  client.ts            typed messages, zod schemas, the client factory and service definers
  wiring.json          what the runtime needs: subjects, queue groups, modes, leases, sagas
  docker-compose.yml   NATS cluster, Redis, every service with its replicas (.env.example, Dockerfile)
  k8s.yaml             Kubernetes manifests (cdk8s)
  nats/nats.conf       NATS server config with one least-privilege user per service
  nats/nats-tls.conf   what the deployments run when NATS takes TLS (the default)
  topology.svg         the topology drawn (as 'catgac graph' draws it)

Files whose content is unchanged are not rewritten. Output is deterministic: same input, same bytes.
Layout and details: docs/build.md.

Options:
  -o, --out DIR            output folder (default: out/<topology>/)
  --cert-manager-issuer NAME[:KIND]
                           k8s.yaml: cert-manager Certificates fill the NATS and Redis TLS
                           Secrets, from the Issuer (or KIND ClusterIssuer) NAME; without it,
                           create the Secrets
  --against OLD            first run 'catgac diff OLD FILE' (OLD a file or git:REF:PATH); a
                           breaking change stops the build before anything is written
  --allow CODE,...         with --against: accept these diff rules on purpose
  -h, --help               show this help

Exit codes: 0 built, 1 errors in the input or a breaking change (nothing written), 2 usage or I/O error.
`;

const FMT_HELP = `catgac fmt — format topologies

Usage: catgac fmt [--check] FILE...

Rewrites every FILE in place in the canonical layout, keeping all comments. A file with syntax
errors is left untouched and its errors are printed.

Options:
  --check                  change nothing; list the files that are not formatted
  -h, --help               show this help

Exit codes: 0 all files formatted (or, with --check, already formatted), 1 a file has syntax
errors (or, with --check, is not formatted), 2 usage or I/O error.
`;

const GRAPH_HELP = `catgac graph — draw a topology

Usage: catgac graph [--format svg|mermaid|dot] [--out PATH] FILE

Checks FILE and, when it has no errors, draws it: services as boxes (mode, replicas, lease, queue
groups, schedules), sagas with their steps, and one arrow per message: requests from sender to
handler, events from emitter to consumer (once per service, broadcast and durable drawn
distinctly), saga steps, and a legend. The SVG is laid out by ELK; Mermaid and DOT are text for
docs and Graphviz. Same input, same bytes. Details: docs/build.md.

Options:
  --format svg|mermaid|dot  what to draw (default: svg)
  -o, --out PATH            write to PATH (default: standard output)
  -h, --help                show this help

Diagnostics and warnings go to standard error, so the drawing can be piped.
Above ${DENSE_SERVICES} services the drawing gets dense: a warning is printed and the SVG leaves
edge labels out (each edge keeps its message as a hover title).

Exit codes: 0 drawn, 1 errors in the input (nothing drawn), 2 usage or I/O error.
`;

/** Runs catgac with `argv` (without the node and script paths) and returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case undefined:
      case "-h":
      case "--help":
      case "help":
        io.stdout(MAIN_HELP);
        return command === undefined ? EXIT.usage : EXIT.ok;
      case "-v":
      case "--version":
        io.stdout(`${VERSION}\n`);
        return EXIT.ok;
      case "check":
        return await check(rest, io);
      case "fmt":
        return await fmt(rest, io);
      case "build":
        return await build(rest, io);
      case "diff":
        return await diffCommand(rest, io);
      case "graph":
        return await graph(rest, io);
      default: {
        const suggestion = closest(command, ["check", "fmt", "build", "diff", "graph", "lsp", "help"]);
        throw new UsageError(
          `unknown command '${command}'${suggestion ? ` (did you mean '${suggestion}'?)` : ""}; run 'catgac --help' for the list`,
        );
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`catgac: ${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  }
}

async function check(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(argv, {
    format: { type: "string", default: "human" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(CHECK_HELP);
    return EXIT.ok;
  }
  if (values.format !== "human" && values.format !== "json") {
    throw new UsageError(`unknown format '${String(values.format)}'; use human or json`);
  }
  requireFiles(positionals, "check");
  const all: Diagnostic[] = [];
  const sources = new Map<string, string>();
  for (const file of positionals) {
    const bytes = await read(file);
    const { diagnostics } = checkSource(bytes, file);
    all.push(...diagnostics);
    sources.set(file, decodeUtf8(bytes) ?? Buffer.from(bytes).toString("latin1"));
  }
  const sorted = sortDiagnostics(all);
  if (values.format === "json") {
    io.stdout(`${JSON.stringify(sorted.map(toJson), null, 2)}\n`);
  } else {
    report(sorted, sources, positionals.length, io);
  }
  return hasErrors(sorted) ? EXIT.inputErrors : EXIT.ok;
}

async function build(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(argv, {
    out: { type: "string", short: "o" },
    "cert-manager-issuer": { type: "string" },
    against: { type: "string" },
    allow: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(BUILD_HELP);
    return EXIT.ok;
  }
  const issuer = certManagerIssuer(values["cert-manager-issuer"]);
  requireFiles(positionals, "build");
  if (positionals.length > 1) throw new UsageError("build takes one FILE: one topology per build");
  const file = positionals[0] as string;
  const bytes = await read(file);
  const { value: model, diagnostics } = checkSource(bytes, file);
  const text = decodeUtf8(bytes) ?? Buffer.from(bytes).toString("latin1");
  // Warnings are shown but do not stop the build; errors do, before anything is written.
  report(diagnostics, new Map([[file, text]]), 1, io);
  if (model === undefined) return EXIT.inputErrors;
  if (values.allow !== undefined && values.against === undefined) {
    throw new UsageError("--allow needs --against OLD");
  }
  if (values.against !== undefined) {
    const verdict = await againstCheck(values.against, { source: bytes, file }, values.allow, io);
    if (verdict !== EXIT.ok) return verdict;
  }
  const out = values.out ?? join("out", model.name);
  const files = await emitBuild(model, {
    sourceName: basename(file),
    ...(issuer !== undefined ? { certManagerIssuer: issuer } : {}),
  });
  let written = 0;
  for (const f of files) {
    const target = join(out, f.path);
    // Skipping unchanged files keeps timestamps stable for watchers and incremental tools.
    if ((await readIfExists(target)) === f.content) continue;
    await mkdirFor(target);
    await write(target, f.content);
    written++;
    io.stdout(`wrote ${target}\n`);
  }
  io.stdout(`built ${model.name}: ${files.length} files in ${out} (${written} changed)\n`);
  return EXIT.ok;
}

async function graph(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(argv, {
    format: { type: "string", default: "svg" },
    out: { type: "string", short: "o" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(GRAPH_HELP);
    return EXIT.ok;
  }
  const format = values.format;
  if (format !== "svg" && format !== "mermaid" && format !== "dot") {
    throw new UsageError(`unknown format '${String(format)}'; use svg, mermaid or dot`);
  }
  requireFiles(positionals, "graph");
  if (positionals.length > 1) throw new UsageError("graph takes one FILE: one topology per drawing");
  const file = positionals[0] as string;
  const bytes = await read(file);
  const { value: model, diagnostics } = checkSource(bytes, file);
  const text = decodeUtf8(bytes) ?? Buffer.from(bytes).toString("latin1");
  // Standard output may be the drawing itself: findings go to standard error.
  report(diagnostics, new Map([[file, text]]), 1, { ...io, stdout: io.stderr });
  if (model === undefined) return EXIT.inputErrors;
  if (model.services.length > DENSE_SERVICES) {
    io.stderr(
      `catgac: warning: ${model.services.length} services (more than ${DENSE_SERVICES}): the drawing is dense${format === "svg" ? "; edge labels are left out (hover an edge for its message)" : ""}\n`,
    );
  }
  const options = { sourceName: basename(file) };
  const drawing =
    format === "svg"
      ? await topologySvg(model, options)
      : format === "mermaid"
        ? emitMermaid(buildGraph(model), options)
        : emitDot(buildGraph(model), options);
  if (values.out === undefined) {
    io.stdout(drawing);
    return EXIT.ok;
  }
  await mkdirFor(values.out);
  await write(values.out, drawing);
  io.stderr(`wrote ${values.out}\n`);
  return EXIT.ok;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return undefined;
  }
}

async function mkdirFor(file: string): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
  } catch (error) {
    throw new UsageError(`cannot create '${dirname(file)}': ${ioReason(error)}`);
  }
}

async function fmt(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(argv, {
    check: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(FMT_HELP);
    return EXIT.ok;
  }
  requireFiles(positionals, "fmt");
  let failed = false;
  const broken: Diagnostic[] = [];
  const sources = new Map<string, string>();
  for (const file of positionals) {
    const bytes = await read(file);
    const text = decodeUtf8(bytes);
    if (text === undefined) {
      broken.push(...parse(bytes, file).diagnostics);
      failed = true;
      continue;
    }
    const { value: formatted, diagnostics } = format(text, file);
    if (formatted === undefined) {
      // Never rewrite a file that does not parse: formatting it could lose what the user wrote.
      broken.push(...diagnostics.filter((d) => d.severity === "error"));
      sources.set(file, text);
      failed = true;
      continue;
    }
    if (formatted === text) continue;
    if (values.check) {
      io.stdout(`${file}: not formatted\n`);
      failed = true;
    } else {
      await write(file, formatted);
      io.stdout(`formatted ${file}\n`);
    }
  }
  if (broken.length > 0) report(sortDiagnostics(broken), sources, positionals.length, io);
  return failed ? EXIT.inputErrors : EXIT.ok;
}

function report(diagnostics: Diagnostic[], sources: Map<string, string>, files: number, io: Io): void {
  for (const d of diagnostics) io.stdout(`${renderHuman(d, sources.get(d.span.file), io.color)}\n\n`);
  if (diagnostics.length > 0) io.stdout(`${summary(diagnostics, files)}\n`);
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

function args<O extends Options>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function requireFiles(files: readonly string[], command: string): void {
  if (files.length === 0)
    throw new UsageError(`${command} needs at least one FILE; see 'catgac ${command} --help'`);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

async function read(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new UsageError(`cannot read '${file}': ${ioReason(error)}`);
  }
}

async function write(file: string, text: string): Promise<void> {
  try {
    await writeFile(file, text);
  } catch (error) {
    throw new UsageError(`cannot write '${file}': ${ioReason(error)}`);
  }
}

function ioReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EISDIR":
      return "it is a directory";
    case "ENOTDIR":
    case "EEXIST":
      return "a file is in the way of a folder";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/** `--cert-manager-issuer NAME[:Issuer|ClusterIssuer]`. */
function certManagerIssuer(
  text: string | undefined,
): { name: string; kind: "Issuer" | "ClusterIssuer" } | undefined {
  if (text === undefined) return undefined;
  const match = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?::(Issuer|ClusterIssuer))?$/.exec(text);
  if (!match) {
    throw new UsageError(
      `--cert-manager-issuer '${text}': expected NAME or NAME:ClusterIssuer (NAME a Kubernetes object name)`,
    );
  }
  return { name: match[1]!, kind: (match[3] as "Issuer" | "ClusterIssuer" | undefined) ?? "Issuer" };
}
