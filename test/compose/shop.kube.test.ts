import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { freePort, tempDir } from "../harness/_process.js";
import { headerSecrets, type Playable, type Probe, playable } from "./_kube-play.js";
import {
  BASE_IMAGE,
  buildShopImage,
  cleanEnv,
  createOrders,
  failoverChecked,
  type Lease,
  makeShopProject,
  metrics,
  ok,
  placeOrdersChecked,
  run,
  since,
  until,
} from "./_shop-project.js";

/**
 * The shop's emitted k8s.yaml under `podman kube play` (podman 4.3): what podman can run of it, run
 * for real, the way the file's header tells a user to apply it (the Secrets it names, with the
 * certificates of `catga certs --for kubernetes`). Run by `npm run test:compose`, after the compose
 * run, not by `npm test`.
 *
 * podman runs Pods, Deployments, claims and ConfigMaps, not StatefulSets, Services, NetworkPolicies
 * or PodDisruptionBudgets, and has no cluster DNS: test/compose/_kube-play.ts derives the file podman
 * plays (a StatefulSet's Pods as Pods with their Kubernetes names, Services as host aliases on
 * static addresses) and lists what it did not run; this test prints that list. Readiness is the
 * emitted readinessProbes, run as written inside each container (podman runs no probes without
 * systemd).
 */

const ORDERS = 200;
const ADMIN = ["--user", "catga-admin", "--tls", "--cacert", "/etc/redis/certs/ca.crt"];
const NETWORK = "catga-shop-kube";
const log = (line: string) => process.stdout.write(`kube: ${line}\n`);

/** What the emitted StatefulSet and Deployment replicas are: 3+3+3+3 StatefulSet Pods, 5+2+2+3. */
const PODS = 24;

describe("kube — the shop's emitted k8s.yaml under podman kube play", () => {
  let dir: ReturnType<typeof tempDir>;
  let app: string;
  let out: string;
  let natsPort: number;
  let played: Playable;
  /** podman 4.3 keeps each ConfigMap in a volume of its name, which `kube down` leaves. */
  let configMapVolumes: string[] = [];
  let secrets: Record<string, Record<string, string>>;
  let playFile: string;

  const placeOrders = (count: number) =>
    run("node", ["--import", "tsx", "place-orders.ts", String(count)], {
      cwd: app,
      env: cleanEnv({
        CATGA_NATS_URLS: `nats://localhost:${natsPort}`,
        CATGA_NATS_PASSWORD: secrets["shop-nats-users"]!.CATGA_NATS_PASSWORD_CLIENT!,
        CATGA_NATS_TLS_CA: join(app, "certs-k8s/ca.crt"),
      }),
      timeout: 5 * 60_000,
    });

  /** Container name podman gives: `<pod>-<container>`. */
  const container = (pod: string, name: string) => `${pod}-${name}`;

  /** A probe as the manifest writes it, run inside the container. */
  async function probe(name: string, p: Probe): Promise<boolean> {
    const http = p.httpGet;
    const command = p.exec?.command ?? [
      "wget",
      "-q",
      "-O",
      "/dev/null",
      `http://127.0.0.1:${http?.port}${http?.path}`,
    ];
    return (await run("podman", ["exec", name, ...command], { timeout: 30_000 })).code === 0;
  }

  async function redis(container: string, ...command: string[]): Promise<string> {
    return (await ok("podman", ["exec", container, "redis-cli", ...ADMIN, ...command])).stdout.trim();
  }

  /** The coordinator's lease on the primary the sentinels name: owner (the pod name) and token. */
  async function lease(): Promise<Lease | null> {
    const [host] = (
      await redis(
        "shop-redis-sentinel-0-sentinel",
        "-p",
        "26379",
        "sentinel",
        "get-master-addr-by-name",
        "catga",
      )
    ).split("\n");
    const pod = host!.split(".")[0]!;
    const value = await redis(container(pod, "redis"), "get", "{catga:shop:coordinator}:lease");
    const match = /^(.*)\|(\d+)$/.exec(value);
    return match ? { owner: match[1]!, token: Number(match[2]) } : null;
  }

  async function down(): Promise<void> {
    if (playFile !== undefined && existsSync(playFile)) await run("podman", ["kube", "down", playFile]);
    const volumes = await run("podman", ["volume", "ls", "--format", "{{.Name}}"]);
    // The StatefulSets' claims, and the ConfigMap volumes `kube down` leaves (podman 4.3).
    const ours = volumes.stdout
      .split("\n")
      .filter((v) => /^data-shop-/.test(v) || configMapVolumes.includes(v));
    if (ours.length > 0) await run("podman", ["volume", "rm", "-f", ...ours]);
    for (const name of Object.keys(secrets ?? {})) await run("podman", ["secret", "rm", name]);
    await run("podman", ["network", "rm", "-f", NETWORK]);
  }

  beforeAll(async () => {
    const started = Date.now();
    dir = tempDir("kube-shop");
    app = join(dir.path, "shop");
    out = await makeShopProject(app);
    // The certificates the header's TLS Secrets take, for the pods' and Services' names.
    await ok(
      "npx",
      ["catga", "certs", "--topology", "shop.catga", "--for", "kubernetes", "--out", "certs-k8s"],
      {
        cwd: app,
      },
    );
    await buildShopImage(app);
    log(`project and image ready in ${since(started)}`);

    const k8s = readFileSync(join(out, "k8s.yaml"), "utf8");
    // The Secrets the header says to create, each key a fresh password or the named file.
    secrets = {};
    for (const s of headerSecrets(k8s)) {
      secrets[s.name] = {};
      for (const key of s.literals)
        secrets[s.name]![key] = `p${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex")}`;
      for (const [key, file] of Object.entries(s.files))
        secrets[s.name]![key] = readFileSync(join(app, "certs-k8s", file), "utf8");
    }
    expect(Object.keys(secrets).sort()).toEqual([
      "shop-nats-tls",
      "shop-nats-users",
      "shop-redis-tls",
      "shop-redis-users",
    ]);

    natsPort = await freePort();
    configMapVolumes = parseAllDocuments(k8s)
      .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
      .filter((o) => o?.kind === "ConfigMap")
      .map((o) => o!.metadata!.name!);
    await down(); // leftovers of an interrupted run
    // A network of its own with a subnet podman's other networks do not use: the Pods' static
    // addresses come from it.
    let prefix = "";
    for (let n = 200; n < 250 && prefix === ""; n++)
      if ((await run("podman", ["network", "create", "--subnet", `10.89.${n}.0/24`, NETWORK])).code === 0)
        prefix = `10.89.${n}`;
    expect(prefix, "no free 10.89.x.0/24 subnet for the test network").not.toBe("");
    played = playable(k8s, {
      subnetPrefix: prefix,
      firstHost: 10,
      images: { "nats:2.10.29-alpine": BASE_IMAGE, "redis:7.4.6-alpine": BASE_IMAGE },
      hostPorts: { "shop-nats-0/4222": natsPort },
      secrets,
    });
    expect(played.pods).toHaveLength(PODS);
    playFile = join(out, "k8s.play.yaml");
    writeFileSync(playFile, played.yaml);
    // podman 4.3 reads a Secret two ways: an env Secret as a JSON map of base64 values, a volume
    // Secret as a Secret object whose data it writes out as given (no base64 decoding).
    for (const [name, use] of Object.entries(played.secretUses)) {
      const values = secrets[name]!;
      const body =
        use === "env"
          ? Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString("base64")]))
          : { apiVersion: "v1", kind: "Secret", metadata: { name }, data: values };
      const file = join(dir.path, `secret-${name}.json`);
      writeFileSync(file, JSON.stringify(body), { mode: 0o600 });
      await ok("podman", ["secret", "create", name, file]);
    }
    const t = Date.now();
    // Created first, started after: podman 4.3 writes a ConfigMap into one named volume shared by
    // every Pod that mounts it, and rewrites (truncates, then writes) its files as it plays each
    // such Pod. Played with starting, a NATS container of an earlier Pod sometimes read its
    // configuration during the next Pod's rewrite and ran with an empty one (twice in four runs).
    const r = await run("podman", [
      "kube",
      "play",
      "--start=false",
      "--network",
      NETWORK,
      ...played.addresses.flatMap((ip) => ["--ip", ip]),
      playFile,
    ]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    log(`podman kube play --start=false: ${played.pods.length} pods in ${since(t)}`);
    // Every ConfigMap volume holds the ConfigMap's data before a container reads it.
    for (const [name, data] of Object.entries(played.configMaps)) {
      const mount = (
        await ok("podman", ["volume", "inspect", name, "--format", "{{.Mountpoint}}"])
      ).stdout.trim();
      for (const [key, value] of Object.entries(data))
        expect(readFileSync(join(mount, key), "utf8"), `${name}/${key}`).toBe(value);
    }
    log(`ConfigMap volumes hold their data: ${Object.keys(played.configMaps).join(", ")}`);
    const start = await run("podman", ["pod", "start", ...played.pods.map((p) => p.name)]);
    expect(start.code, start.stderr.slice(-4000)).toBe(0);
    log(`podman pod start: ${played.pods.length} pods ${since(t)} after play`);
    log(`emitted objects: ${JSON.stringify(played.emitted)}`);
    const byKind = new Map<string, string[]>();
    for (const n of played.notPlayed) byKind.set(n.kind, [...(byKind.get(n.kind) ?? []), n.name]);
    for (const [kind, names] of byKind) {
      const why = [...new Set(played.notPlayed.filter((n) => n.kind === kind).map((n) => n.why))];
      log(`not played as written: ${kind} ×${names.length} (${names.join(", ")}): ${why.join("; ")}`);
    }
    log(`annotations left out (podman 4.3 limit): ${played.droppedAnnotations.join(", ")}`);
  }, 40 * 60_000);

  afterAll(async () => {
    if (playFile !== undefined) await down();
    dir?.remove();
  }, 10 * 60_000);

  it(
    "kube — every pod of the shop becomes ready by its emitted readinessProbe (liveness restarts as the kubelet's)",
    async () => {
      const t = Date.now();
      const containers = played.pods.flatMap((p) => p.containers);
      expect(containers).toHaveLength(PODS);
      const pending = new Map(containers.map((c) => [c.name, c]));
      // The kubelet's part, which podman does not play without systemd: readiness decides "ready";
      // a liveness probe failing for failureThreshold × periodSeconds restarts the container.
      const failingSince = new Map<string, number>();
      const restarts: string[] = [];
      await until("every container ready", 10 * 60_000, async () => {
        for (const [name, c] of [...pending]) {
          if (c.readinessProbe === undefined || (await probe(name, c.readinessProbe))) {
            pending.delete(name);
            continue;
          }
          const live = c.livenessProbe;
          if (live === undefined || (await probe(name, live))) {
            failingSince.delete(name);
            continue;
          }
          const failing = failingSince.get(name) ?? Date.now();
          failingSince.set(name, failing);
          if (Date.now() - failing >= (live.failureThreshold ?? 3) * (live.periodSeconds ?? 10) * 1000) {
            log(`${name}: liveness probe failing for ${since(failing)}: restarting it`);
            restarts.push(name);
            failingSince.delete(name);
            await run("podman", ["restart", name]);
          }
        }
        return pending.size === 0 ? true : undefined;
      }).catch(async (error) => {
        for (const name of pending.keys()) {
          const logs = await run("podman", ["logs", "--tail", "20", name]);
          log(`${name} not ready:\n${logs.stdout}${logs.stderr}`);
        }
        throw error;
      });
      log(`liveness restarts: ${restarts.length === 0 ? "none" : restarts.join(", ")}`);
      log(`all ${PODS} pods ready ${since(t)} after they started`);
    },
    12 * 60_000,
  );

  it(
    "kube — orders through the generated client spread over the 5 order pods; every saga ends",
    async () => {
      await placeOrdersChecked(placeOrders, ORDERS, log);
      const perPod: Record<string, number> = {};
      for (const p of played.pods.filter((p) => p.from === "Deployment/shop-order")) {
        perPod[p.name] = createOrders(await metrics(container(p.name, "order")));
      }
      log(`CreateOrder per order pod: ${JSON.stringify(perPod)}`);
      expect(Object.keys(perPod)).toHaveLength(5);
      for (const [name, n] of Object.entries(perPod)) expect(n, name).toBeGreaterThan(0);
    },
    6 * 60_000,
  );

  it(
    "kube — killing the coordinator's leader pod: a standby takes over with a higher fencing token",
    async () => {
      const before = await until("a coordinator leader", 60_000, async () => (await lease()) ?? undefined);
      // CATGA_INSTANCE_ID is the pod's name (fieldRef metadata.name), as in Kubernetes.
      expect(before.owner).toMatch(/^shop-coordinator-[0-2]$/);
      log(`leader ${before.owner} with token ${before.token}; podman pod kill ${before.owner}`);
      await failoverChecked({
        before,
        kill: async (owner) => void (await ok("podman", ["pod", "kill", owner])),
        lease,
        placeOrders,
        log,
      });
    },
    6 * 60_000,
  );

  it(
    "kube — podman kube down and the clean-up leave no pod, volume, secret or network of the shop",
    async () => {
      const t = Date.now();
      await ok("podman", ["kube", "down", playFile]);
      await down();
      log(`podman kube down and clean-up in ${since(t)}`);
      const pods = await ok("podman", ["pod", "ps", "--format", "{{.Name}}"]);
      expect(pods.stdout.split("\n").filter((p) => p.startsWith("shop-"))).toEqual([]);
      const volumes = await ok("podman", ["volume", "ls", "--format", "{{.Name}}"]);
      expect(
        volumes.stdout.split("\n").filter((v) => v.startsWith("data-shop-") || configMapVolumes.includes(v)),
      ).toEqual([]);
      const listed = await ok("podman", ["secret", "ls", "--format", "{{.Name}}"]);
      expect(listed.stdout.split("\n").filter((s) => s.startsWith("shop-"))).toEqual([]);
      const networks = await ok("podman", ["network", "ls", "--format", "{{.Name}}"]);
      expect(networks.stdout.split("\n")).not.toContain(NETWORK);
    },
    10 * 60_000,
  );
});
