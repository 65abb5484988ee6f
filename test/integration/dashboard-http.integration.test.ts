import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsTransport, type Transport } from "../../runtime/index.js";
import {
  type DashboardServer,
  type DashboardSnapshot,
  startDashboard,
} from "../../tooling/dashboard/index.js";
import { HeartbeatBoard, watchHeartbeats } from "../../tooling/local/heartbeats.js";
import { tempDir, waitFor } from "../harness/_process.js";
import { REPO_ROOT, runCatgaCli } from "../harness/catga.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * The dashboard's HTTP endpoints over a real nats-server: the page and its token, the server-sent
 * state (fed by heartbeats published on NATS, collected by `collectStatus` as `catga status` does),
 * the picture of the build, and the guards of the actions (Host, Origin, token, JSON, read-only).
 * The actions themselves are `killInstance`/`scaleService`, run against a folder with no cluster
 * here (they answer what `catga kill` says there); the browser test kills a real leader.
 */

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** node:http rather than fetch: a test must be free to send any Host and Origin. */
function call(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? "GET",
        headers: { Host: `127.0.0.1:${port}`, ...options.headers },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Reads `count` server-sent snapshots from /events. */
function snapshots(
  port: number,
  count: number,
): Promise<{ contentType: string; frames: DashboardSnapshot[] }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path: "/events", headers: { Host: `127.0.0.1:${port}` } },
      (res) => {
        let buffer = "";
        const frames: DashboardSnapshot[] = [];
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          buffer += d;
          let end = buffer.indexOf("\n\n");
          while (end >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (frame.startsWith("data: ")) frames.push(JSON.parse(frame.slice(6)) as DashboardSnapshot);
            end = buffer.indexOf("\n\n");
          }
          if (frames.length >= count) {
            req.destroy();
            resolve({ contentType: String(res.headers["content-type"]), frames });
          }
        });
      },
    );
    req.on("error", (error) => {
      if (!req.destroyed) reject(error);
    });
    req.setTimeout(20_000, () => reject(new Error(`fewer than ${count} snapshots in 20 s`)));
    req.end();
  });
}

function beat(instance: string, at: number, handled: number) {
  return {
    topology: "dash",
    service: "api",
    instance,
    role: "peer",
    mode: "p2p",
    pid: 4242,
    counters: { handled, errors: 1, invalid: 0, inFlight: 0 },
    ready: true,
    at,
  };
}

describe("dashboard — HTTP endpoints over a real NATS", () => {
  let nats: NatsServer;
  let listener: Transport;
  let publisher: Transport;
  let dir: ReturnType<typeof tempDir>;
  let readOnly: DashboardServer;
  let acting: DashboardServer;
  let publishing: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    nats = await startNats();
    dir = tempDir("dashboard-http");
    mkdirSync(join(dir.path, "out"));
    listener = await natsTransport({ servers: [nats.url], name: "dashboard test" });
    publisher = await natsTransport({ servers: [nats.url], name: "heartbeats" });
    const board = new HeartbeatBoard();
    watchHeartbeats(listener, board, "dash");
    let n = 0;
    const send = () => {
      n++;
      publisher.publish(
        "dash._catga.heartbeat.api",
        new TextEncoder().encode(JSON.stringify(beat("api-0", Date.now(), n * 10))),
      );
    };
    send();
    publishing = setInterval(send, 500);
    readOnly = await startDashboard({
      board,
      natsUrls: [nats.url],
      topology: "dash",
      outDir: join(dir.path, "out"),
    });
    // Acting, in a folder where no cluster runs: the actions answer as `catga kill` does there.
    acting = await startDashboard({
      board,
      natsUrls: [nats.url],
      topology: "dash",
      actions: true,
      cwd: dir.path,
    });
  }, 60_000);

  afterAll(async () => {
    if (publishing !== undefined) clearInterval(publishing);
    await readOnly?.close();
    await acting?.close();
    await listener?.close();
    await publisher?.close();
    await nats?.stop();
    dir?.remove();
  });

  it("dashboard — the page carries this run's token, a strict CSP, and its script and style from here", async () => {
    const page = await call(readOnly.port, "/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toContain(`<meta name="catga-token" content="${readOnly.token}" />`);
    expect(readOnly.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(acting.token).not.toBe(readOnly.token);
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(page.body).not.toMatch(/https?:\/\//); // nothing from a CDN: it works offline
    const js = await call(readOnly.port, "/dashboard.js");
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.body).toContain('new EventSource("/events")');
    expect((await call(readOnly.port, "/dashboard.css")).status).toBe(200);
    expect((await call(readOnly.port, "/nothing")).status).toBe(404);
  });

  it("dashboard — a request naming another Host (DNS rebinding) gets nothing, not even the state", async () => {
    for (const path of ["/", "/api/state", "/events"]) {
      const r = await call(readOnly.port, path, { headers: { Host: `evil.example:${readOnly.port}` } });
      expect(r.status, path).toBe(421);
      expect(r.body).not.toContain(readOnly.token);
    }
    expect((await call(readOnly.port, "/", { headers: { Host: `localhost:${readOnly.port}` } })).status).toBe(
      200,
    );
  });

  it("dashboard — /events pushes a snapshot about every second, from the heartbeats heard on NATS", async () => {
    const started = Date.now();
    const { contentType, frames } = await snapshots(readOnly.port, 3);
    expect(contentType).toBe("text/event-stream; charset=utf-8");
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const f of frames) {
      expect(f).toMatchObject({ topology: "dash", actions: false, picture: false });
      const api = f.status?.services.find((s) => s.name === "api");
      expect(api?.instances.map((i) => [i.id, i.role, i.pid])).toEqual([["api-0", "peer", 4242]]);
      expect(api?.failed).toBe(1);
    }
    // Live: each frame is a new collection, and the counts move with the heartbeats.
    expect(frames[2]!.at).toBeGreaterThan(frames[0]!.at);
    expect(frames[2]!.at - frames[1]!.at).toBeGreaterThanOrEqual(900);
    const handled = (f: DashboardSnapshot) => f.status!.services[0]!.handled;
    await waitFor("the handled count to grow", async () => {
      const { frames: later } = await snapshots(readOnly.port, 2);
      return handled(later[1]!) > handled(frames[0]!);
    });
    const state = JSON.parse((await call(readOnly.port, "/api/state")).body) as DashboardSnapshot;
    // As `catga status --nats`: a foreign server's monitoring port is unknown (8222 is tried), so its routes are too.
    expect(state.status?.nats.servers).toEqual([{ url: nats.url, routes: null }]);
  });

  it("dashboard — /topology.svg serves the build's picture once it exists, and the snapshot says so", async () => {
    expect((await call(readOnly.port, "/topology.svg")).status).toBe(404);
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg"><g data-service="api"><rect width="9" height="9"/></g></svg>';
    writeFileSync(join(dir.path, "out/topology.svg"), svg);
    const r = await call(readOnly.port, "/topology.svg");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("image/svg+xml");
    expect(r.body).toBe(svg);
    expect((JSON.parse((await call(readOnly.port, "/api/state")).body) as DashboardSnapshot).picture).toBe(
      true,
    );
  });

  it("dashboard — an action needs this run's token, a JSON body, and no foreign Origin", async () => {
    const port = acting.port;
    const json = { "Content-Type": "application/json" };
    const body = JSON.stringify({ instance: "api-0" });
    const post = (headers: Record<string, string>) =>
      call(port, "/api/kill", { method: "POST", headers, body });
    const noToken = await post({ ...json, Origin: `http://127.0.0.1:${port}` });
    expect(noToken.status).toBe(403);
    expect(noToken.body).toContain("X-Catga-Token");
    expect((await post({ ...json, "X-Catga-Token": readOnly.token })).status).toBe(403); // another run's
    const foreign = await post({ ...json, "X-Catga-Token": acting.token, Origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain("cross-site");
    // A form post (what a cross-site page can send without a preflight) is not JSON.
    const form = await post({ "Content-Type": "text/plain", "X-Catga-Token": acting.token });
    expect(form.status).toBe(415);
    const wrongHost = await call(port, "/api/kill", {
      method: "POST",
      headers: { ...json, "X-Catga-Token": acting.token, Host: `evil.example:${port}` },
      body,
    });
    expect(wrongHost.status).toBe(421);
    // Everything right: the action runs, and answers what `catga kill` says in a folder with no cluster.
    const ok = await post({ ...json, "X-Catga-Token": acting.token, Origin: `http://127.0.0.1:${port}` });
    expect(ok.status).toBe(409);
    expect(JSON.parse(ok.body)).toMatchObject({
      ok: false,
      message: expect.stringContaining("no local cluster"),
    });
    const scale = await call(port, "/api/scale", {
      method: "POST",
      headers: { ...json, "X-Catga-Token": acting.token },
      body: JSON.stringify({ service: "api" }),
    });
    expect(scale.status).toBe(400);
  });

  it("dashboard — catga dashboard's server is read-only: actions are refused even with its token", async () => {
    const r = await call(readOnly.port, "/api/kill", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Catga-Token": readOnly.token },
      body: JSON.stringify({ instance: "api-0" }),
    });
    expect(r.status).toBe(403);
    expect(r.body).toContain("read-only");
  });
});

describe("catga dashboard — the command", () => {
  let nats: NatsServer;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    nats = await startNats();
    dir = tempDir("dashboard-cli");
  }, 60_000);

  afterAll(async () => {
    await nats?.stop();
    dir?.remove();
  });

  it("catga dashboard — --nats URL serves the page read-only on 127.0.0.1 and prints its URL; Ctrl-C stops it (exit 0)", async () => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=catga-source",
        "--import",
        import.meta.resolve("tsx"),
        join(REPO_ROOT, "tooling/cli/bin-entry.ts"),
        "dashboard",
        "--nats",
        nats.url,
      ],
      { cwd: dir.path, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await waitFor("the dashboard URL", async () => /http:\/\/127\.0\.0\.1:\d+\//.test(out), {
        timeoutMs: 60_000,
        describe: () => out,
      });
      expect(out).toMatch(
        /^catga dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(127\.0\.0\.1 only, read-only\); Ctrl-C stops it\n$/,
      );
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(out)![1]);
      const page = await call(port, "/");
      expect(page.status).toBe(200);
      const state = JSON.parse((await call(port, "/api/state")).body) as DashboardSnapshot;
      expect(state).toMatchObject({ topology: null, actions: false, picture: false });
      expect(state.status?.nats.servers.map((s) => s.url)).toEqual([nats.url]);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  }, 90_000);

  it("catga dashboard — with no .catga/ here and no --nats: exit 2, saying how to start one", async () => {
    const r = await runCatgaCli(dir.path, ["dashboard"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no local cluster in");
    expect((await runCatgaCli(dir.path, ["dashboard", "--port", "http"])).code).toBe(2);
  }, 180_000);

  it("catga up — a bad --dashboard-port, or one with --detach or --no-dashboard, is a usage error before anything starts", async () => {
    for (const args of [
      ["--dashboard-port", "99999"],
      ["--detach", "--dashboard-port", "8080"],
      ["--memory", "--dashboard-port", "8080"],
      ["--no-dashboard", "--dashboard-port", "8080"],
    ]) {
      const r = await runCatgaCli(dir.path, ["up", "missing.catga", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(/catga up: .*dashboard/);
    }
  }, 300_000);
});
