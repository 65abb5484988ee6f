/**
 * A nats-server with a plain client connection and a Catga NATS transport on it, for the tests that
 * hold the transport to the client (what one writes, the other reads). Call inside a `describe`:
 * the server and both connections start before its tests and stop after them.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll } from "vitest";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { Transport } from "../../runtime/transport/types.js";
import { type NatsServer, startNats } from "./nats.js";

export interface NatsWithClients {
  server: NatsServer;
  /** The plain client. */
  nc: NatsConnection;
  /** Catga's transport. */
  transport: Transport;
}

export function natsWithClients(): NatsWithClients {
  const ctx = {} as NatsWithClients;
  beforeAll(async () => {
    ctx.server = await startNats();
    ctx.nc = await connect({ servers: ctx.server.url });
    ctx.transport = await natsTransport({ servers: [ctx.server.url] });
  });
  afterAll(async () => {
    await ctx.transport?.close();
    await ctx.nc?.close();
    await ctx.server?.stop();
  });
  return ctx;
}
