import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { headerSecrets, playable } from "../compose/_kube-play.js";

/**
 * The derivation `npm run test:compose` plays under `podman kube play` (test/compose/_kube-play.ts),
 * checked on the shop's golden k8s.yaml without podman: what it turns into Pods, the names it gives
 * them, what it reports as not played. The run itself is test/compose/shop.kube.test.ts.
 */
const k8s = readFileSync(new URL("../golden/build/shop/k8s.yaml", import.meta.url), "utf8");
const secrets = Object.fromEntries(
  headerSecrets(k8s).map((s) => [
    s.name,
    Object.fromEntries([...s.literals, ...Object.keys(s.files)].map((k) => [k, `value-of-${k}`])),
  ]),
);
const play = () =>
  playable(k8s, {
    subnetPrefix: "10.89.200",
    firstHost: 10,
    images: { "nats:2.10.29-alpine": "base", "redis:7.4.6-alpine": "base" },
    hostPorts: { "shop-nats-0/4222": 24222 },
    secrets,
  });
// biome-ignore lint/suspicious/noExplicitAny: manifests walked by their Kubernetes field names
const objects = (): any[] => parseAllDocuments(play().yaml).map((d) => d.toJS());

describe("kube play derivation", () => {
  it("kube play — the header's Secrets, with their keys and files, are read as a user reads them", () => {
    const byName = Object.fromEntries(headerSecrets(k8s).map((s) => [s.name, s]));
    expect(Object.keys(byName).sort()).toEqual([
      "shop-nats-tls",
      "shop-nats-users",
      "shop-redis-tls",
      "shop-redis-users",
    ]);
    expect(byName["shop-nats-users"]!.literals).toContain("CATGA_NATS_PASSWORD_ORDER");
    expect(byName["shop-nats-tls"]!.files).toEqual({
      "tls.crt": "nats.crt",
      "tls.key": "nats.key",
      "ca.crt": "ca.crt",
    });
    // The ConfigMaps' data, which the run checks in podman's ConfigMap volumes before any Pod starts.
    const emittedConfigMaps = parseAllDocuments(k8s)
      .map((d) => d.toJS())
      .filter((o) => o?.kind === "ConfigMap");
    expect(Object.keys(play().configMaps).sort()).toEqual(
      emittedConfigMaps.map((c) => c.metadata.name as string).sort(),
    );
    for (const c of emittedConfigMaps) expect(play().configMaps[c.metadata.name]).toEqual(c.data);
    expect(play().secretUses).toEqual({
      "shop-nats-tls": "volume",
      "shop-nats-users": "env",
      "shop-redis-tls": "volume",
      "shop-redis-users": "env",
    });
  });

  it("kube play — StatefulSets become Pods with their Kubernetes names and claims; Deployments stay", () => {
    const p = play();
    expect(p.pods).toHaveLength(24);
    expect(p.pods.slice(0, 3).map((x) => x.name)).toEqual(["shop-nats-0", "shop-nats-1", "shop-nats-2"]);
    expect(p.pods.filter((x) => x.from === "Deployment/shop-order").map((x) => x.name)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `shop-order-pod-${i}`),
    );
    // Every StatefulSet Pod precedes every Deployment's: `--ip` is consumed in play order.
    const firstDeployment = p.pods.findIndex((x) => x.from.startsWith("Deployment/"));
    expect(p.pods.slice(firstDeployment).every((x) => x.from.startsWith("Deployment/"))).toBe(true);
    expect(p.addresses[0]).toBe("10.89.200.10");
    expect(new Set(p.addresses).size).toBe(24);
    const kinds = objects().map((o) => o.kind);
    expect(kinds.filter((k) => k === "Pod")).toHaveLength(12);
    expect(kinds.filter((k) => k === "Deployment")).toHaveLength(4);
    expect(kinds.filter((k) => k === "PersistentVolumeClaim")).toHaveLength(6);
    expect(kinds).not.toContain("StatefulSet");
    expect(kinds).not.toContain("Service");
    const claim = objects().find((o) => o.metadata.name === "data-shop-nats-0");
    expect(claim.metadata.annotations).toEqual({
      "volume.podman.io/uid": "1000",
      "volume.podman.io/gid": "1000",
    });
  });

  it("kube play — Services become host aliases: pod names to their address, a Service to all it selects", () => {
    const p = play();
    const order = objects().find((o) => o.kind === "Deployment" && o.metadata.name === "shop-order");
    const aliases: { ip: string; hostnames: string[] }[] = order.spec.template.spec.hostAliases;
    const ipOf = (pod: string) => p.pods.find((x) => x.name === pod)!.address;
    expect(aliases).toContainEqual({ ip: ipOf("shop-nats-1"), hostnames: ["shop-nats-1.shop-nats"] });
    expect(aliases).toContainEqual({
      ip: ipOf("shop-redis-sentinel-2"),
      hostnames: ["shop-redis-sentinel-2.shop-redis-sentinel"],
    });
    expect(aliases.filter((a) => a.hostnames[0] === "shop-nats-client").map((a) => a.ip)).toEqual(
      ["shop-nats-0", "shop-nats-1", "shop-nats-2"].map(ipOf),
    );
    // Deployment Pods get no per-pod names: no Service names them.
    expect(aliases.some((a) => a.hostnames[0]!.startsWith("shop-order"))).toBe(false);
  });

  it("kube play — podman 4.3's limits are worked around and reported, not hidden", () => {
    const p = play();
    const nats = objects().find((o) => o.kind === "Pod" && o.metadata.name === "shop-nats-0");
    const container = nats.spec.containers[0];
    // $(CATGA_NATS_CLUSTER_PASSWORD) expanded, as the kubelet would.
    const route = container.env.find((e: { name: string }) => e.name === "CATGA_NATS_ROUTE_1");
    expect(route.value).toBe("nats://route:value-of-CATGA_NATS_CLUSTER_PASSWORD@shop-nats-1.shop-nats:6222");
    // Only the port asked for is published; the probes' named ports are numbers.
    expect(container.ports).toEqual([{ containerPort: 4222, name: "client", hostPort: 24222 }]);
    expect(container.readinessProbe.httpGet.port).toBe(8222);
    expect(container.image).toBe("base");
    expect(nats.spec.volumes.find((v: { name: string }) => v.name === "tls").secret).toEqual({
      optional: false,
      secretName: "shop-nats-tls",
    });
    expect(nats.metadata.annotations ?? {}).toEqual({});
    expect(p.droppedAnnotations).toEqual(["catgac/nats-conf-sha256", "catgac/wiring-sha256"]);
    const reported = new Set(p.notPlayed.map((n) => n.kind));
    expect([...reported].sort()).toEqual(["NetworkPolicy", "PodDisruptionBudget", "Service", "StatefulSet"]);
    expect(p.notPlayed.filter((n) => n.kind === "NetworkPolicy")).toHaveLength(8);
  });
});
