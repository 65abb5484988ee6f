/**
 * JetStream-enabled nats-servers for durable-event tests: a full-mesh cluster whose every node runs
 * JetStream with its own store (in its temporary folder), ready once JetStream has a meta leader.
 */
import { jetStreamReady } from "../../tooling/local/infra.js";
import { type NatsCluster, type NatsServer, startNats, startNatsCluster } from "./nats.js";

/** Starts `n` clustered nats-servers with JetStream; resolves when every node knows the meta leader. */
export async function startJetStreamCluster(n = 3): Promise<NatsCluster> {
  const cluster = await startNatsCluster(n, {
    config: (routes, clusterPort) =>
      [
        // Relative to the server's own temporary folder (its working directory).
        `jetstream { store_dir: "js" }`,
        "cluster {",
        `  name: "test"`,
        `  listen: "127.0.0.1:${clusterPort}"`,
        `  routes = [${routes.map((r) => `"${r}"`).join(", ")}]`,
        "}",
        "",
      ].join("\n"),
  });
  await waitJetStream(cluster.servers);
  return cluster;
}

/** Starts one nats-server with JetStream (unclustered). */
export async function startJetStream(): Promise<NatsServer> {
  const server = await startNats({ config: `jetstream { store_dir: "js" }\n` });
  await waitJetStream([server]);
  return server;
}

/** Waits until every server's JetStream is up and knows its meta leader. */
export async function waitJetStream(servers: readonly NatsServer[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await Promise.all(servers.map((s) => jetStreamReady(s.monitorPort)));
    if (ready.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`JetStream not ready: ${ready.join(", ")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
