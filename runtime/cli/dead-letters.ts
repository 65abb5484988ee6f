/**
 * `catga dead-letters`: the durable events a service gave up on, with why, and `replay` to put them
 * back in front of that service. Reads any NATS given with `--nats` and `--wiring` (or their
 * variables); the local cluster of the working directory is the default because the tooling's
 * `catga` sets those variables from `.catga/` (the runtime knows nothing of the local cluster).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { own } from "../_own.js";
import { didYouMean } from "../_suggest.js";
import { ConfigError } from "../config.js";
import { type DeadLetter, listDeadLetters, replayDeadLetter } from "../dead-letters.js";
import { natsTransport } from "../transport/nats.js";
import type { Transport } from "../transport/types.js";
import { parseWiring, type Wiring } from "../wiring.js";

/** The text of `catga dead-letters --help`. */
export const DEAD_LETTERS_HELP = `catga dead-letters — durable events a service gave up on, and replaying them

Usage: catga dead-letters [--service S] [--json]
       catga dead-letters replay (SEQ... | --all) [--service S]

Lists the dead letters: events whose handler failed on every allowed delivery (or that failed their
schema), with the service, the event, the deliveries made and the last error. 'replay' publishes
each again on its event's subject for the one service that gave up on it (the other consumers skip
it) and removes it from the dead letters. Without --nats: the local cluster started here by 'catga
up' (.catga/).

Options:
  --service S      only the dead letters of service S
  --all            replay: every listed dead letter (of --service S, if given)
  --json           print JSON
  --nats URL       any NATS (comma-separated URLs) instead of the local cluster   CATGA_NATS_URLS
  --wiring FILE    the topology's wiring.json (with --nats)                        CATGA_WIRING
  -h, --help       show this help

NATS credentials come from CATGA_NATS_USER and CATGA_NATS_PASSWORD (the emitted configs' operator
user). Exit 1: NATS unreachable or a dead letter not found (those replayed before it are printed);
2: usage or configuration error.
`;

interface Io {
  stdout(t: string): void;
  stderr(t: string): void;
}

/** Runs `catga dead-letters` with `argv` (after `dead-letters`); resolves with the exit code. */
export async function deadLetters(
  argv: readonly string[],
  io: Io,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        service: { type: "string" },
        all: { type: "boolean" },
        json: { type: "boolean" },
        nats: { type: "string" },
        wiring: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    io.stderr(`catga dead-letters: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(DEAD_LETTERS_HELP);
    return 0;
  }
  const [verb, ...seqs] = positionals;
  if (verb !== undefined && verb !== "replay") {
    io.stderr(
      `catga dead-letters: unknown command '${verb}'${didYouMean(verb, ["replay"])}; run 'catga dead-letters --help'\n`,
    );
    return 2;
  }
  const replay = verb === "replay";
  if (replay && (seqs.length === 0) === (values.all !== true)) {
    io.stderr("catga dead-letters replay: give sequence numbers or --all (not both)\n");
    return 2;
  }
  if (!replay && values.all === true) {
    io.stderr("catga dead-letters: --all goes with 'replay'\n");
    return 2;
  }
  const numbers = seqs.map(Number);
  if (numbers.some((n) => !Number.isSafeInteger(n) || n < 1)) {
    io.stderr("catga dead-letters replay: a sequence is a positive integer, as listed\n");
    return 2;
  }
  let wiring: Wiring;
  let urls: string[];
  try {
    ({ wiring, urls } = target(values, env));
    const service = values.service as string | undefined;
    if (service !== undefined && own(wiring.services, service) === undefined) {
      throw new ConfigError(
        `no service '${service}' in '${wiring.topology}'${didYouMean(service, Object.keys(wiring.services))}; it has ${Object.keys(wiring.services).join(", ")}`,
      );
    }
  } catch (error) {
    io.stderr(`catga dead-letters: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  let transport: Transport;
  try {
    transport = await natsTransport({
      servers: urls,
      name: "catga dead-letters",
      connectTimeoutMs: 5000,
      ...(env.CATGA_NATS_USER ? { user: env.CATGA_NATS_USER } : {}),
      ...(env.CATGA_NATS_PASSWORD ? { password: env.CATGA_NATS_PASSWORD } : {}),
      ...(env.CATGA_NATS_USER ? { inboxPrefix: `_INBOX.${wiring.topology}.${env.CATGA_NATS_USER}` } : {}),
    });
  } catch (error) {
    io.stderr(
      `catga dead-letters: cannot reach NATS: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
  try {
    const service = values.service as string | undefined;
    const streams = transport.streams();
    if (!replay) {
      const letters = await listDeadLetters(streams, wiring, service === undefined ? {} : { service });
      io.stdout(values.json ? `${JSON.stringify(letters, null, 2)}\n` : formatDeadLetters(letters));
      return 0;
    }
    const targets =
      values.all === true
        ? (await listDeadLetters(streams, wiring, service === undefined ? {} : { service })).map((l) => l.seq)
        : numbers;
    const replayed: DeadLetter[] = [];
    // What was replayed is printed even when a later sequence fails: the operator must know which
    // dead letters are gone (replayed) before running the command again.
    const report = () => {
      if (values.json) io.stdout(`${JSON.stringify(replayed, null, 2)}\n`);
      else {
        for (const l of replayed)
          io.stdout(`replayed ${l.seq}: ${l.event} for ${l.service} (${l.messageId})\n`);
        if (replayed.length === 0) io.stdout("no dead letter to replay\n");
      }
    };
    try {
      for (const seq of targets) replayed.push(await replayDeadLetter(streams, wiring, seq));
    } catch (error) {
      if (replayed.length > 0) report();
      throw error;
    }
    report();
    return 0;
  } catch (error) {
    io.stderr(`catga dead-letters: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await transport.close();
  }
}

/** The dead letters as a table, oldest first. */
export function formatDeadLetters(letters: readonly DeadLetter[]): string {
  if (letters.length === 0) return "no dead letters\n";
  const rows = letters.map((l) => [
    String(l.seq),
    l.service,
    l.event,
    l.messageId,
    String(l.deliveries),
    new Date(l.at).toISOString(),
    l.reason,
  ]);
  const all = [["SEQ", "SERVICE", "EVENT", "MESSAGE ID", "DELIVERIES", "DEAD SINCE", "REASON"], ...rows];
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return `${all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

function target(
  values: Record<string, string | boolean | undefined>,
  env: Readonly<Record<string, string | undefined>>,
): { wiring: Wiring; urls: string[] } {
  // An empty variable is an unset one (`CATGA_WIRING= catga dead-letters`), not a file named "".
  const nats = (values.nats as string | undefined) ?? (env.CATGA_NATS_URLS || undefined);
  const file = (values.wiring as string | undefined) ?? (env.CATGA_WIRING || undefined);
  if (file === undefined) {
    throw new ConfigError("no topology: run it with 'catga up' here, or pass --nats URL and --wiring FILE");
  }
  const urls = nats?.split(",").map((u) => u.trim());
  if (urls === undefined) throw new ConfigError("no NATS: pass --nats URL");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `cannot read the wiring '${file}': ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  try {
    return { wiring: parseWiring(JSON.parse(text), file), urls };
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}
