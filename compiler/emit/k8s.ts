/**
 * `k8s.yaml`: the Kubernetes manifests of a topology, synthesized with cdk8s.
 *
 * What is emitted: a ConfigMap with wiring.json; per service a Deployment (p2p) or a StatefulSet with
 * its headless Service (leader mode), and a PodDisruptionBudget; the NATS cluster (unless
 * `nats { url }`); Redis per mode (only when some service uses Redis, unless `redis { url }`), with
 * the emitted ACL users (compiler/emit/_redis-acl.ts) written at start from a Secret, and NATS and
 * Redis on TLS (unless `tls off`) with certificates from `kubernetes.io/tls` Secrets;
 * one NetworkPolicy per workload. Every pod passes the Pod Security Standards "restricted" profile.
 * The NATS passwords live in a Secret the operator creates (the file's header says how): no password
 * is ever written into the manifests.
 *
 * Objects are the typed L1 constructs of cdk8s-plus-33 (`k8s.Kube*`, the Kubernetes 1.33 API), not
 * its L2 classes: those add selector labels carrying construct-path hashes and defaults of their own
 * (resource limits, security contexts); the hardening here is explicit and tested instead.
 * Every object gets an explicit name, so cdk8s never generates one.
 *
 * Pure: the cdk8s app is built in memory, synthesized with `chart.toJson()` and rendered to the bytes
 * of cdk8s's own YAML writer (`Yaml.stringify`: the yaml package, YAML 1.1, no line folding) by the
 * fast block writer of `_yaml.ts`; nothing touches the file system, the clock or the environment
 * (keys are sorted here, so cdk8s's `CDK8S_DISABLE_SORT` cannot change the output).
 */
import { createHash } from "node:crypto";
import { ApiObject, App, Chart } from "cdk8s";
import { k8s } from "cdk8s-plus-33";
import type { Construct } from "constructs";
import { type ServiceModel, serviceUsesRedis, type TopologyModel } from "../model.js";
import { type EmitOptions, type EmittedFile, generatedHeader } from "./_files.js";
import {
  defaultServiceImage,
  dnsLabel,
  ENV,
  healthPort,
  NATS_CLUSTER_PASSWORD_VAR,
  NATS_IMAGE,
  NATS_JS_LIMIT_VARS,
  NATS_JS_LIMITS,
  NATS_PORTS,
  NATS_SERVER_NAME_VAR,
  NATS_STORE_DIR,
  NATS_VOLUME_SIZE,
  natsPasswordVar,
  natsRouteUrl,
  natsRouteVar,
  natsUser,
  objectName,
  REDIS_ADMIN_USER,
  REDIS_IMAGE,
  REDIS_PORTS,
  REDIS_SENTINEL_CLIENT_USER,
  redisBuiltInPasswordVar,
  redisMaster,
  redisPasswordVar,
  redisUser,
  stopGraceSeconds,
} from "./_names.js";
import {
  allRedisAclUsers,
  passwordReference,
  REDIS_AUTH_CONF,
  redisAuthScript,
  redisServerPasswordVars,
  sentinelAuthLines,
  sentinelPasswordVars,
} from "./_redis-acl.js";
import {
  type CertificateNames,
  LOCAL_NAMES,
  NATS_CERT_DIR,
  NATS_TLS_CONF,
  natsTls,
  REDIS_CERT_DIR,
  redisCliTls,
  redisTls,
  redisTlsArgs,
  SERVICE_CERT_DIR,
  SERVICE_REDIS_CERT_DIR,
  sentinelTlsLines,
  TLS_ENV,
  TLS_FILES,
} from "./_tls.js";
import { BlockYamlWriter } from "./_yaml.js";
import { builtInUsers, durableEvents, natsServerConf, natsTlsConf } from "./nats.js";

/** Options of {@link emitK8s}. */
export interface K8sEmitOptions extends EmitOptions {
  /**
   * The content of `wiring.json` (from `emitWiring`), put verbatim into the wiring ConfigMap. Passed
   * in rather than rebuilt so the manifests carry exactly the file the build wrote.
   */
  wiringJson: string;
  /**
   * Namespace written into every object's `metadata.namespace`.
   * @default none: objects land in the namespace kubectl uses (`kubectl apply -n NS`)
   */
  namespace?: string;
  /**
   * Requests of the infrastructure pods, per kind; the memory request is also the memory limit.
   * Services take theirs from `resources` in the topology ({@link SERVICE_RESOURCES} otherwise).
   * @default {@link INFRA_RESOURCES}
   */
  infraResources?: Partial<Record<InfraKind, Resources>>;
  /**
   * CIDRs of the cluster's nodes, the only sources allowed to the health and NATS monitor ports
   * (kubelet probes, scraping from the host network). NetworkPolicy cannot name the kubelet, and
   * node addresses are not known at build time.
   * @default none: those ports accept every source (they serve health, readiness and metrics only)
   */
  nodeCidrs?: string[];
  /**
   * A cert-manager issuer for the servers' certificates: a `Certificate` is emitted for NATS (when
   * NATS TLS is on) and one for Redis (when emitted Redis takes TLS), each filling the Secret its
   * servers mount, for every name they are reached by. The issuer must be CA-based (its Secrets
   * carry `ca.crt`, which the services trust).
   * @default none: create the `kubernetes.io/tls` Secret yourself (docs/build.md, TLS)
   */
  certManagerIssuer?: { name: string; kind?: "Issuer" | "ClusterIssuer" };
}

/** CPU and memory of a container, Kubernetes quantities as written (`"100m"`, `"256Mi"`). */
export interface Resources {
  cpu: string;
  memory: string;
}

/** The infrastructure workloads whose resources {@link K8sEmitOptions.infraResources} overrides. */
export type InfraKind = "nats" | "redis" | "sentinel" | "clusterInit";

/**
 * Default requests of infrastructure pods. NATS's memory covers the JetStream memory store limit
 * (`NATS_JS_LIMITS.memory`, 256M) plus the server itself.
 */
export const INFRA_RESOURCES: Readonly<Record<InfraKind, Resources>> = {
  nats: { cpu: "100m", memory: "512Mi" },
  redis: { cpu: "100m", memory: "256Mi" },
  sentinel: { cpu: "50m", memory: "64Mi" },
  clusterInit: { cpu: "50m", memory: "64Mi" },
};

/** Requests of a service pod for what its `resources` does not say. */
export const SERVICE_RESOURCES: Readonly<Resources> = { cpu: "100m", memory: "256Mi" };

/** User and group the containers run as (numeric: `runAsNonRoot` cannot check a user name). */
interface Identity {
  uid: number;
  gid: number;
}
/** `node` in node:20-slim, the emitted Dockerfile's `USER node`. */
const SERVICE_IDENTITY: Identity = { uid: 1000, gid: 1000 };
/** The nats image has no user of its own; nats-server needs no privilege (ports above 1024). */
const NATS_IDENTITY: Identity = { uid: 1000, gid: 1000 };
/** `redis` (999) and its group (1000) in the redis alpine image, owners of its files. */
const REDIS_IDENTITY: Identity = { uid: 999, gid: 1000 };
/** Where every container gets a small writable emptyDir (the root file system is read-only). */
const TMP_DIR = "/tmp";

/** Where the wiring ConfigMap is mounted in service containers. */
const WIRING_DIR = "/etc/catga";
/** Where the nats.conf ConfigMap is mounted in NATS containers. */
const NATS_CONF_DIR = "/etc/nats";
/** Data directory of Redis servers (the image's working directory), on a persistent volume. */
const REDIS_DATA_DIR = "/data";
/** Size of each Redis server's volume: leases, fencing counters and saga state are small. */
const REDIS_VOLUME_SIZE = "1Gi";
/** Sentinels per sentinel-mode deployment: three, so a majority (two) survives one loss. */
const SENTINELS = 3;
/** Port name of the services' health endpoint (named ports read better in probes). */
const HEALTH_PORT_NAME = "health";

/** Pod template annotations whose value changes when a mounted config changes, so pods roll. */
const WIRING_CHECKSUM = "catgac/wiring-sha256";
const NATS_CONF_CHECKSUM = "catgac/nats-conf-sha256";

/** `app.kubernetes.io/component` of each kind of workload. */
type Component = "service" | "nats" | "redis" | "redis-sentinel" | "redis-cluster-init" | "wiring";

/**
 * The manifests of a topology as `k8s.yaml`.
 *
 * @throws only on a compiler bug (see `natsPermissions`); never on a checked model.
 */
export function emitK8s(model: TopologyModel, options: K8sEmitOptions): EmittedFile[] {
  const ctx = new Context(model, options);
  const app = new App({ outdir: ".", recordConstructMetadata: false });
  const chart = new Chart(
    app,
    "catga",
    options.namespace === undefined ? {} : { namespace: options.namespace },
  );

  wiringConfigMap(chart, ctx, options.wiringJson);
  if (model.nats.url === undefined) nats(chart, ctx);
  if (natsTls(model) && options.certManagerIssuer !== undefined)
    natsCertificate(chart, ctx, options.certManagerIssuer);
  if (ctx.emitsRedis) {
    if (model.redis.mode === "standalone") redisStandalone(chart, ctx);
    else if (model.redis.mode === "sentinel") redisSentinel(chart, ctx);
    else redisCluster(chart, ctx);
    if (ctx.redisTls && options.certManagerIssuer !== undefined)
      redisCertificate(chart, ctx, options.certManagerIssuer);
  }
  for (const service of model.services) catgaService(chart, ctx, service);
  networkPolicies(chart, ctx);

  // chart.toJson() is what app.synthYaml() renders; sorting here instead of relying on cdk8s's
  // default keeps the bytes independent of CDK8S_DISABLE_SORT in the environment.
  const docs = (chart.toJson() as Record<string, unknown>[]).map(canonical);
  // What cdk8s's Yaml.stringify(...docs) writes (same yaml options, documents joined by `---`),
  // without building the yaml package's node tree for every object.
  const yaml = new BlockYamlWriter({ version: "1.1", keepUndefined: true });
  return [{ path: "k8s.yaml", content: `${header(ctx, options)}${yaml.documents(docs)}` }];
}

/**
 * What the server certificates must list in the Kubernetes deployment (`catga certs --for
 * kubernetes`): the names the header asks for, plus localhost and 127.0.0.1 (probes inside a pod,
 * `kubectl port-forward`), as the cert-manager Certificates list them.
 */
export function k8sCertificateNames(model: TopologyModel): CertificateNames {
  const ctx = new Context(model, { sourceName: "", wiringJson: "" });
  const out: CertificateNames = {};
  if (natsTls(model) && model.nats.url === undefined) out.nats = [...ctx.natsCertNames(), ...LOCAL_NAMES];
  if (ctx.redisTls) out.redis = [...ctx.redisCertNames(), ...LOCAL_NAMES];
  return out;
}

/** Names and derived values every builder needs, computed once. */
class Context {
  readonly topology: string;
  /** Some service uses Redis (leader mode or `uses redis`). */
  readonly needsRedis: boolean;
  /** Redis servers are emitted (Redis needed and no `redis { url }`). */
  readonly emitsRedis: boolean;
  /** The emitted Redis servers and sentinels take TLS (emitted, and not `redis { tls off }`). */
  readonly redisTls: boolean;
  /** The Secret holding every NATS password (created by the operator, never emitted). */
  readonly natsSecret: string;
  /** The Secret holding every Redis ACL user's password (created by the operator, never emitted). */
  readonly redisSecret: string;
  readonly wiringConfigMap: string;
  readonly nats: string;
  readonly natsClient: string;
  readonly natsConfig: string;
  /** The `kubernetes.io/tls` Secret of the NATS servers' certificate (with `ca.crt`), when TLS is on. */
  readonly natsTlsSecret: string;
  /** The `kubernetes.io/tls` Secret of the Redis servers' and sentinels' certificate (with `ca.crt`). */
  readonly redisTlsSecret: string;
  readonly redis: string;
  readonly sentinel: string;
  readonly clusterInit: string;
  /** Object names of the services (unique, and distinct from every infrastructure name). */
  readonly serviceNames = new Map<string, string>();
  /**
   * SHA-256 of wiring.json, annotated on every service's pod template. Hashed once: the wiring grows
   * with the topology, so hashing it per service made the emitter quadratic.
   */
  readonly wiringChecksum: string;

  constructor(
    readonly model: TopologyModel,
    readonly options: K8sEmitOptions,
  ) {
    const t = model.name;
    this.topology = dnsLabel(t);
    this.needsRedis = model.services.some(serviceUsesRedis);
    this.emitsRedis = this.needsRedis && model.redis.url === undefined;
    this.redisTls = this.emitsRedis && redisTls(model);
    this.redisSecret = objectName(t, "redis-users");
    this.wiringChecksum = sha256(options.wiringJson);
    this.natsSecret = objectName(t, "nats-users");
    this.wiringConfigMap = objectName(t, "wiring");
    // StatefulSet names stay within 52 characters: the controller-revision-hash label of their
    // pods is the name plus an 11-character suffix and must fit in 63.
    this.nats = dnsLabel(objectName(t, "nats"), 52);
    this.natsClient = objectName(t, "nats-client");
    this.natsConfig = objectName(t, "nats-config");
    this.natsTlsSecret = objectName(t, "nats-tls");
    this.redisTlsSecret = objectName(t, "redis-tls");
    this.redis = dnsLabel(objectName(t, "redis"), 52);
    this.sentinel = dnsLabel(objectName(t, "redis-sentinel"), 52);
    this.clusterInit = objectName(t, "redis-cluster-init");
    // A service called `nats` or `redis` must not take the name of an infrastructure object of the
    // same kind; services are never addressed by their object names, so they give way.
    const taken = new Set([
      this.nats,
      this.natsClient,
      this.natsConfig,
      this.redis,
      this.sentinel,
      this.clusterInit,
      this.wiringConfigMap,
    ]);
    for (const s of model.services) {
      const base = dnsLabel(objectName(t, s.name), 52);
      let name = base;
      for (let i = 2; taken.has(name); i++) name = dnsLabel(`${base}-${i}`, 52);
      taken.add(name);
      this.serviceNames.set(s.name, name);
    }
  }

  /** Pod DNS name `<sts>-<i>.<headless service>`, resolvable from any pod of the namespace. */
  podHost(statefulSet: string, index: number): string {
    return `${statefulSet}-${index}.${statefulSet}`;
  }

  /** `nats://…:4222` of every emitted NATS server, or the external URLs as written. */
  natsUrls(): string {
    if (this.model.nats.url !== undefined) return this.model.nats.url;
    return range(this.model.nats.nodes)
      .map((i) => `nats://${this.podHost(this.nats, i)}:${NATS_PORTS.client}`)
      .join(",");
  }

  /**
   * Every NATS user that logs in: the services' users (plus the built-in users on emitted NATS:
   * client, ops, and admin with a durable event).
   */
  natsUsers(): string[] {
    const users = this.model.services.map((s) => natsUser(s.name));
    if (this.model.nats.url === undefined) users.push(...builtInUsers(this.model));
    return [...new Set(users)].sort();
  }

  /** The DNS names the NATS certificate must list: every server's pod name and the client Service. */
  natsCertNames(): string[] {
    return [...range(this.model.nats.nodes).map((i) => this.podHost(this.nats, i)), this.natsClient];
  }

  /**
   * The DNS names the Redis certificate must list: every data node's pod name (clients, replicas,
   * Cluster redirects and sentinels reach them by it) and, in Sentinel mode, every sentinel's.
   */
  redisCertNames(): string[] {
    const { mode, nodes } = this.model.redis;
    return [
      ...range(mode === "standalone" ? 1 : nodes).map((i) => this.podHost(this.redis, i)),
      ...(mode === "sentinel" ? range(SENTINELS).map((i) => this.podHost(this.sentinel, i)) : []),
    ];
  }

  /** The keys of the Redis Secret, sorted (empty when no Redis is emitted). */
  redisSecretKeys(): string[] {
    if (!this.emitsRedis) return [];
    return allRedisAclUsers(this.model)
      .map((u) => u.passwordVar)
      .sort();
  }

  /** The keys of the NATS Secret, sorted. */
  secretKeys(): string[] {
    const keys = this.natsUsers().map(natsPasswordVar);
    if (this.model.nats.url === undefined && this.model.nats.nodes > 1) keys.push(NATS_CLUSTER_PASSWORD_VAR);
    return keys.sort();
  }
}

/** The comment block opening k8s.yaml: what it is and the Secret to create first. */
function header(ctx: Context, options: K8sEmitOptions): string {
  const ns = options.namespace === undefined ? "" : ` -n ${options.namespace}`;
  const redisKeys = ctx.redisSecretKeys();
  const lines = [
    generatedHeader(options.sourceName, "#"),
    `# Kubernetes manifests of topology ${ctx.model.name}. Create the ${redisKeys.length > 0 ? "Secrets with the NATS and Redis" : "Secret with the NATS"} passwords`,
    "# first (letters and digits, starting with a letter; never commit them), then apply this file:",
    "#   pw() { printf 'p%s' \"$(openssl rand -hex 20)\"; }",
    `#   kubectl create secret generic ${ctx.natsSecret}${ns} \\`,
    ...ctx
      .secretKeys()
      .map((key, i, all) => `#     --from-literal=${key}="$(pw)"${i < all.length - 1 ? " \\" : ""}`),
  ];
  if (redisKeys.length > 0) {
    // The Redis pods write their ACL file from this Secret at start; each service logs in as its own user.
    lines.push(
      `#   kubectl create secret generic ${ctx.redisSecret}${ns} \\`,
      ...redisKeys.map(
        (key, i, all) => `#     --from-literal=${key}="$(pw)"${i < all.length - 1 ? " \\" : ""}`,
      ),
    );
  }
  lines.push(`#   kubectl apply${ns} -f k8s.yaml`);
  if (ctx.model.nats.url !== undefined) {
    lines.push("# NATS is external: the passwords must be those of its users of the same names.");
  }
  if (natsTls(ctx.model)) {
    lines.push(...tlsSecretLines("NATS", "nats", ctx.natsTlsSecret, ctx.natsCertNames(), ns, options));
  }
  if (ctx.redisTls) {
    // Probes and the cluster init reach the servers on 127.0.0.1; the other names are the pods'.
    const names = [...ctx.redisCertNames(), ...LOCAL_NAMES];
    lines.push(...tlsSecretLines("Redis", "redis", ctx.redisTlsSecret, names, ns, options));
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The header lines telling how a server's TLS Secret gets filled: by cert-manager's issuer, or by the
 * user with `kubectl create secret` from `<file>.crt`, `<file>.key` and `ca.crt`.
 */
function tlsSecretLines(
  server: string,
  file: string,
  secret: string,
  names: readonly string[],
  ns: string,
  options: K8sEmitOptions,
): string[] {
  if (options.certManagerIssuer !== undefined)
    return [
      `# ${server} takes TLS: cert-manager's issuer ${options.certManagerIssuer.name} fills the Secret ${secret}.`,
    ];
  return [
    `# ${server} takes TLS: create the Secret ${secret} first, a certificate for ${names.join(", ")}:`,
    `#   kubectl create secret generic ${secret}${ns} --type=kubernetes.io/tls \\`,
    `#     --from-file=tls.crt=${file}.crt --from-file=tls.key=${file}.key --from-file=ca.crt=ca.crt`,
  ];
}

/** The standard labels of an object. `name` is the workload's object name, unique in the topology. */
function labels(ctx: Context, name: string, component: Component): Record<string, string> {
  return {
    ...selector(ctx, name, component),
    "app.kubernetes.io/managed-by": "catgac",
    "app.kubernetes.io/part-of": ctx.topology,
  };
}

/** The labels a workload's selector, Service and PodDisruptionBudget match its pods by. */
function selector(ctx: Context, name: string, component: Component): Record<string, string> {
  return {
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/instance": ctx.topology,
    "app.kubernetes.io/name": name,
  };
}

function meta(ctx: Context, name: string, component: Component): k8s.ObjectMeta {
  return { name, labels: labels(ctx, name, component) };
}

// ---------------------------------------------------------------------------------------------
// Wiring and services

function wiringConfigMap(scope: Construct, ctx: Context, wiringJson: string): void {
  new k8s.KubeConfigMap(scope, "wiring", {
    metadata: meta(ctx, ctx.wiringConfigMap, "wiring"),
    data: { "wiring.json": wiringJson },
  });
}

/**
 * One Catga service: a Deployment in p2p mode (replicas are interchangeable), a StatefulSet with a
 * headless Service in leader mode (stable pod names make lease owners and logs readable, and the
 * headless Service gives each instance a DNS name), and a PodDisruptionBudget either way.
 */
function catgaService(scope: Construct, ctx: Context, service: ServiceModel): void {
  const name = ctx.serviceNames.get(service.name)!;
  const sel = selector(ctx, name, "service");
  const template: k8s.PodTemplateSpec = {
    metadata: {
      labels: labels(ctx, name, "service"),
      annotations: { [WIRING_CHECKSUM]: ctx.wiringChecksum },
    },
    spec: hardened(
      {
        enableServiceLinks: false,
        // Above the drain grace, or the kubelet kills a draining leader (a crash failover).
        terminationGracePeriodSeconds: stopGraceSeconds(service),
        containers: [serviceContainer(ctx, service)],
        volumes: [
          { name: "wiring", configMap: { name: ctx.wiringConfigMap } },
          // Only the CA of the NATS servers' Secret: never their key.
          ...(natsTls(ctx.model)
            ? [
                {
                  name: "tls-ca",
                  secret: {
                    secretName: ctx.natsTlsSecret,
                    items: [{ key: TLS_FILES.ca, path: TLS_FILES.ca }],
                  },
                },
              ]
            : []),
          // Likewise only the CA of the Redis servers' Secret, for the services that use Redis.
          ...(serviceRedisTls(ctx, service) ? [caVolume(REDIS_CA_VOLUME, ctx.redisTlsSecret)] : []),
        ],
      },
      SERVICE_IDENTITY,
    ),
  };
  const id = `service-${name}`;
  if (service.mode === "p2p") {
    new k8s.KubeDeployment(scope, id, {
      metadata: meta(ctx, name, "service"),
      spec: { replicas: service.replicas, selector: { matchLabels: sel }, template },
    });
  } else {
    headlessService(scope, `${id}-headless`, ctx, name, "service", [
      { name: HEALTH_PORT_NAME, port: healthPort(service) },
    ]);
    new k8s.KubeStatefulSet(scope, id, {
      metadata: meta(ctx, name, "service"),
      spec: {
        replicas: service.replicas,
        serviceName: name,
        // Instances are alike (the lease, not the ordinal, picks the leader): start them together.
        podManagementPolicy: "Parallel",
        selector: { matchLabels: sel },
        template,
      },
    });
  }
  disruptionBudget(scope, `${id}-pdb`, ctx, name, "service");
}

/** The container of a service: `catga run`, its environment, health port and probes. */
function serviceContainer(ctx: Context, service: ServiceModel): k8s.Container {
  const image = service.image ?? defaultServiceImage(ctx.model.name);
  const port = healthPort(service);
  const container: k8s.Container = {
    name: dnsLabel(service.name),
    image,
    // `command`, not `args`: the runtime entry is the same whatever the image's entrypoint is.
    command: ["catga", "run", "--wiring", `${WIRING_DIR}/wiring.json`, "--service", service.name],
    env: serviceEnv(ctx, service),
    ports: [{ name: HEALTH_PORT_NAME, containerPort: port }],
    livenessProbe: httpProbe("/healthz", HEALTH_PORT_NAME, 10),
    readinessProbe: httpProbe("/readyz", HEALTH_PORT_NAME, 5),
    volumeMounts: [
      { name: "wiring", mountPath: WIRING_DIR, readOnly: true },
      ...(natsTls(ctx.model) ? [{ name: "tls-ca", mountPath: SERVICE_CERT_DIR, readOnly: true }] : []),
      ...(serviceRedisTls(ctx, service)
        ? [{ name: REDIS_CA_VOLUME, mountPath: SERVICE_REDIS_CERT_DIR, readOnly: true }]
        : []),
    ],
  };
  // The default image is built locally from the emitted Dockerfile and tagged :latest, which
  // Kubernetes would otherwise always try to pull from a registry.
  const withPolicy =
    service.image === undefined ? { ...container, imagePullPolicy: "IfNotPresent" } : container;
  return {
    ...withPolicy,
    resources: requirements({
      cpu: service.resources?.cpu ?? SERVICE_RESOURCES.cpu,
      memory: service.resources?.memory ?? SERVICE_RESOURCES.memory,
    }),
  };
}

/**
 * The environment of a service's container, sorted by name: what `catga run` reads (NATS, Redis
 * when the topology has it, identity, health port), then the service's declared `env`. A declared
 * variable overrides a plain value but never the Secret-backed password or the pod-name instance id.
 */
function serviceEnv(ctx: Context, service: ServiceModel): k8s.EnvVar[] {
  const user = natsUser(service.name);
  const env = new Map<string, k8s.EnvVar>();
  const plain = (name: string, value: string) => env.set(name, { name, value });
  plain(ENV.topology, ctx.model.name);
  plain(ENV.service, service.name);
  plain(ENV.healthPort, String(healthPort(service)));
  plain(ENV.natsUrls, ctx.natsUrls());
  plain(ENV.natsUser, user);
  // Only services that use Redis (leader mode or `uses redis`) get it, with a user of their own.
  const usesRedis = serviceUsesRedis(service);
  if (usesRedis) for (const [k, v] of redisEnv(ctx)) plain(k, v);
  if (usesRedis && ctx.emitsRedis) {
    plain(ENV.redisUser, redisUser(service.name));
    if (ctx.model.redis.mode === "sentinel") plain(ENV.redisSentinelUser, REDIS_SENTINEL_CLIENT_USER);
  }
  if (natsTls(ctx.model)) plain(TLS_ENV.natsCa, `${SERVICE_CERT_DIR}/${TLS_FILES.ca}`);
  if (serviceRedisTls(ctx, service)) plain(TLS_ENV.redisCa, `${SERVICE_REDIS_CERT_DIR}/${TLS_FILES.ca}`);
  for (const [k, v] of Object.entries(service.env)) plain(k, v);
  env.set(ENV.instanceId, { name: ENV.instanceId, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } });
  env.set(ENV.natsPassword, secretEnv(ctx, ENV.natsPassword, natsPasswordVar(user)));
  if (usesRedis && ctx.emitsRedis) {
    env.set(ENV.redisPassword, redisSecretEnv(ctx, ENV.redisPassword, redisPasswordVar(service.name)));
    if (ctx.model.redis.mode === "sentinel") {
      const key = redisBuiltInPasswordVar(REDIS_SENTINEL_CLIENT_USER);
      env.set(ENV.redisSentinelPassword, redisSecretEnv(ctx, ENV.redisSentinelPassword, key));
    }
  }
  return [...env.values()].sort((a, b) => compare(a.name, b.name));
}

/** The volume of a service's Redis CA (only `ca.crt` of the Redis TLS Secret). */
const REDIS_CA_VOLUME = "redis-tls-ca";

/** Whether a service trusts the emitted Redis's CA: it uses Redis, and emitted Redis takes TLS. */
function serviceRedisTls(ctx: Context, service: ServiceModel): boolean {
  return ctx.redisTls && serviceUsesRedis(service);
}

/** A volume holding only the `ca.crt` key of a `kubernetes.io/tls` Secret: never its key. */
function caVolume(name: string, secretName: string): k8s.Volume {
  return { name, secret: { secretName, items: [{ key: TLS_FILES.ca, path: TLS_FILES.ca }] } };
}

/** How services reach Redis, per mode: the emitted servers, or the external URLs. */
function redisEnv(ctx: Context): [string, string][] {
  const { mode, url } = ctx.model.redis;
  const out: [string, string][] = [[ENV.redisMode, mode]];
  const master = (): [string, string] => [ENV.redisMaster, redisMaster(ctx.model)];
  if (url !== undefined) {
    const urls = url.split(",").map((u) => u.trim());
    if (urls.some((u) => u.startsWith("rediss://"))) out.push([ENV.redisTls, "true"]);
    if (mode === "standalone") out.push([ENV.redisUrl, url]);
    else if (mode === "sentinel")
      out.push([ENV.redisSentinels, hostPorts(urls, REDIS_PORTS.sentinel)], master());
    else out.push([ENV.redisClusterNodes, hostPorts(urls, REDIS_PORTS.server)]);
    return out;
  }
  if (mode === "standalone") {
    const scheme = ctx.redisTls ? "rediss" : "redis";
    out.push([ENV.redisUrl, `${scheme}://${ctx.podHost(ctx.redis, 0)}:${REDIS_PORTS.server}`]);
  } else if (mode === "sentinel") {
    const sentinels = range(SENTINELS).map((i) => `${ctx.podHost(ctx.sentinel, i)}:${REDIS_PORTS.sentinel}`);
    out.push([ENV.redisSentinels, sentinels.join(",")], master());
  } else {
    const nodes = range(ctx.model.redis.nodes).map(
      (i) => `${ctx.podHost(ctx.redis, i)}:${REDIS_PORTS.server}`,
    );
    out.push([ENV.redisClusterNodes, nodes.join(",")]);
  }
  return out;
}

/** `host:port` of each URL (`redis://a:6380` → `a:6380`), the default port when none is given. */
function hostPorts(urls: string[], defaultPort: number): string {
  return urls
    .map((u) => {
      // The checker accepted only redis:// and rediss:// URLs; URL parses both.
      const parsed = new URL(u);
      return `${parsed.hostname}:${parsed.port === "" ? defaultPort : parsed.port}`;
    })
    .join(",");
}

// ---------------------------------------------------------------------------------------------
// NATS

/**
 * The NATS cluster: nats.conf in a ConfigMap (routes to every pod by DNS name), a StatefulSet of
 * `nats.nodes` servers behind a headless Service (stable names for routes and clients), and a
 * ClusterIP Service for applications that use the generated client. With a durable event the
 * servers run JetStream, each on its own volume claim (`data`, mounted at the store directory);
 * without one NATS stays stateless and the StatefulSet has no claim, as before.
 */
function nats(scope: Construct, ctx: Context): void {
  const { model } = ctx;
  const routeHosts = model.nats.nodes > 1 ? range(model.nats.nodes).map((i) => ctx.podHost(ctx.nats, i)) : [];
  const routes = routeHosts.map((host) => `nats://${host}:${NATS_PORTS.cluster}`);
  const conf = natsServerConf(model, { sourceName: ctx.options.sourceName, routes });
  const tls = natsTls(model);
  const tlsConf = tls ? natsTlsConf(model, { sourceName: ctx.options.sourceName, routes }) : "";
  new k8s.KubeConfigMap(scope, "nats-config", {
    metadata: meta(ctx, ctx.natsConfig, "nats"),
    data: { "nats.conf": conf, ...(tls ? { [NATS_TLS_CONF]: tlsConf } : {}) },
  });
  const ports = [
    { name: "client", port: NATS_PORTS.client },
    { name: "cluster", port: NATS_PORTS.cluster },
    { name: "monitor", port: NATS_PORTS.monitor },
  ];
  headlessService(scope, "nats-headless", ctx, ctx.nats, "nats", ports);
  new k8s.KubeService(scope, "nats-client", {
    metadata: meta(ctx, ctx.natsClient, "nats"),
    spec: {
      selector: selector(ctx, ctx.nats, "nats"),
      ports: [{ name: "client", port: NATS_PORTS.client, targetPort: k8s.IntOrString.fromString("client") }],
    },
  });
  const secrets: k8s.EnvVar[] = [
    { name: NATS_SERVER_NAME_VAR, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    ...ctx.secretKeys().map((key) => secretEnv(ctx, key, key)),
  ].sort((a, b) => compare(a.name, b.name));
  // Each route URL carries the route password: the kubelet substitutes `$(VAR)` from a variable
  // defined earlier in the list, so the route variables come after the Secret-backed ones and the
  // password is never written here.
  const routeEnv: k8s.EnvVar[] = routeHosts.map((host, i) => ({
    name: natsRouteVar(i),
    value: natsRouteUrl(host, `$(${NATS_CLUSTER_PASSWORD_VAR})`),
  }));
  // JetStream (a durable event): limits from the environment, as nats.conf reads them; edit them
  // here, keeping the file limit below the claim.
  const jetStream = durableEvents(model).length > 0;
  const limits: k8s.EnvVar[] = jetStream
    ? [
        { name: NATS_JS_LIMIT_VARS.file, value: NATS_JS_LIMITS.file },
        { name: NATS_JS_LIMIT_VARS.memory, value: NATS_JS_LIMITS.memory },
      ]
    : [];
  const env = [...[...secrets, ...limits].sort((a, b) => compare(a.name, b.name)), ...routeEnv];
  const volumeMounts: k8s.VolumeMount[] = [{ name: "config", mountPath: NATS_CONF_DIR, readOnly: true }];
  if (jetStream) volumeMounts.push({ name: "data", mountPath: NATS_STORE_DIR });
  if (tls) volumeMounts.push({ name: "tls", mountPath: NATS_CERT_DIR, readOnly: true });
  new k8s.KubeStatefulSet(scope, "nats", {
    metadata: meta(ctx, ctx.nats, "nats"),
    spec: {
      replicas: model.nats.nodes,
      serviceName: ctx.nats,
      // Routes form a full mesh and retry until peers resolve: no need to start one by one.
      podManagementPolicy: "Parallel",
      selector: { matchLabels: selector(ctx, ctx.nats, "nats") },
      template: {
        metadata: {
          labels: labels(ctx, ctx.nats, "nats"),
          annotations: { [NATS_CONF_CHECKSUM]: sha256(conf + tlsConf) },
        },
        spec: hardened(
          {
            enableServiceLinks: false,
            containers: [
              {
                name: "nats",
                resources: requirements(infraResources(ctx, "nats")),
                image: NATS_IMAGE,
                command: ["nats-server", "--config", `${NATS_CONF_DIR}/${tls ? NATS_TLS_CONF : "nats.conf"}`],
                env,
                ports: ports.map((p) => ({ name: p.name, containerPort: p.port })),
                livenessProbe: httpProbe("/healthz", "monitor", 10),
                readinessProbe: httpProbe("/healthz", "monitor", 5),
                volumeMounts,
              },
            ],
            volumes: [
              { name: "config", configMap: { name: ctx.natsConfig } },
              ...(tls ? [{ name: "tls", secret: { secretName: ctx.natsTlsSecret } }] : []),
            ],
          },
          NATS_IDENTITY,
        ),
      },
      // The JetStream store of each pod (`data-<nats>-<i>`): it survives the pod, and the claim
      // template cannot change on a live StatefulSet (see docs/build.md, Kubernetes).
      ...(jetStream
        ? {
            volumeClaimTemplates: [
              {
                metadata: { name: "data" },
                spec: {
                  accessModes: ["ReadWriteOnce"],
                  resources: { requests: { storage: k8s.Quantity.fromString(NATS_VOLUME_SIZE) } },
                },
              },
            ],
          }
        : {}),
    },
  });
  disruptionBudget(scope, "nats-pdb", ctx, ctx.nats, "nats");
}

/**
 * The cert-manager `Certificate` of the NATS servers: fills {@link Context.natsTlsSecret} with a
 * certificate for every name clients and routes use (each pod, the client Service) and the CA.
 */
function natsCertificate(
  scope: Construct,
  ctx: Context,
  issuer: NonNullable<K8sEmitOptions["certManagerIssuer"]>,
): void {
  const dnsNames = [...ctx.natsCertNames(), ...LOCAL_NAMES.filter((n) => n === "localhost")];
  new ApiObject(scope, "nats-certificate", {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: meta(ctx, ctx.natsTlsSecret, "nats"),
    spec: {
      secretName: ctx.natsTlsSecret,
      commonName: ctx.podHost(ctx.nats, 0),
      dnsNames,
      ipAddresses: ["127.0.0.1"],
      usages: ["server auth", "client auth"],
      issuerRef: { name: issuer.name, kind: issuer.kind ?? "Issuer", group: "cert-manager.io" },
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Redis

/**
 * The cert-manager `Certificate` of the Redis servers and sentinels: fills
 * {@link Context.redisTlsSecret} with a certificate for every pod name (see
 * {@link Context.redisCertNames}), localhost and 127.0.0.1 (probes), and the CA.
 */
function redisCertificate(
  scope: Construct,
  ctx: Context,
  issuer: NonNullable<K8sEmitOptions["certManagerIssuer"]>,
): void {
  new ApiObject(scope, "redis-certificate", {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: meta(ctx, ctx.redisTlsSecret, "redis"),
    spec: {
      secretName: ctx.redisTlsSecret,
      commonName: ctx.podHost(ctx.redis, 0),
      dnsNames: [...ctx.redisCertNames(), ...LOCAL_NAMES.filter((n) => n === "localhost")],
      ipAddresses: ["127.0.0.1"],
      usages: ["server auth", "client auth"],
      issuerRef: { name: issuer.name, kind: issuer.kind ?? "Issuer", group: "cert-manager.io" },
    },
  });
}

/**
 * Arguments every emitted Redis server starts with; on TLS, the plain port closed and the TLS
 * port on 6379, replication (and the Cluster bus) over TLS ({@link redisTlsArgs}).
 */
function redisServerArgs(ctx: Context): string[] {
  // Protected mode refuses remote clients when no password is set; access is limited to the
  // cluster network instead. Append-only persistence on a volume: fencing tokens must never go
  // back after a restart, or a stale leader's writes would be accepted again.
  return [
    "--protected-mode",
    "no",
    "--appendonly",
    "yes",
    "--dir",
    REDIS_DATA_DIR,
    ...(ctx.redisTls ? redisTlsArgs(ctx.model.redis.mode) : []),
  ];
}

/**
 * `redis-cli` logged in as the admin user (its password in REDISCLI_AUTH, from the Secret), over
 * TLS with the CA mounted in {@link REDIS_CERT_DIR} when Redis takes TLS.
 */
function redisCli(ctx: Context): string[] {
  return ["redis-cli", "--user", REDIS_ADMIN_USER, ...(ctx.redisTls ? redisCliTls() : [])];
}

/** The certificate volume of Redis servers and sentinels: the whole Redis TLS Secret. */
function redisTlsVolume(ctx: Context): { volumes: k8s.Volume[]; volumeMounts: k8s.VolumeMount[] } {
  if (!ctx.redisTls) return { volumes: [], volumeMounts: [] };
  return {
    volumes: [{ name: "tls", secret: { secretName: ctx.redisTlsSecret } }],
    volumeMounts: [{ name: "tls", mountPath: REDIS_CERT_DIR, readOnly: true }],
  };
}

/**
 * The start of every data node's script: write the emitted ACL file and the auth config (aclfile,
 * replication user and password) from the Secret-backed environment; then redis-server starts
 * with {@link REDIS_AUTH_CONF} as its config file.
 */
function redisAuthLines(ctx: Context): string[] {
  return [redisAuthScript(ctx.model)];
}

/** The Secret-backed environment of the data nodes: every data-node user's password, and REDISCLI_AUTH. */
function redisServerEnv(ctx: Context): k8s.EnvVar[] {
  return [
    ...redisServerPasswordVars(ctx.model).map((key) => redisSecretEnv(ctx, key, key)),
    redisSecretEnv(ctx, "REDISCLI_AUTH", redisBuiltInPasswordVar(REDIS_ADMIN_USER)),
  ];
}

/** Standalone: one server in a StatefulSet of one, on its own volume. */
function redisStandalone(scope: Construct, ctx: Context): void {
  headlessService(scope, "redis-headless", ctx, ctx.redis, "redis", [
    { name: "redis", port: REDIS_PORTS.server },
  ]);
  const script = [
    "set -e",
    ...redisAuthLines(ctx),
    `exec redis-server ${REDIS_AUTH_CONF} ${redisServerArgs(ctx).join(" ")}`,
  ].join("\n");
  redisStatefulSet(scope, ctx, 1, ["sh", "-c", script], redisServerEnv(ctx));
  disruptionBudget(scope, "redis-pdb", ctx, ctx.redis, "redis");
}

/**
 * Sentinel: `redis.nodes` servers (pod 0 starts as primary, the others as its replicas) and three
 * sentinels watching them. A restarting server or sentinel first asks the sentinels who the primary
 * is now, so a pod 0 that lost its role in a failover comes back as a replica, not a second primary.
 * Everything is announced by DNS name (`resolve-hostnames`, `announce-hostnames`): pod IPs change.
 */
function redisSentinel(scope: Construct, ctx: Context): void {
  const master = redisMaster(ctx.model);
  const primary0 = ctx.podHost(ctx.redis, 0);
  const sentinelHosts = range(SENTINELS).map((i) => ctx.podHost(ctx.sentinel, i));
  // Prints the primary's host as the sentinels know it, or pod 0 when none answers yet.
  const findPrimary = [
    `primary="${primary0}"`,
    `for s in ${sentinelHosts.join(" ")}; do`,
    `  found="$(timeout 3 ${redisCli(ctx).join(" ")} -h "$s" -p ${REDIS_PORTS.sentinel} --raw sentinel get-master-addr-by-name ${master} 2>/dev/null | head -n 1 || true)"`,
    `  case "$found" in *.${ctx.redis}) primary="$found"; break ;; esac`,
    "done",
  ];
  const serverScript = [
    "set -e",
    `self="\${HOSTNAME}.${ctx.redis}"`,
    ...redisAuthLines(ctx),
    ...findPrimary,
    `set -- redis-server ${REDIS_AUTH_CONF} ${redisServerArgs(ctx).join(" ")} --replica-announce-ip "$self"`,
    `if [ "$primary" != "$self" ]; then set -- "$@" --replicaof "$primary" ${REDIS_PORTS.server}; fi`,
    'exec "$@"',
  ].join("\n");
  headlessService(scope, "redis-headless", ctx, ctx.redis, "redis", [
    { name: "redis", port: REDIS_PORTS.server },
  ]);
  redisStatefulSet(scope, ctx, ctx.model.redis.nodes, ["sh", "-c", serverScript], redisServerEnv(ctx));
  disruptionBudget(scope, "redis-pdb", ctx, ctx.redis, "redis");

  const quorum = Math.floor(SENTINELS / 2) + 1;
  const sentinelScript = [
    "set -e",
    `self="\${HOSTNAME}.${ctx.sentinel}"`,
    ...findPrimary,
    // Sentinel refuses a monitor whose host does not resolve yet.
    `until ${redisCli(ctx).join(" ")} -h "$primary" -p ${REDIS_PORTS.server} ping 2>/dev/null | grep -q PONG; do echo "waiting for $primary"; sleep 2; done`,
    "cat > /tmp/sentinel.conf <<EOF",
    // On TLS: the plain port closed, the TLS port and certificates (one `port` line only).
    ...(ctx.redisTls ? sentinelTlsLines() : [`port ${REDIS_PORTS.sentinel}`]),
    "sentinel resolve-hostnames yes",
    "sentinel announce-hostnames yes",
    "sentinel announce-ip $self",
    `sentinel monitor ${master} $primary ${REDIS_PORTS.server} ${quorum}`,
    // The sentinels' own users (default off) and the users they log in to the servers and to each
    // other as; each $VAR is expanded by the heredoc from the Secret-backed environment.
    ...sentinelAuthLines(ctx.model, master, passwordReference),
    `sentinel down-after-milliseconds ${master} 5000`,
    `sentinel failover-timeout ${master} 60000`,
    `sentinel parallel-syncs ${master} 1`,
    "EOF",
    "exec redis-sentinel /tmp/sentinel.conf",
  ].join("\n");
  headlessService(scope, "sentinel-headless", ctx, ctx.sentinel, "redis-sentinel", [
    { name: "sentinel", port: REDIS_PORTS.sentinel },
  ]);
  const ping = [...redisCli(ctx), "-p", String(REDIS_PORTS.sentinel), "ping"];
  const tls = redisTlsVolume(ctx);
  const sentinelEnv = [
    ...sentinelPasswordVars(ctx.model).map((key) => redisSecretEnv(ctx, key, key)),
    redisSecretEnv(ctx, "REDISCLI_AUTH", redisBuiltInPasswordVar(REDIS_ADMIN_USER)),
  ];
  new k8s.KubeStatefulSet(scope, "sentinel", {
    metadata: meta(ctx, ctx.sentinel, "redis-sentinel"),
    spec: {
      replicas: SENTINELS,
      serviceName: ctx.sentinel,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: selector(ctx, ctx.sentinel, "redis-sentinel") },
      template: {
        metadata: { labels: labels(ctx, ctx.sentinel, "redis-sentinel") },
        spec: hardened(
          {
            enableServiceLinks: false,
            containers: [
              {
                name: "sentinel",
                resources: requirements(infraResources(ctx, "sentinel")),
                image: REDIS_IMAGE,
                command: ["sh", "-c", sentinelScript],
                env: sentinelEnv,
                ports: [{ name: "sentinel", containerPort: REDIS_PORTS.sentinel }],
                livenessProbe: execProbe(ping, 10),
                readinessProbe: execProbe(ping, 5),
                ...(tls.volumeMounts.length > 0 ? { volumeMounts: tls.volumeMounts } : {}),
              },
            ],
            ...(tls.volumes.length > 0 ? { volumes: tls.volumes } : {}),
          },
          REDIS_IDENTITY,
        ),
      },
    },
  });
  disruptionBudget(scope, "sentinel-pdb", ctx, ctx.sentinel, "redis-sentinel");
}

/**
 * Cluster: `redis.nodes` servers with cluster mode on, announcing their DNS names, and a Job that
 * waits for all of them and runs `redis-cli --cluster create` once (it does nothing when the
 * cluster already knows more than one node, so re-running it is harmless).
 */
function redisCluster(scope: Construct, ctx: Context): void {
  const nodes = range(ctx.model.redis.nodes).map((i) => ctx.podHost(ctx.redis, i));
  headlessService(scope, "redis-headless", ctx, ctx.redis, "redis", [
    { name: "redis", port: REDIS_PORTS.server },
    { name: "bus", port: REDIS_PORTS.server + 10000 },
  ]);
  const args = [
    ...redisServerArgs(ctx),
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    `${REDIS_DATA_DIR}/nodes.conf`,
    "--cluster-node-timeout",
    "5000",
    // Clients follow MOVED replies to DNS names, which survive pod restarts; IPs do not.
    "--cluster-announce-hostname",
    `$(POD_NAME).${ctx.redis}`,
    "--cluster-preferred-endpoint-type",
    "hostname",
  ];
  const command = [
    "sh",
    "-c",
    ["set -e", ...redisAuthLines(ctx), `exec redis-server ${REDIS_AUTH_CONF} ${args.join(" ")}`].join("\n"),
  ];
  redisStatefulSet(scope, ctx, ctx.model.redis.nodes, command, [
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    ...redisServerEnv(ctx),
  ]);
  disruptionBudget(scope, "redis-pdb", ctx, ctx.redis, "redis");

  const first = nodes[0]!;
  const list = nodes.map((n) => `${n}:${REDIS_PORTS.server}`).join(" ");
  const script = [
    "set -e",
    `for host in ${nodes.join(" ")}; do`,
    `  until ${redisCli(ctx).join(" ")} -h "$host" -p ${REDIS_PORTS.server} ping 2>/dev/null | grep -q PONG; do echo "waiting for $host"; sleep 2; done`,
    "done",
    `known="$(${redisCli(ctx).join(" ")} -h ${first} -p ${REDIS_PORTS.server} cluster info | tr -d '\\r' | sed -n 's/^cluster_known_nodes://p')"`,
    'if [ "$known" != "1" ]; then echo "cluster already formed ($known nodes)"; exit 0; fi',
    `${redisCli(ctx).join(" ")} --cluster create ${list} --cluster-replicas 1 --cluster-yes`,
  ].join("\n");
  new k8s.KubeJob(scope, "redis-cluster-init", {
    metadata: meta(ctx, ctx.clusterInit, "redis-cluster-init"),
    spec: {
      backoffLimit: 10,
      template: {
        metadata: { labels: labels(ctx, ctx.clusterInit, "redis-cluster-init") },
        spec: hardened(
          {
            enableServiceLinks: false,
            restartPolicy: "OnFailure",
            containers: [
              {
                name: "cluster-init",
                image: REDIS_IMAGE,
                command: ["sh", "-c", script],
                env: [redisSecretEnv(ctx, "REDISCLI_AUTH", redisBuiltInPasswordVar(REDIS_ADMIN_USER))],
                resources: requirements(infraResources(ctx, "clusterInit")),
                // A client only: the CA of the Redis Secret, never its key.
                ...(ctx.redisTls
                  ? { volumeMounts: [{ name: "tls-ca", mountPath: REDIS_CERT_DIR, readOnly: true }] }
                  : {}),
              },
            ],
            ...(ctx.redisTls ? { volumes: [caVolume("tls-ca", ctx.redisTlsSecret)] } : {}),
          },
          REDIS_IDENTITY,
        ),
      },
    },
  });
}

/** The StatefulSet of Redis servers, each with its own persistent volume. */
function redisStatefulSet(
  scope: Construct,
  ctx: Context,
  replicas: number,
  command: string[],
  env: k8s.EnvVar[],
): void {
  const ping = [...redisCli(ctx), "-p", String(REDIS_PORTS.server), "ping"];
  const tls = redisTlsVolume(ctx);
  const container: k8s.Container = {
    name: "redis",
    image: REDIS_IMAGE,
    command,
    ports: [
      { name: "redis", containerPort: REDIS_PORTS.server },
      ...(ctx.model.redis.mode === "cluster"
        ? [{ name: "bus", containerPort: REDIS_PORTS.server + 10000 }]
        : []),
    ],
    livenessProbe: execProbe(ping, 10),
    readinessProbe: execProbe(ping, 5),
    volumeMounts: [{ name: "data", mountPath: REDIS_DATA_DIR }, ...tls.volumeMounts],
    resources: requirements(infraResources(ctx, "redis")),
  };
  new k8s.KubeStatefulSet(scope, "redis", {
    metadata: meta(ctx, ctx.redis, "redis"),
    spec: {
      replicas,
      serviceName: ctx.redis,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: selector(ctx, ctx.redis, "redis") },
      template: {
        metadata: { labels: labels(ctx, ctx.redis, "redis") },
        spec: hardened(
          {
            enableServiceLinks: false,
            containers: [env.length > 0 ? { ...container, env } : container],
            ...(tls.volumes.length > 0 ? { volumes: tls.volumes } : {}),
          },
          REDIS_IDENTITY,
        ),
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            resources: { requests: { storage: k8s.Quantity.fromString(REDIS_VOLUME_SIZE) } },
          },
        },
      ],
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Network policies

/**
 * The label an application pod carries to reach NATS's client port with the generated client
 * (value: the topology's DNS label). Everything else reaching NATS is one of the topology's pods.
 */
export const NATS_CLIENT_LABEL = "catgac/nats-client";

/** One allowed connection: peers (undefined: any source or destination) and TCP ports. */
interface Flow {
  peers?: k8s.NetworkPolicyPeer[];
  ports: number[];
}

/**
 * One NetworkPolicy per emitted workload, named as the workload, isolating its pods in both
 * directions and allowing only what the topology needs (policies add up, so an operator widens one
 * with a policy of their own): services reach NATS, and Redis-using services (leader mode or `uses redis`) Redis (and the
 * sentinels); NATS accepts clients from the services and from pods labelled
 * {@link NATS_CLIENT_LABEL}, routes from NATS; Redis and sentinels accept the Redis-using services and
 * each other (replication, failover, cluster bus). Every pod may resolve names (port 53, any
 * destination: cluster DNS is not selectable the same way in every cluster, and node-local caches
 * are not pods). The health and NATS monitor ports accept {@link K8sEmitOptions.nodeCidrs}, or any
 * source without them: the kubelet that probes them is not a pod. `kubectl port-forward` enters the
 * pod's own network namespace and is not subject to these rules.
 */
function networkPolicies(scope: Construct, ctx: Context): void {
  const { model } = ctx;
  const emitsNats = model.nats.url === undefined;
  const emitsRedis = ctx.emitsRedis;
  const mode = model.redis.mode;
  const pods = (name: string, component: Component): k8s.NetworkPolicyPeer => ({
    podSelector: { matchLabels: selector(ctx, name, component) },
  });
  const natsPods = pods(ctx.nats, "nats");
  const redisPods = pods(ctx.redis, "redis");
  const sentinelPods = pods(ctx.sentinel, "redis-sentinel");
  const initPods = pods(ctx.clusterInit, "redis-cluster-init");
  const servicePods = {
    podSelector: {
      matchLabels: { "app.kubernetes.io/component": "service", "app.kubernetes.io/instance": ctx.topology },
    },
  };
  // The services that reach Redis: leader mode or `uses redis`.
  const leaders = model.services
    .filter(serviceUsesRedis)
    .map((s) => pods(ctx.serviceNames.get(s.name)!, "service"));
  const probes: k8s.NetworkPolicyPeer[] | undefined = ctx.options.nodeCidrs?.map((cidr) => ({
    ipBlock: { cidr },
  }));
  const bus = REDIS_PORTS.server + 10000;

  // What services reach: NATS, and Redis for leader-mode services.
  const toNats: Flow = emitsNats
    ? { peers: [natsPods], ports: [NATS_PORTS.client] }
    : { ports: urlPorts(model.nats.url!, NATS_PORTS.client) };
  const toRedis: Flow[] = [];
  if (emitsRedis) {
    toRedis.push({ peers: [redisPods], ports: [REDIS_PORTS.server] });
    if (mode === "sentinel") toRedis.push({ peers: [sentinelPods], ports: [REDIS_PORTS.sentinel] });
  } else if (ctx.needsRedis) {
    const port = mode === "sentinel" ? REDIS_PORTS.sentinel : REDIS_PORTS.server;
    // Sentinels hand out the primary's address, whose port the URLs do not say.
    const ports = urlPorts(model.redis.url!, port);
    toRedis.push({
      ports: mode === "sentinel" ? [...new Set([...ports, REDIS_PORTS.server])].sort((a, b) => a - b) : ports,
    });
  }
  for (const service of model.services) {
    const name = ctx.serviceNames.get(service.name)!;
    policy(scope, ctx, name, "service", {
      ingress: [{ peers: probes, ports: [healthPort(service)] }],
      egress: [toNats, ...(serviceUsesRedis(service) ? toRedis : [])],
    });
  }
  if (emitsNats) {
    const clients = [servicePods, { podSelector: { matchLabels: { [NATS_CLIENT_LABEL]: ctx.topology } } }];
    policy(scope, ctx, ctx.nats, "nats", {
      ingress: [
        { peers: clients, ports: [NATS_PORTS.client] },
        ...(model.nats.nodes > 1 ? [{ peers: [natsPods], ports: [NATS_PORTS.cluster] }] : []),
        { peers: probes, ports: [NATS_PORTS.monitor] },
      ],
      egress: model.nats.nodes > 1 ? [{ peers: [natsPods], ports: [NATS_PORTS.cluster] }] : [],
    });
  }
  if (!emitsRedis) return;
  if (mode === "standalone") {
    policy(scope, ctx, ctx.redis, "redis", {
      ingress: leaders.length > 0 ? [{ peers: leaders, ports: [REDIS_PORTS.server] }] : [],
      egress: [],
    });
  } else if (mode === "sentinel") {
    // Servers ask the sentinels who the primary is and replicate from it; sentinels watch the
    // servers and talk to each other.
    policy(scope, ctx, ctx.redis, "redis", {
      ingress: [{ peers: [...leaders, redisPods, sentinelPods], ports: [REDIS_PORTS.server] }],
      egress: [
        { peers: [redisPods], ports: [REDIS_PORTS.server] },
        { peers: [sentinelPods], ports: [REDIS_PORTS.sentinel] },
      ],
    });
    policy(scope, ctx, ctx.sentinel, "redis-sentinel", {
      ingress: [{ peers: [...leaders, redisPods, sentinelPods], ports: [REDIS_PORTS.sentinel] }],
      egress: [
        { peers: [redisPods], ports: [REDIS_PORTS.server] },
        { peers: [sentinelPods], ports: [REDIS_PORTS.sentinel] },
      ],
    });
  } else {
    policy(scope, ctx, ctx.redis, "redis", {
      ingress: [
        { peers: [...leaders, redisPods, initPods], ports: [REDIS_PORTS.server] },
        { peers: [redisPods], ports: [bus] },
      ],
      egress: [{ peers: [redisPods], ports: [REDIS_PORTS.server, bus] }],
    });
    policy(scope, ctx, ctx.clusterInit, "redis-cluster-init", {
      ingress: [],
      egress: [{ peers: [redisPods], ports: [REDIS_PORTS.server] }],
    });
  }
}

/** The NetworkPolicy of one workload: its ingress and egress flows, plus DNS. */
function policy(
  scope: Construct,
  ctx: Context,
  name: string,
  component: Component,
  flows: { ingress: Flow[]; egress: Flow[] },
): void {
  const tcp = (ports: number[]): k8s.NetworkPolicyPort[] =>
    ports.map((port) => ({ protocol: "TCP", port: k8s.IntOrString.fromNumber(port) }));
  const dns: k8s.NetworkPolicyEgressRule = {
    ports: ["UDP", "TCP"].map((protocol) => ({ protocol, port: k8s.IntOrString.fromNumber(53) })),
  };
  new k8s.KubeNetworkPolicy(scope, `netpol-${component}-${name}`, {
    metadata: meta(ctx, name, component),
    spec: {
      podSelector: { matchLabels: selector(ctx, name, component) },
      policyTypes: ["Ingress", "Egress"],
      ingress: flows.ingress.map((f) => ({ ...(f.peers ? { from: f.peers } : {}), ports: tcp(f.ports) })),
      egress: [
        ...flows.egress.map((f) => ({ ...(f.peers ? { to: f.peers } : {}), ports: tcp(f.ports) })),
        dns,
      ],
    },
  });
}

/** The ports of a comma-separated URL list, sorted, `fallback` where a URL names none. */
function urlPorts(urls: string, fallback: number): number[] {
  const ports = urls.split(",").map((u) => {
    try {
      const port = new URL(u.trim()).port;
      return port === "" ? fallback : Number(port);
    } catch {
      return fallback;
    }
  });
  return [...new Set(ports)].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/**
 * A headless Service giving each pod of a StatefulSet the DNS name `<pod>.<service>`. Not-ready
 * pods are published too: peers (NATS routes, Redis replicas, sentinels) must find each other
 * before any of them is ready.
 */
function headlessService(
  scope: Construct,
  id: string,
  ctx: Context,
  name: string,
  component: Component,
  ports: { name: string; port: number }[],
): void {
  new k8s.KubeService(scope, id, {
    metadata: meta(ctx, name, component),
    spec: {
      clusterIp: "None",
      publishNotReadyAddresses: true,
      selector: selector(ctx, name, component),
      ports: ports.map((p) => ({
        name: p.name,
        port: p.port,
        targetPort: k8s.IntOrString.fromString(p.name),
      })),
    },
  });
}

/**
 * `maxUnavailable: 1` for every workload, p2p or leader: voluntary disruptions (node drains) take
 * one pod at a time, so a p2p service keeps all but one replica and a leader-mode service keeps a
 * standby to take over. `maxUnavailable` rather than `minAvailable: replicas - 1` follows later
 * scaling, and with a single replica it lets a drain proceed instead of blocking it forever.
 * Crash-looping pods may always be evicted, so a broken pod never blocks a drain.
 */
function disruptionBudget(
  scope: Construct,
  id: string,
  ctx: Context,
  name: string,
  component: Component,
): void {
  new k8s.KubePodDisruptionBudget(scope, id, {
    metadata: meta(ctx, name, component),
    spec: {
      maxUnavailable: k8s.IntOrString.fromNumber(1),
      selector: { matchLabels: selector(ctx, name, component) },
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  });
}

/**
 * A pod spec made to pass the Pod Security Standards "restricted" profile (test/unit/emit-k8s.test.ts
 * checks every emitted template): a fixed non-root user, RuntimeDefault seccomp, no service-account
 * token (nothing here talks to the API server), and in every container no privilege escalation, no
 * capability and a read-only root file system with an emptyDir on /tmp (the sentinels write their
 * config there, tsx its compile cache; state lives on volume claims). `fsGroup` makes the claims
 * writable by that user.
 */
function hardened(spec: k8s.PodSpec, id: Identity): k8s.PodSpec {
  return {
    ...spec,
    automountServiceAccountToken: false,
    securityContext: {
      fsGroup: id.gid,
      runAsGroup: id.gid,
      runAsNonRoot: true,
      runAsUser: id.uid,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: spec.containers.map((c) => ({
      ...c,
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
      },
      volumeMounts: [...(c.volumeMounts ?? []), { name: "tmp", mountPath: TMP_DIR }],
    })),
    volumes: [
      ...(spec.volumes ?? []),
      { name: "tmp", emptyDir: { sizeLimit: k8s.Quantity.fromString("64Mi") } },
    ],
  };
}

/**
 * Requests as given, and the memory request as the limit too: a leak is stopped at the container
 * instead of starving its node. No CPU limit: throttling would delay lease renewals and heartbeats,
 * turning load into failovers; the request already guarantees the share.
 */
function requirements(r: Resources): k8s.ResourceRequirements {
  return {
    requests: { cpu: k8s.Quantity.fromString(r.cpu), memory: k8s.Quantity.fromString(r.memory) },
    limits: { memory: k8s.Quantity.fromString(r.memory) },
  };
}

function infraResources(ctx: Context, kind: InfraKind): Resources {
  return { ...INFRA_RESOURCES[kind], ...ctx.options.infraResources?.[kind] };
}

function httpProbe(path: string, port: string, periodSeconds: number): k8s.Probe {
  return { httpGet: { path, port: k8s.IntOrString.fromString(port) }, periodSeconds, failureThreshold: 3 };
}

function execProbe(command: string[], periodSeconds: number): k8s.Probe {
  return { exec: { command }, periodSeconds, failureThreshold: 3, timeoutSeconds: 3 };
}

/** An env var read from the Redis Secret: never a literal password. */
function redisSecretEnv(ctx: Context, name: string, key: string): k8s.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: ctx.redisSecret, key } } };
}

/** An env var read from the NATS Secret: never a literal password. */
function secretEnv(ctx: Context, name: string, key: string): k8s.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: ctx.natsSecret, key } } };
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The keys cdk8s writes first in every object, in this order. */
const HEAD_KEYS = ["apiVersion", "kind", "metadata"];

/**
 * Keys sorted at every level, with `apiVersion`, `kind` and `metadata` first: cdk8s's own layout,
 * made independent of its environment switch. Array order is kept (it is meaningful).
 */
function canonical(doc: Record<string, unknown>): Record<string, unknown> {
  // cdk8s has normally sorted the keys already (unless CDK8S_DISABLE_SORT is set): then the
  // document is used as it is, instead of being copied with every key list sorted again.
  if (isCanonical(doc)) return doc;
  const sorted = sortKeys(doc) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of [...HEAD_KEYS, ...Object.keys(sorted)]) {
    if (key in sorted && !(key in out)) out[key] = sorted[key];
  }
  return out;
}

/**
 * Whether `canonical` would return an equal document: the keys already in its order at every
 * level, and no object met twice (the copy would have written it twice instead of once shared).
 */
function isCanonical(doc: Record<string, unknown>): boolean {
  if (!isPlainObject(doc)) return false;
  const keys = Object.keys(doc);
  let first = 0;
  for (const head of HEAD_KEYS) {
    if (!(head in doc)) continue;
    if (keys[first] !== head) return false;
    first++;
  }
  for (let i = first; i < keys.length; i++) {
    if (HEAD_KEYS.includes(keys[i]!) || (i > first && !(keys[i - 1]! < keys[i]!))) return false;
  }
  const seen = new Set<object>([doc]);
  return keys.every((key) => isSorted(doc[key], seen));
}

/** Whether every object inside `value` has its keys in ascending order, each object met once. */
function isSorted(value: unknown, seen: Set<object>): boolean {
  if (value === null || typeof value !== "object") return true;
  if (seen.has(value)) return false;
  seen.add(value);
  if (Array.isArray(value)) {
    for (const item of value) if (!isSorted(item, seen)) return false;
    return true;
  }
  if (!isPlainObject(value)) return false;
  let previous: string | undefined;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return false;
    if (previous !== undefined && !(previous < key)) return false;
    if (!isSorted((value as Record<string, unknown>)[key], seen)) return false;
    previous = key;
  }
  return true;
}

/** An object the copy would not change the kind of. */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}
