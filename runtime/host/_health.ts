/**
 * Heartbeats and health: whether the instance is ready, the heartbeat it publishes on its
 * service's heartbeat subject, and the HTTP server of /healthz, /readyz and /metrics.
 */
import { encode } from "../_wire.js";
import { type HealthServer, startHealthServer } from "../health-server.js";
import type { Logger } from "../log.js";
import type { Registry } from "../metrics.js";
import type { Transport } from "../transport/types.js";
import type { Wiring, WiringService } from "../wiring.js";
import type { Leadership } from "./_leadership.js";
import type { Lifecycle } from "./_lifecycle.js";
import type { HostInstruments } from "./_metrics.js";
import type { Subscriptions } from "./_subscriptions.js";
import type { Heartbeat } from "./_types.js";

/** What {@link Health} reads from its host. */
export interface HealthOptions {
  wiring: Wiring;
  service: string;
  ws: WiringService;
  instanceId: string;
  transport: Transport;
  log: Logger;
  lifecycle: Lifecycle;
  leadership: Leadership;
  subscriptions: Subscriptions;
  metrics: Registry;
  instruments: HostInstruments;
}

/** The instance's readiness, heartbeats and health server. */
export class Health {
  readonly #o: HealthOptions;
  #timer: NodeJS.Timeout | undefined;
  #server: HealthServer | undefined;

  constructor(options: HealthOptions) {
    this.#o = options;
  }

  /** Ready: connected, not draining, and serving (or standing by, which is what a standby does). */
  ready(): boolean {
    const { transport, lifecycle, leadership, subscriptions } = this.#o;
    return (
      transport.isConnected() &&
      !lifecycle.draining &&
      (leadership.role === "standby" || subscriptions.subscribed)
    );
  }

  /** The heartbeat of this instance now. */
  heartbeat(): Heartbeat {
    const { wiring, service, ws, instanceId, lifecycle, leadership } = this.#o;
    const { role, term } = leadership;
    return {
      topology: wiring.topology,
      service,
      instance: instanceId,
      role,
      mode: ws.mode,
      pid: process.pid,
      ...(role === "leader" && term ? { fencingToken: term.fencingToken.toString() } : {}),
      counters: { ...lifecycle.counters },
      ready: this.ready(),
      at: Date.now(),
    };
  }

  /** Publishes one heartbeat now. */
  beat(): void {
    // A crashed instance is silent: its last heartbeat is the one before the crash, as with a process.
    if (this.#o.lifecycle.crashed) return;
    try {
      this.#o.transport.publish(this.#o.ws.heartbeatSubject, encode(this.heartbeat()));
    } catch (error) {
      this.#o.log.warn("heartbeat failed", { error });
    }
  }

  /** Publishes a heartbeat every `periodMs`, and one now. */
  startBeating(periodMs: number): void {
    this.#timer = setInterval(() => this.beat(), periodMs);
    this.#timer.unref();
    this.beat();
  }

  stopBeating(): void {
    clearInterval(this.#timer);
  }

  /** Starts the HTTP server of /healthz, /readyz and /metrics on `port`; resolves with its port. */
  async serve(port: number): Promise<number> {
    const { service, instanceId, transport, lifecycle, leadership, metrics, instruments: m } = this.#o;
    this.#server = await startHealthServer(
      {
        alive: () => true,
        ready: () => this.ready(),
        details: () => ({
          role: leadership.role,
          service,
          instance: instanceId,
          connected: transport.isConnected(),
          draining: lifecycle.draining,
        }),
        metrics: () => {
          m.ready.set({}, this.ready() ? 1 : 0);
          m.leader.set({}, leadership.role === "leader" ? 1 : 0);
          return metrics.render();
        },
      },
      port,
    );
    return this.#server.port;
  }

  /** Closes the health server, if one was started. */
  async close(): Promise<void> {
    await this.#server?.close();
  }
}
