/**
 * The HTTP endpoints of every instance: `/healthz` (the process is alive), `/readyz` (connected,
 * subscribed and not draining — the signal load balancers and Kubernetes use to send traffic) and
 * `/metrics` (Prometheus text format). Compose health checks and Kubernetes probes point here.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What the endpoints report, read on every request. */
export interface HealthSource {
  /** `/healthz`: false only when the instance is broken beyond recovery and should be restarted. */
  alive(): boolean;
  /** `/readyz`: true when the instance should receive traffic. */
  ready(): boolean;
  /** `/readyz` body details (role, connection state), shown as JSON. */
  details?(): Record<string, unknown>;
  /** `/metrics`: the Prometheus exposition text. */
  metrics(): string;
}

/** A running health server. */
export interface HealthServer {
  /** The port it listens on (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts the health server.
 *
 * @param port The port; 0 picks a free one.
 * @param host The interface to listen on.
 * @throws when the port is taken (EADDRINUSE), with the port in the message.
 */
export async function startHealthServer(
  source: HealthSource,
  port: number,
  host = "0.0.0.0",
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(`${JSON.stringify(body)}\n`);
    };
    try {
      if (path === "/healthz") {
        const ok = source.alive();
        json(ok ? 200 : 503, { status: ok ? "alive" : "broken" });
      } else if (path === "/readyz") {
        const ok = source.ready();
        json(ok ? 200 : 503, { status: ok ? "ready" : "not ready", ...(source.details?.() ?? {}) });
      } else if (path === "/metrics") {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        res.end(source.metrics());
      } else {
        json(404, { error: "not found", endpoints: ["/healthz", "/readyz", "/metrics"] });
      }
    } catch (error) {
      json(500, { error: error instanceof Error ? error.message : String(error) });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new Error(
              `health port ${port} is already in use: set another with --health-port or CATGA_HEALTH_PORT`,
              {
                cause: error,
              },
            )
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
