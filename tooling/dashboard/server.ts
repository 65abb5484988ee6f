/**
 * The dashboard's HTTP server (node:http, no framework): the static page, the topology picture of
 * the build, the state as JSON and as server-sent events, and — when the caller owns the processes
 * (`catga up`) — the kill and scale actions.
 *
 * Security, since any web page the developer opens could send requests to 127.0.0.1:
 * - it listens on 127.0.0.1 only;
 * - every request must name this server in `Host` (127.0.0.1, localhost or [::1] with its port), so a
 *   DNS-rebinding page (a hostile name resolving to 127.0.0.1) gets nothing, not even the state;
 * - an action (POST) must carry this run's token in `X-Catga-Token` (embedded in the page, which
 *   another site cannot read), a JSON body, and an `Origin` that is this server when present;
 * - no CORS headers are sent, so a cross-site script can neither read an answer nor pass the
 *   preflight a custom header needs.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { StatusReport } from "../local/status.js";

/** What the page receives every second. */
export interface DashboardSnapshot {
  topology: string | null;
  /** Epoch ms when it was collected. */
  at: number;
  /** Whether kill and scale are offered (only `catga up`, which owns the processes). */
  actions: boolean;
  /** Whether the build output has a `topology.svg` (served at /topology.svg). */
  picture: boolean;
  /** `null` when collecting failed: `error` says why. */
  status: StatusReport | null;
  error?: string;
}

/** Kill and scale, as `catga kill` and `catga scale` do them. */
export interface DashboardActions {
  /** Ends one instance (SIGKILL, or SIGTERM when `graceful`); resolves with a line for the user. */
  kill(instance: string, graceful: boolean): Promise<string>;
  /** Changes a service's instance count; resolves with a line for the user. */
  scale(service: string, replicas: number): Promise<string>;
}

/** Options of {@link startDashboardServer}. */
export interface DashboardServerOptions {
  /** Collects the state (collectStatus over a heartbeat board). */
  collect(): Promise<StatusReport>;
  /** The topology's name, shown as the title; `null` when unknown (`catga dashboard --nats`). */
  topology: string | null;
  /** The build output folder: `topology.svg` there is the picture. @default none (the page lists services) */
  outDir?: string;
  /** Absent: read-only (`catga dashboard`, which does not own the processes). */
  actions?: DashboardActions;
  /** TCP port on 127.0.0.1. @default 0 (any free port) */
  port?: number;
  /** How often the state is collected while a page is open. @default 1000 */
  intervalMs?: number;
  /** The token actions must carry. @default random, 32 bytes, per run */
  token?: string;
}

/** A running dashboard. */
export interface DashboardServer {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  port: number;
  /** The token the page carries (for tests and scripts that call the actions). */
  token: string;
  /** Stops collecting, ends the event streams and closes the server. */
  close(): Promise<void>;
}

/** The page's files, shipped beside this module (copied into dist/ by `npm run build`). */
const STATIC = fileURLToPath(new URL("./static/", import.meta.url));
const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  "/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
};

/** Headers on every answer: nothing is cached, framed or sniffed; scripts only from here. */
const BASE_HEADERS = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  // Inline styles: the topology SVG may carry its own <style> and style attributes.
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

/** Starts the server on 127.0.0.1; resolves once it listens. */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const token = options.token ?? randomBytes(32).toString("base64url");
  const intervalMs = options.intervalMs ?? 1000;
  const streams = new Set<ServerResponse>();
  let latest: DashboardSnapshot | undefined;
  let port = 0;
  let closed = false;

  const collect = async (): Promise<DashboardSnapshot> => {
    const base = {
      topology: options.topology,
      at: Date.now(),
      actions: options.actions !== undefined,
      picture: svgFile() !== undefined,
    };
    try {
      latest = { ...base, status: await options.collect(), at: Date.now() };
    } catch (error) {
      latest = { ...base, status: null, error: error instanceof Error ? error.message : String(error) };
    }
    return latest;
  };

  // Collect only while someone watches (the state costs NATS and Redis round trips), one
  // collection at a time however many pages are open.
  let looping = false;
  let wake: (() => void) | undefined;
  const loop = async () => {
    looping = true;
    while (!closed && streams.size > 0) {
      const frame = `data: ${JSON.stringify(await collect())}\n\n`;
      for (const res of streams) res.write(frame);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, intervalMs).unref();
      });
    }
    looping = false;
  };

  const svgFile = (): string | undefined => {
    const file = options.outDir === undefined ? undefined : join(options.outDir, "topology.svg");
    return file !== undefined && existsSync(file) ? file : undefined;
  };

  const hostOk = (req: IncomingMessage): boolean => {
    const host = req.headers.host;
    return host === `127.0.0.1:${port}` || host === `localhost:${port}` || host === `[::1]:${port}`;
  };

  const send = (res: ServerResponse, code: number, type: string, body: string | Buffer) => {
    res.writeHead(code, { ...BASE_HEADERS, "Content-Type": type });
    res.end(body);
  };
  const json = (res: ServerResponse, code: number, value: unknown) =>
    send(res, code, "application/json; charset=utf-8", `${JSON.stringify(value)}\n`);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!hostOk(req)) {
      json(res, 421, { ok: false, message: "wrong Host: open the dashboard at the URL catga printed" });
      return;
    }
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    if (req.method === "GET" || req.method === "HEAD") {
      const file = FILES[path];
      if (file !== undefined) {
        let body = readFileSync(join(STATIC, file.file), "utf8");
        if (file.file === "index.html") body = body.replace("__CATGA_TOKEN__", token);
        send(res, 200, file.type, body);
        return;
      }
      if (path === "/topology.svg") {
        const svg = svgFile();
        if (svg === undefined) {
          json(res, 404, { ok: false, message: "no topology.svg in the build output" });
          return;
        }
        send(res, 200, "image/svg+xml", readFileSync(svg));
        return;
      }
      if (path === "/api/state") {
        json(res, 200, await collect());
        return;
      }
      if (path === "/events") {
        res.writeHead(200, {
          ...BASE_HEADERS,
          "Content-Type": "text/event-stream; charset=utf-8",
          Connection: "keep-alive",
        });
        // The last state at once, so a new page is not empty for a second.
        if (latest !== undefined) res.write(`data: ${JSON.stringify(latest)}\n\n`);
        streams.add(res);
        req.on("close", () => streams.delete(res));
        if (!looping) void loop();
        return;
      }
      json(res, 404, { ok: false, message: `no ${path} here` });
      return;
    }
    if (req.method !== "POST") {
      res.setHeader("Allow", "GET, HEAD, POST");
      json(res, 405, { ok: false, message: `${req.method} is not allowed` });
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) {
      json(res, 403, { ok: false, message: "cross-site request refused" });
      return;
    }
    const given = Buffer.from(String(req.headers["x-catga-token"] ?? ""));
    const expected = Buffer.from(token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      json(res, 403, { ok: false, message: "missing or wrong X-Catga-Token" });
      return;
    }
    if (!String(req.headers["content-type"] ?? "").startsWith("application/json")) {
      json(res, 415, { ok: false, message: "expected a JSON body (Content-Type: application/json)" });
      return;
    }
    if (options.actions === undefined) {
      json(res, 403, {
        ok: false,
        message: "read-only: this dashboard does not own the processes (only the one 'catga up' serves acts)",
      });
      return;
    }
    let body: Record<string, unknown>;
    try {
      const parsed = JSON.parse(await readBody(req)) as unknown;
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw new Error("not an object");
      body = parsed as Record<string, unknown>;
    } catch {
      json(res, 400, { ok: false, message: "the body is not a JSON object" });
      return;
    }
    try {
      if (path === "/api/kill") {
        if (typeof body.instance !== "string" || body.instance === "") {
          json(res, 400, { ok: false, message: 'expected {"instance": "<service>-<n>"}' });
          return;
        }
        json(res, 200, {
          ok: true,
          message: await options.actions.kill(body.instance, body.graceful === true),
        });
        return;
      }
      if (path === "/api/scale") {
        if (typeof body.service !== "string" || typeof body.replicas !== "number") {
          json(res, 400, { ok: false, message: 'expected {"service": "<name>", "replicas": N}' });
          return;
        }
        json(res, 200, { ok: true, message: await options.actions.scale(body.service, body.replicas) });
        return;
      }
      json(res, 404, { ok: false, message: `no action ${path}` });
    } catch (error) {
      // The same messages as `catga kill` and `catga scale` print (an unknown instance, a bad count).
      json(res, 409, { ok: false, message: error instanceof Error ? error.message : String(error) });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { ok: false, message: String(error) });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    token,
    close: async () => {
      closed = true;
      wake?.();
      for (const res of streams) res.end();
      streams.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await done;
    },
  };
}

/** The request body as text, at most 64 KiB (an action's body is a few bytes). */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > 65_536) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
