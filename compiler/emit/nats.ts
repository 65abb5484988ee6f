/**
 * The NATS server configuration of a topology: one user per service plus `client` and `ops`, each
 * with publish/subscribe allow-lists derived from the declared call graph (least privilege), and
 * passwords referenced as environment variables, never written. One file serves every node of the
 * cluster: the server name and every secret come from the node's environment.
 *
 * Pure: a model in, text out. JetStream is enabled only when the topology has a durable event, and
 * then each user gets the exact `$JS.API` subjects of its own streams and consumers, never
 * `$JS.API.>` (which subject each operation needs was measured on nats-server 2.9 with
 * `@nats-io/jetstream` 3.3: docs/build.md, "JetStream subjects"). The system account is not used.
 */
import type { MessageModel, SagaModel, ServiceModel, TopologyModel } from "../model.js";
import {
  type DurableConsumption,
  durableConsumptions,
  sagaTriggerConsumer,
  subscriptionConsumer,
} from "./_durable.js";
import { type EmitOptions, type EmittedFile, generatedHeader } from "./_files.js";
import {
  ADMIN_USER,
  CLIENT_USER,
  controlPrefix,
  deadLetterStream,
  eventStream,
  heartbeatSubject,
  inboxPrefix,
  leaderSubject,
  messageSubject,
  NATS_CLUSTER_PASSWORD_VAR,
  NATS_CLUSTER_USER,
  NATS_JS_LIMIT_VARS,
  NATS_PORTS,
  NATS_SERVER_NAME_VAR,
  NATS_STORE_DIR,
  natsComposeHost,
  natsPasswordVar,
  natsRouteVar,
  natsUser,
  OPS_USER,
} from "./_names.js";
import { NATS_CERT_DIR, NATS_TLS_CONF, natsTls, natsTlsBlock, TLS_FILES } from "./_tls.js";

/** What one NATS user may do. Subject lists are sorted and free of duplicates. */
export interface NatsUserPermissions {
  /** Subjects the user may publish to (besides replies, see `allowResponses`). */
  publish: string[];
  /**
   * Subjects the user may not publish to even though `publish` allows them: present only when
   * needed (a broadcast consumer of a durable event may create and pull its own ephemeral consumers,
   * whose names are random, but never another service's durable consumer of the same stream).
   */
  publishDeny?: string[];
  /** Subjects the user may subscribe to, plainly or in a queue group. */
  subscribe: string[];
  /**
   * May publish one reply to the reply subject of each request it received (`allow_responses`):
   * set for users that answer commands or queries, whose callers' inboxes are not known in advance.
   */
  allowResponses: boolean;
}

/** Options of {@link natsServerConf}. */
export interface NatsServerConfOptions {
  /** The topology file's base name, for the header. */
  sourceName: string;
  /**
   * Route URLs of every server of the cluster, without credentials (`nats://nats-0:6222`, …). A
   * node listing itself is fine: nats-server drops the route to itself. Empty: a single server, no
   * `cluster` block. The config reads route i from `$CATGA_NATS_ROUTE_<i>` ({@link natsRouteVar}),
   * which must hold this URL with the route credentials (`natsRouteUrl` in _names.ts); the URLs given
   * here appear in the config's comments, saying what each variable holds.
   */
  routes: string[];
  /**
   * Ports the server listens on. Manifests keep the defaults (containers and pods have their own
   * network); tests running several servers on one host give free ports. The cluster port must be
   * set here rather than with nats-server's `--cluster` flag, which drops the cluster's
   * authorization when its URL carries no credentials.
   * @default NATS_PORTS (4222, 6222, 8222)
   */
  ports?: { client?: number; cluster?: number; monitor?: number };
  /**
   * The JetStream store directory (`jetstream { store_dir }`), when the topology has a durable
   * event. Manifests keep the default, where they mount a volume; tests give a temporary folder
   * (nats-server refuses `-sd` on top of a config that sets it).
   * @default NATS_STORE_DIR ("/data")
   */
  storeDir?: string;
}

/** The JetStream API prefix; Catga uses no JetStream domain, so the default. */
const JS_API = "$JS.API";

/** The durable events of a topology, in declaration order. */
export function durableEvents(model: TopologyModel): MessageModel[] {
  return model.messages.filter((m) => m.kind === "event" && m.durable !== undefined);
}

/** The subjects that create a stream or bring it to the declared settings (ensureStream). */
function ensureStreamSubjects(stream: string): string[] {
  return [
    `${JS_API}.STREAM.INFO.${stream}`,
    `${JS_API}.STREAM.CREATE.${stream}`,
    `${JS_API}.STREAM.UPDATE.${stream}`,
  ];
}

/**
 * The permissions of every NATS user of a topology, keyed by user name (sorted).
 *
 * A service user may:
 * - subscribe to the commands and queries it handles, the events it consumes (and the trigger events
 *   of the sagas it runs), its own leader subject in leader mode (standbys wait there for the
 *   leader's release) and its own reply inbox;
 * - publish the events it emits, the commands and queries it sends, the step and compensation
 *   commands of the sagas it runs, its heartbeat, and its leader subject in leader mode;
 * - answer requests (`allowResponses`) only when it handles something.
 *
 * `client` publishes every command and query and subscribes to every event and its inbox; `ops`
 * subscribes to the control subjects (heartbeats, leader announcements) and its inbox and publishes
 * nothing.
 *
 * @throws Error when a service is named like a built-in user (`client`, `ops`, `admin`): merging the two
 *   would silently widen one of them.
 */
export function natsPermissions(model: TopologyModel): Record<string, NatsUserPermissions> {
  const topology = model.name;
  const messages = new Map(model.messages.map((m) => [m.name, m]));
  const subject = (name: string): string => {
    const message = messages.get(name);
    // The checker resolves every name; an unknown one here is a compiler bug, not user input.
    if (message === undefined) throw new Error(`NATS permissions: unknown message ${name} in ${topology}`);
    return messageSubject(topology, message);
  };
  const sagas = new Map(model.sagas.map((s) => [s.name, s]));
  const durable = durableEvents(model);
  const isDurable = (event: string): boolean => messages.get(event)?.durable !== undefined;
  const reserved = builtInUsers(model);
  // Every durable consumer the wiring names, from the same function the wiring emitter uses.
  const consumptions = durableConsumptions(model);
  const consumersOfStream = new Map<string, string[]>();
  const consumptionsOf = new Map<string, DurableConsumption[]>();
  for (const c of consumptions) {
    consumptionsOf.set(c.service, [...(consumptionsOf.get(c.service) ?? []), c]);
    if (c.consumer === undefined) continue;
    consumersOfStream.set(c.stream, sortedSet([...(consumersOfStream.get(c.stream) ?? []), c.consumer]));
  }
  const out: Record<string, NatsUserPermissions> = {};

  for (const service of model.services) {
    const user = serviceUser(service, reserved);
    const publish: string[] = [heartbeatSubject(topology, service.name)];
    const publishDeny: string[] = [];
    const subscribe: string[] = [`${inboxPrefix(topology, user)}.>`];
    for (const handler of service.handles) subscribe.push(subject(handler.message));
    for (const event of service.emits) {
      publish.push(subject(event));
      // Every instance that emits a durable event ensures its stream before its first publish; the
      // publish itself is a plain publish with a reply inbox (the stream's acknowledgement).
      if (isDurable(event)) publish.push(...ensureStreamSubjects(eventStream(topology, event)));
    }
    // A plain event arrives through a core subscription: the `on` events and the event triggers of
    // the sagas the service runs. A durable one arrives through JetStream pulls (replies to the
    // service's own inbox), never a core subscription: its subject itself is not granted.
    const plainEvents = [...service.subscriptions.map((sub) => sub.event)];
    for (const sagaName of service.runs) {
      const saga = sagas.get(sagaName);
      if (saga === undefined) throw new Error(`NATS permissions: unknown saga ${sagaName} in ${topology}`);
      if (saga.trigger.kind === "event") plainEvents.push(saga.trigger.name);
    }
    for (const event of plainEvents) if (!isDurable(event)) subscribe.push(subject(event));
    const mine = consumptionsOf.get(service.name) ?? [];
    const own = new Set(mine.flatMap((c) => (c.consumer === undefined ? [] : [c.consumer])));
    for (const c of mine) {
      publish.push(
        ...ensureStreamSubjects(c.stream),
        ...ensureStreamSubjects(deadLetterStream(topology)),
        c.deadLetterSubject,
      );
      if (c.consumer !== undefined) {
        publish.push(...durableConsumerSubjects(c.stream, c.consumer, c.subject));
        continue;
      }
      // An ordered consumer names itself `<random prefix>_<n>` and recreates itself under a new
      // name after a gap, so its names cannot be listed; NATS wildcards match whole tokens only.
      // Allow any name on this stream, and deny every durable consumer of it that is not its own
      // (other services' `on` consumers and sagas' trigger consumers).
      publish.push(
        `${JS_API}.CONSUMER.CREATE.${c.stream}.*.${c.subject}`,
        `${JS_API}.CONSUMER.INFO.${c.stream}.*`,
        `${JS_API}.CONSUMER.DELETE.${c.stream}.*`,
        `${JS_API}.CONSUMER.MSG.NEXT.${c.stream}.*`,
      );
      for (const other of consumersOfStream.get(c.stream) ?? []) {
        if (own.has(other)) continue;
        publishDeny.push(
          `${JS_API}.CONSUMER.*.${c.stream}.${other}`,
          `${JS_API}.CONSUMER.CREATE.${c.stream}.${other}.>`,
          `${JS_API}.CONSUMER.MSG.NEXT.${c.stream}.${other}`,
        );
      }
    }
    // jetstreamManager() checks that JetStream answers (account info) before anything else.
    if (publish.some((p) => p.startsWith(`${JS_API}.`))) publish.push(`${JS_API}.INFO`);
    for (const sent of service.sends) publish.push(subject(sent));
    for (const sagaName of sagasOf(service)) {
      const saga = sagas.get(sagaName);
      if (saga === undefined) throw new Error(`NATS permissions: unknown saga ${sagaName} in ${topology}`);
      // An event trigger is consumed by the runner (above); a command trigger is among its handlers.
      for (const step of saga.steps) {
        publish.push(subject(step.command));
        if (step.compensate !== undefined) publish.push(subject(step.compensate));
      }
    }
    if (service.mode === "leader") {
      // The leader announces its release; the standbys listen to take over at once.
      publish.push(leaderSubject(topology, service.name));
      subscribe.push(leaderSubject(topology, service.name));
    }
    out[user] = {
      publish: sortedSet(publish),
      ...(publishDeny.length > 0 ? { publishDeny: sortedSet(publishDeny) } : {}),
      subscribe: sortedSet(subscribe),
      allowResponses: service.handles.length > 0,
    };
  }

  const requests = model.messages.filter((m) => m.kind !== "event");
  const events = model.messages.filter((m) => m.kind === "event");
  out[CLIENT_USER] = {
    publish: sortedSet(requests.map((m) => messageSubject(topology, m))),
    subscribe: sortedSet([
      `${inboxPrefix(topology, CLIENT_USER)}.>`,
      ...events.map((m) => messageSubject(topology, m)),
    ]),
    allowResponses: false,
  };
  // `catga status` reads the state of each stream and durable consumer, and changes nothing.
  const streams = [...durable.map((m) => eventStream(topology, m.name)), deadLetterStream(topology)];
  const streamInfo = durable.length === 0 ? [] : streams.map((s) => `${JS_API}.STREAM.INFO.${s}`);
  const consumerInfo = [...consumersOfStream].flatMap(([stream, names]) =>
    names.map((name) => `${JS_API}.CONSUMER.INFO.${stream}.${name}`),
  );
  out[OPS_USER] = {
    publish: durable.length === 0 ? [] : sortedSet([`${JS_API}.INFO`, ...streamInfo, ...consumerInfo]),
    subscribe: sortedSet([`${controlPrefix(topology)}.>`, `${inboxPrefix(topology, OPS_USER)}.>`]),
    allowResponses: false,
  };
  if (durable.length > 0) {
    const dead = deadLetterStream(topology);
    out[ADMIN_USER] = {
      publish: sortedSet([
        `${JS_API}.INFO`,
        `${JS_API}.STREAM.NAMES`,
        `${JS_API}.STREAM.LIST`,
        ...streamInfo,
        ...streams.flatMap((s) => [`${JS_API}.CONSUMER.NAMES.${s}`, `${JS_API}.CONSUMER.LIST.${s}`]),
        ...consumerInfo,
        // Read a dead letter by sequence (or the next one of a subject), remove it once replayed.
        `${JS_API}.STREAM.MSG.GET.${dead}`,
        `${JS_API}.STREAM.MSG.DELETE.${dead}`,
        // Replay: publish the dead letter again to its event's subject, through the stream.
        ...durable.map((m) => messageSubject(topology, m)),
      ]),
      subscribe: [`${inboxPrefix(topology, ADMIN_USER)}.>`],
      allowResponses: false,
    };
  }

  const sorted: Record<string, NatsUserPermissions> = {};
  for (const key of Object.keys(out).sort()) sorted[key] = out[key]!;
  return sorted;
}

/**
 * The NATS users of a topology, sorted: the keys of {@link natsPermissions}, for emitters that need
 * the names only (deriving every user's permissions for that was a large part of the compose file).
 *
 * @throws Error when a service is named like a built-in user, as `natsPermissions` does.
 */
export function natsUsers(model: TopologyModel): string[] {
  const reserved = builtInUsers(model);
  const users = new Set<string>(reserved);
  for (const service of model.services) users.add(serviceUser(service, reserved));
  return [...users].sort();
}

/**
 * The built-in NATS users of a topology: `client` and `ops`, plus `admin` when it has a durable
 * event. The checker reserves all three names (C3023) whatever the topology.
 */
export function builtInUsers(model: TopologyModel): string[] {
  return durableEvents(model).length > 0 ? [CLIENT_USER, OPS_USER, ADMIN_USER] : [CLIENT_USER, OPS_USER];
}

/**
 * The subjects of a service's own durable consumer: ensure it (info, then create or update: both are
 * a CREATE request whose subject carries the filter subject, `action` in the body tells them apart),
 * pull from it (replies come to the service's inbox) and acknowledge (ack, nak, term and in-progress
 * all publish to the delivery's reply subject `$JS.ACK.<stream>.<consumer>.<counters…>`).
 */
function durableConsumerSubjects(stream: string, consumer: string, filterSubject: string): string[] {
  return [
    `${JS_API}.CONSUMER.INFO.${stream}.${consumer}`,
    `${JS_API}.CONSUMER.CREATE.${stream}.${consumer}.${filterSubject}`,
    `${JS_API}.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
    `$JS.ACK.${stream}.${consumer}.>`,
  ];
}

/** The NATS user of a service, which must not be a built-in user's name. */
function serviceUser(service: ServiceModel, reserved: readonly string[]): string {
  const user = natsUser(service.name);
  if (reserved.includes(user)) {
    throw new Error(
      `NATS permissions: service ${service.name} has the name of the built-in NATS user ${user}; rename the service`,
    );
  }
  return user;
}

/**
 * The text of the nats-server config (2.9/2.10 syntax) every node of the cluster runs with.
 *
 * - `listen 0.0.0.0:4222`, monitoring on 8222 (`/healthz`, `/varz`), default `max_payload` (1 MB:
 *   messages are JSON commands and events, not blobs);
 * - `server_name: $NATS_SERVER_NAME`: each node's name comes from its environment;
 * - with routes, a `cluster` block whose routes authenticate as {@link NATS_CLUSTER_USER} with
 *   `$CATGA_NATS_CLUSTER_PASSWORD`, and whose route URLs come from `$CATGA_NATS_ROUTE_<i>` with the
 *   credentials in them (nats-server dials a listed route with the URL's credentials only);
 * - one user per service, plus `client` and `ops`, passwords `$CATGA_NATS_PASSWORD_<USER>`.
 *
 * nats-server refuses to start when a referenced variable is not set, so a missing secret is loud.
 */
export function natsServerConf(model: TopologyModel, options: NatsServerConfOptions): string {
  const permissions = natsPermissions(model);
  const ports = { ...NATS_PORTS, ...options.ports };
  const durable = durableEvents(model);
  const durableNames = new Set(durable.map((m) => m.name));
  const services = new Map<string, ServiceModel>(model.services.map((s) => [natsUser(s.name), s]));
  const sagas = new Map(model.sagas.map((s) => [s.name, s]));
  const lines: string[] = [
    generatedHeader(options.sourceName, "#"),
    `# NATS server configuration of topology ${model.name}, shared by every node: the server name and`,
    "# every password come from the environment (nats-server resolves $VAR references at start-up and",
    "# refuses to start when one is missing). Passwords: letters and digits, starting with a letter",
    "# (nats-server parses a variable's value as a config value; see docs/build.md).",
    "",
    `server_name: $${NATS_SERVER_NAME_VAR}`,
    `listen: "0.0.0.0:${ports.client}"`,
    "# Monitoring: /healthz for probes, /varz, /connz and /routez for operators.",
    `http: ${ports.monitor}`,
  ];
  if (durable.length > 0) {
    lines.push(
      "",
      `# JetStream stores the durable events (${durable.map((m) => m.name).join(", ")}), one file stream`,
      "# each, plus the dead letters. Every node runs it (server_name above names the node in the",
      "# JetStream cluster) and keeps its store on its own volume. The limits cap what the server",
      `# takes: sizes like 256M or 8G from $${NATS_JS_LIMIT_VARS.memory} and $${NATS_JS_LIMIT_VARS.file}`,
      "# (compose and Kubernetes set them; see docs/build.md). A full store refuses publishes.",
      "jetstream {",
      `  store_dir: ${quote(options.storeDir ?? NATS_STORE_DIR)}`,
      `  max_memory_store: $${NATS_JS_LIMIT_VARS.memory}`,
      `  max_file_store: $${NATS_JS_LIMIT_VARS.file}`,
      "}",
    );
  }
  if (options.routes.length > 0) lines.push("", ...natsClusterBlock(model, options));
  lines.push("", "authorization {", "  users = [");
  const users = Object.entries(permissions);
  users.forEach(([user, perms], index) => {
    if (index > 0) lines.push("");
    for (const comment of userComments(sagas, durableNames, user, services.get(user)))
      lines.push(`    # ${comment}`);
    lines.push(
      "    {",
      `      user: ${quote(user)}`,
      `      password: $${natsPasswordVar(user)}`,
      "      permissions: {",
    );
    lines.push(
      ...subjectBlock("publish", perms.publish, perms.publishDeny),
      ...subjectBlock("subscribe", perms.subscribe),
    );
    if (perms.allowResponses) lines.push("        allow_responses: true");
    lines.push("      }", "    }");
  });
  lines.push("  ]", "}", "");
  return lines.join("\n");
}

/**
 * The `cluster { }` block of {@link natsServerConf}: full mesh of authenticated routes, and with
 * `tls` (lines of a `tls { }` block, indented) TLS on the routes too. The TLS config
 * (compiler/emit/_tls.ts) sets the block again, whole, since a key set after an `include` replaces
 * the included one.
 */
export function natsClusterBlock(
  model: TopologyModel,
  options: NatsServerConfOptions,
  tls: readonly string[] = [],
): string[] {
  const ports = { ...NATS_PORTS, ...options.ports };
  const password = `<${NATS_CLUSTER_PASSWORD_VAR}>`;
  return [
    "# Full mesh of routes; a node listing itself is fine (nats-server drops the route to itself).",
    "# Routes authenticate: without it anyone reaching the cluster port could join as a server and",
    "# read or inject every message, bypassing the users' permissions below. nats-server dials a",
    "# listed route with that URL's own credentials only, and a config cannot splice a variable into",
    "# a string, so each route URL, credentials included, comes from the environment:",
    ...options.routes.map(
      (route, i) => `#   ${natsRouteVar(i)}=${route.replace("://", `://${NATS_CLUSTER_USER}:${password}@`)}`,
    ),
    "cluster {",
    `  name: ${quote(model.name)}`,
    `  listen: "0.0.0.0:${ports.cluster}"`,
    "  authorization {",
    `    user: ${quote(NATS_CLUSTER_USER)}`,
    `    password: $${NATS_CLUSTER_PASSWORD_VAR}`,
    "  }",
    "  routes = [",
    ...options.routes.map((_, i) => `    $${natsRouteVar(i)}`),
    "  ]",
    ...tls,
    "}",
  ];
}

/**
 * `nats/nats-tls.conf`: includes `nats.conf` (users, permissions, JetStream, routes) and adds TLS for
 * clients and, with routes, for the routes. `nats.conf` itself stays without TLS, so `catga up`
 * (which runs it on loopback) is unchanged; the deployments run this file.
 *
 * @param certDir The folder of `tls.crt`, `tls.key`, `ca.crt`. @default NATS_CERT_DIR
 */
export function natsTlsConf(
  model: TopologyModel,
  options: NatsServerConfOptions & { certDir?: string; include?: string },
): string {
  const dir = options.certDir ?? NATS_CERT_DIR;
  const lines = [
    generatedHeader(options.sourceName, "#"),
    `# TLS of topology ${model.name}'s NATS servers: nats.conf plus TLS for clients${options.routes.length > 0 ? " and routes" : ""}.`,
    `# Certificates in ${dir}: ${TLS_FILES.cert} and ${TLS_FILES.key} (valid for every server's host name),`,
    `# ${TLS_FILES.ca} (the CA). Clients need no certificate; they log in as their users. See docs/build.md (TLS).`,
    `include ${JSON.stringify(options.include ?? "nats.conf")}`,
    "",
    ...natsTlsBlock(dir, ""),
  ];
  if (options.routes.length > 0) {
    lines.push(
      "",
      "# The cluster block again, whole, with TLS on the routes: a key set after an include replaces it.",
      ...natsClusterBlock(model, options, natsTlsBlock(dir, "  ")),
    );
  }
  lines.push("");
  return lines.join("\n");
}

/**
 * `nats/nats.conf` for the compose deployment: routes to every NATS node by its compose host name
 * (`nats://nats-0:6222`, …, read from `$CATGA_NATS_ROUTE_<i>` with credentials), none for a single
 * node. The same file serves Kubernetes: there the route variables name the pods instead. Nothing when the topology connects to an
 * existing NATS (`nats { url … }`): its operators own that server's configuration.
 */
export function emitNats(model: TopologyModel, options: EmitOptions): EmittedFile[] {
  if (model.nats.url !== undefined) return [];
  const routes: string[] = [];
  if (model.nats.nodes > 1) {
    for (let i = 0; i < model.nats.nodes; i++)
      routes.push(`nats://${natsComposeHost(i)}:${NATS_PORTS.cluster}`);
  }
  const files = [
    { path: "nats/nats.conf", content: natsServerConf(model, { sourceName: options.sourceName, routes }) },
  ];
  if (natsTls(model)) {
    files.push({
      path: `nats/${NATS_TLS_CONF}`,
      content: natsTlsConf(model, { sourceName: options.sourceName, routes }),
    });
  }
  return files;
}

/** Sagas whose messages a service sends: those it runs and those its handlers start. */
function sagasOf(service: ServiceModel): string[] {
  const names = [...service.runs];
  for (const handler of service.handles) if (handler.saga !== undefined) names.push(handler.saga);
  return sortedSet(names);
}

/**
 * The `publish = { allow: [...], deny: [...] }` lines; an empty allow list denies everything
 * explicitly. A deny wins over an allow that matches the same subject.
 */
function subjectBlock(kind: "publish" | "subscribe", subjects: string[], deny: string[] = []): string[] {
  // nats-server reads an empty allow list as "no restriction" in some versions; deny all instead.
  if (subjects.length === 0) return [`        ${kind}: { deny: [">"] }`];
  const lines = [
    `        ${kind}: {`,
    "          allow: [",
    ...subjects.map((s) => `            ${quote(s)}`),
    "          ]",
  ];
  if (deny.length > 0)
    lines.push("          deny: [", ...deny.map((s) => `            ${quote(s)}`), "          ]");
  lines.push("        }");
  return lines;
}

/** Why the user has its grants: a title line, then one line per reason. */
function userComments(
  sagas: ReadonlyMap<string, SagaModel>,
  durable: ReadonlySet<string>,
  user: string,
  service: ServiceModel | undefined,
): string[] {
  if (user === CLIENT_USER) {
    return [
      `${user}: applications using the generated client`,
      "  sends every command and query; hears every event; replies arrive in its own inbox",
    ];
  }
  if (user === OPS_USER) {
    return [
      `${user}: operators' tools (catga status)`,
      durable.size === 0
        ? "  reads heartbeats and leader announcements; publishes nothing"
        : "  reads heartbeats, leader announcements and the state of streams and durable consumers",
    ];
  }
  if (user === ADMIN_USER) {
    return [
      `${user}: operators' tools that change durable state (dead letters)`,
      "  lists streams and consumers, reads and removes dead letters, replays them to their events",
    ];
  }
  if (service === undefined) return [user];
  const lines = [`${user}: service ${service.name} (${service.mode})`];
  const names = (list: string[]): string => list.join(", ");
  const handled = service.handles.map((h) => h.message);
  if (handled.length > 0)
    lines.push(`  handles ${names(handled)}: subscribes, answers through allow_responses`);
  const consumed = service.subscriptions.map((s) => s.event);
  if (consumed.length > 0) lines.push(`  consumes ${names(consumed)}`);
  for (const s of service.subscriptions) {
    if (!durable.has(s.event)) continue;
    const consumer = subscriptionConsumer(service, s);
    lines.push(
      consumer !== undefined
        ? `  ${s.event} is durable: ensures its stream and its consumer ${consumer}, pulls, acks, dead-letters`
        : `  ${s.event} is durable, broadcast: ensures its stream, follows it with ordered consumers, dead-letters`,
    );
  }
  if (service.emits.length > 0) lines.push(`  emits ${names(service.emits)}`);
  const emittedDurable = service.emits.filter((e) => durable.has(e));
  if (emittedDurable.length > 0) lines.push(`  ${names(emittedDurable)}: durable, ensures the stream`);
  if (service.sends.length > 0) lines.push(`  sends ${names(service.sends)}`);
  for (const sagaName of sagasOf(service)) {
    // A map, not `model.sagas.find`: one search per service made the config quadratic in size.
    const saga = sagas.get(sagaName);
    if (saga === undefined) continue;
    const commands = saga.steps.flatMap((s) =>
      s.compensate === undefined ? [s.command] : [s.command, s.compensate],
    );
    const trigger =
      saga.trigger.kind !== "event"
        ? ""
        : durable.has(saga.trigger.name)
          ? `pulls ${saga.trigger.name} through its consumer ${sagaTriggerConsumer(saga)}, dead-letters, `
          : `hears ${saga.trigger.name}, `;
    lines.push(`  runs saga ${saga.name}: ${trigger}sends ${names(commands)}`);
  }
  if (service.mode === "leader") lines.push("  announces its leader release; its standbys listen for it");
  lines.push("  publishes its heartbeat; replies arrive in its own inbox");
  return lines;
}

function sortedSet(values: string[]): string[] {
  return [...new Set(values)].sort();
}

/** A double-quoted config string (subjects contain `.`, `>` and `*`, which read better quoted). */
function quote(value: string): string {
  return JSON.stringify(value);
}
