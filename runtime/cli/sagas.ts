/**
 * `catga sagas`: the sagas of a topology as the coordination store holds them — unfinished ones
 * with their current step, failed ones with their error, and counts per status. Read only; it
 * reads Redis from the same flags and variables as `catga run`.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { Cluster, Redis } from "ioredis";
import { ConfigError } from "../config.js";
import {
  createRedis,
  describeRedis,
  parseRedisConfig,
  type RedisConfig,
  redisTlsError,
} from "../coordination/redis-connection.js";
import { RedisCoordination } from "../coordination/redis-coordination.js";
import { type SagaStatusReport, sagaStatus } from "../saga.js";
import { parseWiring, type Wiring } from "../wiring.js";

export const SAGAS_HELP = `catga sagas — sagas in flight, failed ones, and counts per status

Usage: catga sagas --wiring FILE [--redis URL] [--json]

Options:
  --wiring FILE    wiring.json from 'catgac build'                 CATGA_WIRING
  --redis URL      standalone Redis                                CATGA_REDIS_URL
  --json           print the report as JSON
  -h, --help       show this help

Redis is read from the same variables as 'catga run': CATGA_REDIS_MODE (standalone|sentinel|
cluster), CATGA_REDIS_URL, CATGA_REDIS_SENTINELS, CATGA_REDIS_MASTER, CATGA_REDIS_CLUSTER_NODES,
CATGA_REDIS_PASSWORD, CATGA_REDIS_TLS, CATGA_REDIS_TLS_CA/CERT/KEY/SERVERNAME. Exit 1: Redis unreachable; 2: usage or configuration error.
`;

/** Runs `catga sagas` with `argv` (after `sagas`); resolves with the exit code. */
export async function sagas(
  argv: readonly string[],
  io: { stdout(t: string): void; stderr(t: string): void },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  let flags: { wiring?: string; redis?: string; json?: boolean; help?: boolean };
  try {
    flags = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        wiring: { type: "string" },
        redis: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    io.stderr(`catga sagas: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (flags.help) {
    io.stdout(SAGAS_HELP);
    return 0;
  }
  let wiring: Wiring;
  let redis: Redis | Cluster;
  let config: RedisConfig;
  try {
    const file = flags.wiring ?? env.CATGA_WIRING;
    if (!file) throw new ConfigError("no wiring: pass --wiring FILE or set CATGA_WIRING");
    wiring = await loadWiring(file);
    const url = flags.redis ?? env.CATGA_REDIS_URL;
    if (!env.CATGA_REDIS_MODE && !url) {
      throw new ConfigError("no Redis: pass --redis URL or set CATGA_REDIS_MODE and its address");
    }
    try {
      config = parseRedisConfig({ ...env, ...(url ? { CATGA_REDIS_URL: url } : {}) });
    } catch (error) {
      throw new ConfigError(error instanceof Error ? error.message : String(error), { cause: error });
    }
    redis = createRedis(config, { connectionName: "catga-sagas" });
  } catch (error) {
    io.stderr(`catga sagas: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  // Reported below, once, instead of one line per reconnect; a TLS failure at once (it will not heal).
  let tlsFailed: ((error: Error) => void) | undefined;
  redis.on("error", (error: Error) => {
    const tls = redisTlsError(error, describeRedis(config));
    if (tls !== undefined) tlsFailed?.(tls);
  });
  try {
    // Commands fail fast while disconnected (no offline queue): wait for the connection first.
    await new Promise<void>((resolve, reject) => {
      if (redis.status === "ready") return resolve();
      tlsFailed = reject;
      const timer = setTimeout(() => reject(new Error("no connection within 5 s")), 5000);
      redis.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const report = await sagaStatus(new RedisCoordination(redis), wiring);
    io.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatSagas(report));
    return 0;
  } catch (error) {
    io.stderr(`catga sagas: cannot read Redis: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    redis.disconnect();
  }
}

/** The report as text: one line per listed saga, then the counts per saga. */
export function formatSagas(report: SagaStatusReport): string {
  const rows = report.sagas.map((s) => [
    s.name,
    s.id,
    s.status,
    String(s.step),
    s.stepCommand ?? "-",
    s.updatedAt ? new Date(s.updatedAt).toISOString() : "-",
    s.error ? `${s.error.code}: ${s.error.message}` : "",
  ]);
  const lines: string[] = [];
  if (rows.length === 0) lines.push("no saga in flight or failed");
  else lines.push(...table([["SAGA", "ID", "STATUS", "STEP", "COMMAND", "UPDATED", "ERROR"], ...rows]));
  lines.push("");
  const counts = Object.entries(report.counts).map(([name, c]) => [
    name,
    String(c.running),
    String(c.compensating),
    String(c.completed),
    String(c.compensated),
    String(c.failed),
  ]);
  lines.push(
    ...table([["SAGA", "RUNNING", "COMPENSATING", "COMPLETED", "COMPENSATED", "FAILED"], ...counts]),
  );
  return `${lines.join("\n")}\n`;
}

function table(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
}

async function loadWiring(file: string): Promise<Wiring> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `cannot read the wiring '${file}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  try {
    return parseWiring(JSON.parse(text), file);
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}
