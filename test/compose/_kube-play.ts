import { parseAllDocuments, stringify } from "yaml";

/**
 * The emitted k8s.yaml, turned into what `podman kube play` (podman 4.3) can run, and an account of
 * every object it could not run as written. Pure: text in, text and a report out.
 *
 * podman kube play runs Pods, Deployments, PersistentVolumeClaims and ConfigMaps. What the emitted
 * file has beyond that, and what this derivation does about it:
 * - StatefulSet: one Pod per replica, named `<name>-<i>` with that hostname (the names Kubernetes
 *   gives them), and one PersistentVolumeClaim per volume claim template (`<claim>-<name>-<i>`).
 * - Service: podman has no cluster DNS. Every Pod gets a static address (`addresses`, passed to
 *   `podman kube play --ip` in order), and `hostAliases` in every Pod map the names a Service gives:
 *   `<svc>` to every Pod it selects, `<hostname>.<svc>` to a StatefulSet's Pod. Load balancing of
 *   a ClusterIP is not emulated (the emitted Services are all headless, so none is needed).
 * - NetworkPolicy, PodDisruptionBudget: not run at all (no policy engine, no evictions).
 * - Secret: the file creates none (the user does, with the kubectl commands in its header); the
 *   test creates them as podman secrets (see `secretUses`).
 * What it changes in the objects it runs, each a podman 4.3 limit, not a change to the manifests:
 * - a secret volume gets `optional: false` (podman 4.3 dereferences a missing `optional`: panic);
 * - an image of `images` is replaced (no registry here: the local base image runs NATS and Redis,
 *   as the compose run's CATGA_NATS_IMAGE and CATGA_REDIS_IMAGE do);
 * - annotations longer than 63 characters are left out (podman 4.3 checks them as label values);
 * - `$(NAME)` in an env value is expanded (Kubernetes does; podman 4.3 passes it on as written);
 * - container ports are not listed (podman 4.3 publishes each on the host, so 24 Pods with the
 *   same ports cannot start), after the probes' named ports are resolved to their numbers; only
 *   `hostPorts` publish a container port on the host (what `kubectl port-forward` is for).
 */

export interface PlayOptions {
  /** First static address; the Pods take consecutive ones in the order of the played file. */
  subnetPrefix: string;
  firstHost: number;
  /** Image replacements, by the emitted image name. */
  images: Record<string, string>;
  /** The Secrets' values (secret → key → value), for `$(NAME)` references in env values. */
  secrets: Record<string, Record<string, string>>;
  /** `<pod>/<containerPort>` → host port, for a StatefulSet's Pods. */
  hostPorts: Record<string, number>;
}

export interface NotPlayed {
  kind: string;
  name: string;
  why: string;
}

export interface PlayablePod {
  name: string;
  address: string;
  /** The object it comes from, `Deployment/shop-order` or `StatefulSet/shop-nats`. */
  from: string;
  /** Its containers: the name podman gives (`<pod>-<container>`) and the probes as played. */
  containers: { name: string; readinessProbe?: Probe; livenessProbe?: Probe }[];
}

/** The parts of a probe the test runs (exec and httpGet are what the emitter writes). */
export interface Probe {
  exec?: { command: string[] };
  httpGet?: { port: number | string; path: string };
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface Playable {
  /** The file to pass to `podman kube play`. */
  yaml: string;
  /** `--ip` values, in order. */
  addresses: string[];
  pods: PlayablePod[];
  notPlayed: NotPlayed[];
  /** How each Secret is used: podman 4.3 reads env secrets and volume secrets in two formats. */
  secretUses: Record<string, "env" | "volume">;
  /** Annotations left out of the played Pods (podman 4.3 refuses values over 63 characters). */
  droppedAnnotations: string[];
  /** Counts of the emitted objects by kind. */
  emitted: Record<string, number>;
  /**
   * The ConfigMaps' data, by name. podman 4.3 writes a ConfigMap into a named volume of the same
   * name, shared by every Pod that mounts it, and rewrites its files (truncate, then write) each time
   * it plays such a Pod; `kube down` leaves the volume. The test plays with `--start=false`, checks
   * the volumes hold this data, then starts the Pods, and removes the volumes when done.
   */
  configMaps: Record<string, Record<string, string>>;
}

// biome-ignore lint/suspicious/noExplicitAny: parsed manifests are walked by their Kubernetes field names
type Obj = Record<string, any>;

const clone = <T>(value: T): T => structuredClone(value);

/** Whether every label of `selector` is on `labels`. */
function selects(selector: Obj | undefined, labels: Obj | undefined): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

export function playable(k8sYaml: string, options: PlayOptions): Playable {
  const objects: Obj[] = parseAllDocuments(k8sYaml)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
  const emitted: Record<string, number> = {};
  for (const o of objects) emitted[o.kind] = (emitted[o.kind] ?? 0) + 1;

  const notPlayed: NotPlayed[] = [];
  const configMaps: Obj[] = [];
  const claims: Obj[] = [];
  // Pods as they will be played, before the addresses and aliases are known: a StatefulSet's
  // first (played as Pods), then a Deployment's (podman makes them in its turn).
  const stsPods: { pod: Obj; from: string; subdomain?: string }[] = [];
  const deploymentPods: typeof stsPods = [];
  const services: Obj[] = [];
  const deployments: Obj[] = [];

  for (const o of objects) {
    const name = o.metadata?.name as string;
    switch (o.kind) {
      case "ConfigMap":
        configMaps.push(o);
        break;
      case "Service":
        services.push(o);
        notPlayed.push({ kind: "Service", name, why: "no cluster DNS: its names are hostAliases" });
        break;
      case "NetworkPolicy":
        notPlayed.push({ kind: o.kind, name, why: "podman has no network policy engine: not enforced" });
        break;
      case "PodDisruptionBudget":
        notPlayed.push({ kind: o.kind, name, why: "podman evicts nothing: not needed" });
        break;
      case "StatefulSet": {
        const replicas = (o.spec.replicas as number | undefined) ?? 1;
        const claimsToo = (o.spec.volumeClaimTemplates ?? []).length > 0 ? " and their claims" : "";
        notPlayed.push({ kind: o.kind, name, why: `played as ${replicas} Pods ${name}-0…${claimsToo}` });
        for (let i = 0; i < replicas; i++) {
          const podName = `${name}-${i}`;
          const template = clone(o.spec.template);
          const spec: Obj = { ...template.spec, hostname: podName, subdomain: o.spec.serviceName };
          spec.volumes = [...(spec.volumes ?? [])];
          for (const claim of o.spec.volumeClaimTemplates ?? []) {
            const claimName = `${claim.metadata.name}-${podName}`;
            // fsGroup makes a claim writable by the pod's group in Kubernetes; a podman volume
            // takes its owner from annotations instead.
            const sc = spec.securityContext ?? {};
            const owner = spec.containers?.[0]?.securityContext?.runAsUser ?? sc.runAsUser;
            claims.push({
              apiVersion: "v1",
              kind: "PersistentVolumeClaim",
              metadata: {
                name: claimName,
                annotations: {
                  ...(owner !== undefined ? { "volume.podman.io/uid": String(owner) } : {}),
                  ...(sc.fsGroup !== undefined ? { "volume.podman.io/gid": String(sc.fsGroup) } : {}),
                },
              },
              spec: claim.spec,
            });
            spec.volumes.push({ name: claim.metadata.name, persistentVolumeClaim: { claimName } });
          }
          stsPods.push({
            pod: {
              apiVersion: "v1",
              kind: "Pod",
              metadata: { ...template.metadata, name: podName },
              spec,
            },
            from: `StatefulSet/${name}`,
            subdomain: o.spec.serviceName,
          });
        }
        break;
      }
      case "Deployment": {
        // Played as a Deployment: podman 4.3 makes one Pod `<name>-pod-<i>` per replica.
        const replicas = (o.spec.replicas as number | undefined) ?? 1;
        const deployment = clone(o);
        deployments.push(deployment);
        for (let i = 0; i < replicas; i++)
          deploymentPods.push({
            pod: {
              metadata: { ...deployment.spec.template.metadata, name: `${name}-pod-${i}` },
              spec: deployment.spec.template.spec,
            },
            from: `Deployment/${name}`,
          });
        break;
      }
      default:
        notPlayed.push({ kind: o.kind, name, why: "kind unknown to this derivation" });
    }
  }

  const pods = [...stsPods, ...deploymentPods];
  // Addresses in play order, then the names every Service would give.
  const addresses = pods.map((_, i) => `${options.subnetPrefix}.${options.firstHost + i}`);
  const names = new Map<string, string[]>();
  const alias = (hostname: string, ip: string) => names.set(hostname, [...(names.get(hostname) ?? []), ip]);
  for (const svc of services) {
    const svcName = svc.metadata.name as string;
    pods.forEach(({ pod, subdomain }, i) => {
      if (!selects(svc.spec?.selector, pod.metadata.labels)) return;
      alias(svcName, addresses[i]!);
      if (subdomain === svcName) alias(`${pod.spec.hostname}.${svcName}`, addresses[i]!);
    });
  }
  const hostAliases = [...names].flatMap(([hostname, ips]) =>
    ips.map((ip) => ({ ip, hostnames: [hostname] })),
  );

  const secretUses: Record<string, "env" | "volume"> = {};
  const dropped = new Set<string>();
  // A Deployment's Pods share its template: each spec is changed once.
  for (const spec of new Set(pods.map(({ pod }) => pod.spec as Obj))) {
    spec.hostAliases = [...(spec.hostAliases ?? []), ...hostAliases];
    for (const volume of spec.volumes ?? [])
      if (volume.secret !== undefined) {
        volume.secret = { optional: false, ...volume.secret };
        secretUses[volume.secret.secretName] = "volume";
      }
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
      if (options.images[c.image] !== undefined) c.image = options.images[c.image];
      // Kubernetes expands `$(NAME)` in a value from the variables before it; podman 4.3 does not.
      const known = new Map<string, string>();
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef as { name: string; key: string } | undefined;
        if (ref !== undefined) {
          secretUses[ref.name] ??= "env";
          const value = options.secrets[ref.name]?.[ref.key];
          if (value !== undefined) known.set(e.name, value);
        } else if (typeof e.value === "string") {
          e.value = e.value.replace(
            /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
            (whole: string, v: string) => known.get(v) ?? whole,
          );
          known.set(e.name, e.value);
        }
      }
    }
  }
  // podman 4.3 holds annotation values to the 63 characters of a label value (Kubernetes allows
  // 256 KiB in all): the checksum annotations (64 hex digits) are left out of the played Pods.
  const annotations = [
    ...stsPods.map((p) => p.pod.metadata),
    ...deployments.map((d) => d.spec.template.metadata),
  ];
  for (const metadata of annotations)
    for (const [key, value] of Object.entries((metadata.annotations ?? {}) as Record<string, string>))
      if (value.length > 63) {
        delete metadata.annotations[key];
        dropped.add(key);
      }
  // podman 4.3 publishes every containerPort on the host (as hostPort when none is given): 24
  // Pods with the same ports cannot all start. Ports are dropped but for the `hostPorts` asked for,
  // after the probes' named ports are resolved to numbers (what the kubelet does with them).
  for (const { pod } of stsPods) resolvePorts(pod.spec, pod.metadata.name, options.hostPorts);
  for (const d of deployments) resolvePorts(d.spec.template.spec, undefined, {});

  const played = [...configMaps, ...claims, ...stsPods.map((p) => p.pod), ...deployments];
  return {
    yaml: played.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"),
    addresses,
    pods: pods.map(({ pod, from }, i) => ({
      name: pod.metadata.name,
      address: addresses[i]!,
      from,
      containers: (pod.spec.containers as Obj[]).map((c) => ({
        name: `${pod.metadata.name}-${c.name}`,
        ...(c.readinessProbe !== undefined ? { readinessProbe: c.readinessProbe } : {}),
        ...(c.livenessProbe !== undefined ? { livenessProbe: c.livenessProbe } : {}),
      })),
    })),
    notPlayed,
    droppedAnnotations: [...dropped].sort(),
    secretUses,
    emitted,
    configMaps: Object.fromEntries(configMaps.map((c) => [c.metadata.name, { ...(c.data ?? {}) }])),
  };
}

/** A Secret the header of k8s.yaml tells the user to create: literal keys, or keys from files. */
export interface HeaderSecret {
  name: string;
  /** `--from-literal=KEY=…`: the keys the user chooses values for. */
  literals: string[];
  /** `--from-file=KEY=FILE`: key → file name (in the folder of `catga certs --for kubernetes`). */
  files: Record<string, string>;
}

/**
 * The `kubectl create secret` commands of k8s.yaml's header, read as the user reads them: the test
 * creates exactly the Secrets the header asks for, with the keys it names.
 */
export function headerSecrets(k8sYaml: string): HeaderSecret[] {
  const secrets: HeaderSecret[] = [];
  for (const line of k8sYaml.split("\n")) {
    if (!line.startsWith("#")) break;
    const create = /kubectl create secret generic (\S+)/.exec(line);
    if (create) secrets.push({ name: create[1]!, literals: [], files: {} });
    const current = secrets.at(-1);
    if (current === undefined) continue;
    for (const m of line.matchAll(/--from-literal=([A-Z0-9_]+)=/g)) current.literals.push(m[1]!);
    for (const m of line.matchAll(/--from-file=([\w.]+)=([\w.]+)/g)) current.files[m[1]!] = m[2]!;
  }
  return secrets;
}

/** Probes' named ports as numbers; only the ports published on purpose are kept. */
function resolvePorts(spec: Obj, pod: string | undefined, hostPorts: Record<string, number>): void {
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const named = new Map<string, number>((c.ports ?? []).map((p: Obj) => [p.name, p.containerPort]));
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
      const action = probe?.httpGet ?? probe?.tcpSocket;
      if (action !== undefined && typeof action.port === "string" && named.has(action.port))
        action.port = named.get(action.port);
    }
    const kept = (c.ports ?? []).flatMap((p: Obj) => {
      const hostPort = pod === undefined ? undefined : hostPorts[`${pod}/${p.containerPort}`];
      return hostPort === undefined ? [] : [{ ...p, hostPort }];
    });
    if (kept.length > 0) c.ports = kept;
    else delete c.ports;
  }
}
