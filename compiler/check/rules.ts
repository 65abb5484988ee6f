import {
  type Diagnostic,
  diagnostic,
  type Identifier,
  type RelatedInformation,
  type SagaDecl,
  type SagaStep,
  type SagaTrigger,
  type ServiceDecl,
  type Span,
} from "../../dsl/index.js";
import type {
  HandlerModel,
  SagaStepModel,
  SagaTriggerModel,
  ScheduleModel,
  SubscriptionModel,
} from "../model.js";
import { dnsLabel } from "../naming.js";
import type { CheckCache } from "./_cache.js";
import { quoteList, suggest, withArticle } from "./_text.js";
import { isPlaceholder } from "./_values.js";
import { checkQueueName, type ServiceSettings } from "./settings.js";
import { type ReferenceRole, resolveReference, type SymbolKind, type SymbolTable } from "./symbols.js";

/** Shortest `every` interval (C3008): below it a "job" is a busy loop that floods Redis with lease checks. */
export const EVERY_MIN_MS = 100;

/** Related sites attached to one diagnostic, at most: enough to find them all in practice. */
const MAX_RELATED = 20;

const HANDLES: ReferenceRole = {
  accepts: ["command", "query"],
  noun: "message",
  takes: "'handles' takes commands and queries",
  hint: (kind, name) =>
    kind === "event"
      ? `to consume an event, write 'on ${name}'`
      : kind === "saga"
        ? `to run a saga, write 'runs ${name}'`
        : undefined,
};

const ON: ReferenceRole = {
  accepts: ["event"],
  noun: "event",
  takes: "'on' takes events",
  hint: (kind, name) =>
    kind === "command" || kind === "query"
      ? `to answer ${withArticle(kind)}, write 'handles ${name}'`
      : undefined,
};

const EMITS: ReferenceRole = {
  accepts: ["event"],
  noun: "event",
  takes: "'emits' takes events",
  hint: (kind, name) =>
    kind === "command" || kind === "query"
      ? `to send ${withArticle(kind)}, write 'sends ${name}'`
      : undefined,
};

const SENDS: ReferenceRole = {
  accepts: ["command", "query"],
  noun: "message",
  takes: "'sends' takes commands and queries",
  hint: (kind, name) => (kind === "event" ? `to publish an event, write 'emits ${name}'` : undefined),
};

const RUNS: ReferenceRole = {
  accepts: ["saga"],
  noun: "saga",
  takes: "'runs' takes sagas",
  hint: (kind, name) =>
    kind === "command" || kind === "query"
      ? `to answer ${withArticle(kind)}, write 'handles ${name}'`
      : kind === "event"
        ? `to consume an event, write 'on ${name}'`
        : undefined,
};

const TRIGGER: ReferenceRole = {
  accepts: ["event", "command"],
  noun: "event or command",
  takes: "a saga starts on an event or a command",
  hint: (kind) =>
    kind === "query"
      ? "queries only read: start the saga on the command or event that changes state"
      : undefined,
};

const STEP: ReferenceRole = {
  accepts: ["command"],
  noun: "command",
  takes: "saga steps are commands",
  hint: (kind) =>
    kind === "query" ? "a step changes state, so it is a command; declare it with 'command'" : undefined,
};

const COMPENSATE: ReferenceRole = {
  accepts: ["command"],
  noun: "command",
  takes: "a compensation is a command",
  hint: (kind) =>
    kind === "query"
      ? "a compensation undoes a change, so it is a command; declare it with 'command'"
      : undefined,
};

/** What the topology pass learned about one service, in model shape. */
export interface ServiceFacts {
  decl: ServiceDecl;
  settings: ServiceSettings;
  handles: HandlerModel[];
  subscriptions: SubscriptionModel[];
  emits: string[];
  sends: string[];
  runs: string[];
  schedules: ScheduleModel[];
  /** `uses redis` was written (valid). */
  usesRedis: boolean;
}

/** What a service may name in `uses`: the stores it keeps its own data in. */
const USES_TARGETS = ["redis"] as const;

/** What the topology pass learned about one saga, in model shape. */
export interface SagaFacts {
  decl: SagaDecl;
  /** The single valid trigger, if there is one. */
  trigger?: SagaTriggerModel;
  steps: SagaStepModel[];
  /** Name of the service that runs it, when exactly one does. */
  runBy?: string;
}

/** The result of the topology pass. */
export interface TopologyFacts {
  services: ServiceFacts[];
  sagas: SagaFacts[];
  /** The one service that answers each command and query. */
  handlerOf: Map<string, string>;
}

/** A place where a service takes on a message or a saga. */
interface Site {
  service: ServiceDecl;
  span: Span;
  /** Set when the service answers a command by starting this saga. */
  saga?: string;
}

/** Appends to a list in a map of lists. */
function add<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Related sites for every site but `self`, capped. */
function others(sites: readonly Site[], self: Site, message: (s: Site) => string): RelatedInformation[] {
  const related: RelatedInformation[] = [];
  for (const site of sites) {
    if (site === self) continue;
    if (related.length >= MAX_RELATED) break;
    related.push({ message: message(site), span: site.span });
  }
  return related;
}

/**
 * Distinct services of a list of sites, in order. Distinct by name: two services declared with one
 * name are already C2002, and counting them twice would add "handled by 'api' and 'api'".
 */
function distinctServices(sites: readonly Site[]): ServiceDecl[] {
  // One site, the usual case, without building a map for it.
  if (sites.length === 1) return [sites[0]!.service];
  const byName = new Map<string, ServiceDecl>();
  for (const site of sites)
    if (!byName.has(site.service.name.text)) byName.set(site.service.name.text, site.service);
  return [...byName.values()];
}

/**
 * Checks the topology: what services handle, consume, emit, send, run and schedule, and the sagas.
 *
 * Every name resolves to the right kind (C2001, C2003); no name is listed twice in one service
 * (C2004); each command and query has exactly one handling service (C3001, C3002); jobs run only in
 * leader mode (C3003) at a sane interval (C3008); sagas have one trigger (C3013), steps (C3014),
 * compensations (C3009), and exactly one leader-mode service running them (C3010–C3012); events are
 * consumed (C3017) and emitted (C3019); queue and broadcast are not wasted on leaders (C3020);
 * services do something (C3021).
 *
 * Linear in the size of the file: every cross-reference goes through a map keyed by name.
 */
export function checkTopology(
  table: SymbolTable,
  settingsOf: Map<ServiceDecl, ServiceSettings>,
  out: Diagnostic[],
  cache?: CheckCache,
): TopologyFacts {
  const handlerSites = new Map<string, Site[]>();
  const runnerSites = new Map<string, Site[]>();
  /** Where commands and queries are sent from: related sites of C3001. */
  const senders = new Map<string, RelatedInformation[]>();
  const consumed = new Set<string>();
  const emitted = new Set<string>();
  const assumed = new Set<string>();
  const services: ServiceFacts[] = [];

  const collect: Collectors = { assumed, handlerSites, runnerSites, senders, consumed, emitted };
  for (const service of table.services) {
    const settings = settingsOf.get(service)!;
    if (cache === undefined) {
      services.push(checkService(service, settings, table, out, collect));
      continue;
    }
    // What one service adds to the collectors is recorded on its own and replayed in service order:
    // checkService only adds to them, never reads them, so the replay equals the direct run.
    const found = cache.namedResult("service", service, [settings], table, () => {
      const own: Diagnostic[] = [];
      const mine = collectors();
      return { facts: checkService(service, settings, table, own, mine), diagnostics: own, collected: mine };
    });
    for (const d of found.diagnostics) out.push(d);
    mergeCollectors(collect, found.collected);
    // Later passes add to a service's handlers (a saga's command trigger): a copy keeps the cached one as found.
    services.push({ ...found.facts, handles: found.facts.handles.map((h) => ({ ...h })) });
  }
  checkServiceNames(table.services, table.duplicated, out);

  const sagas: SagaFacts[] = [];
  /** Commands that start a saga: their handler is the saga's runner. */
  const sagaCommands = new Set<string>();
  for (const saga of table.sagas) {
    let checked: { facts: SagaFacts; triggers: SagaTriggerModel[] };
    if (cache === undefined) checked = checkSaga(saga, table, out, senders);
    else {
      // Recorded and replayed like a service's findings; `runBy` is set later, on a copy.
      const found = cache.namedResult("saga", saga, [], table, () => {
        const own: Diagnostic[] = [];
        const sent = new Map<string, RelatedInformation[]>();
        return { checked: checkSaga(saga, table, own, sent), diagnostics: own, sent };
      });
      for (const d of found.diagnostics) out.push(d);
      for (const [name, list] of found.sent) for (const r of list) add(senders, name, r);
      checked = { facts: { ...found.checked.facts }, triggers: found.checked.triggers };
    }
    const { facts, triggers } = checked;
    sagas.push(facts);
    // Every trigger that resolved counts, even when a saga has too many: that error is C3013 alone.
    for (const trigger of triggers) (trigger.kind === "event" ? consumed : sagaCommands).add(trigger.name);
  }

  const factsOf = new Map(services.map((f) => [f.decl, f]));

  for (const facts of sagas) {
    const saga = facts.decl;
    const name = saga.name.text;
    if (name === "" || table.symbols.get(name)?.decl !== saga) continue;
    const sites = runnerSites.get(name) ?? [];
    const runners = distinctServices(sites);
    if (runners.length === 0) {
      if (assumed.has(name)) continue;
      out.push(
        diagnostic("C3010", saga.name.span, `saga '${name}' is not run by any service`, {
          hint: `add 'runs ${name}' to a leader-mode service: its leader coordinates the saga`,
        }),
      );
    } else if (runners.length > 1) {
      const names = quoteList(runners.map((s) => s.name.text));
      for (const site of sites) {
        out.push(
          diagnostic("C3011", site.span, `saga '${name}' is run by more than one service: ${names}`, {
            hint: `a saga has one coordinator: keep 'runs ${name}' in one service`,
            related: others(sites, site, (s) => `also run by service '${s.service.name.text}' here`),
          }),
        );
      }
    } else facts.runBy = runners[0]!.name.text;

    for (const site of sites) {
      if (settingsOf.get(site.service)?.mode !== "p2p") continue;
      out.push(
        diagnostic(
          "C3012",
          site.span,
          `saga '${name}' is run by service '${site.service.name.text}', which is p2p`,
          {
            hint: `every replica would run the saga: write 'mode leader' in service '${site.service.name.text}'`,
          },
        ),
      );
    }

    // A command that starts a saga is answered by the saga's runner: that is a handler like any other.
    if (facts.trigger?.kind === "command") {
      const command = facts.trigger.name;
      for (const runner of runners) {
        const runsSite = sites.find((s) => s.service === runner)!;
        const existing = handlerSites.get(command)?.find((s) => s.service === runner);
        const handles = factsOf.get(runner)!.handles;
        const entry = handles.find((h) => h.message === command);
        if (existing && entry) {
          entry.saga = name;
          continue;
        }
        add(handlerSites, command, { service: runner, span: runsSite.span, saga: name });
        handles.push({ message: command, queue: runner.name.text, saga: name });
      }
    }
  }

  const handlerOf = new Map<string, string>();
  let serviceWords: Map<string, string> | undefined;
  for (const message of table.messages) {
    const name = message.name.text;
    const kind = message.messageKind;
    if (kind === "event" || name === "" || table.symbols.get(name)?.decl !== message) continue;
    const sites = handlerSites.get(name) ?? [];
    const handlers = distinctServices(sites);
    if (handlers.length === 1) {
      handlerOf.set(name, handlers[0]!.name.text);
      continue;
    }
    if (handlers.length === 0) {
      // A saga's command trigger without a runner is reported once, as C3010; a misspelt
      // `handles` of it once, as C2001.
      if (sagaCommands.has(name) || assumed.has(name)) continue;
      const sent = senders.get(name) ?? [];
      // Built on the first unhandled message only: valid topologies never pay for it.
      serviceWords ??= wordsOf(table.servicesByName.keys());
      out.push(
        diagnostic("C3001", message.name.span, `${kind} '${name}' is not handled by any service`, {
          hint: handlerHint(name, serviceWords),
          related: sent.slice(0, MAX_RELATED),
        }),
      );
      continue;
    }
    const names = quoteList(handlers.map((s) => s.name.text));
    for (const site of sites) {
      out.push(
        diagnostic("C3002", site.span, `${kind} '${name}' is handled by more than one service: ${names}`, {
          hint: `each ${kind} has exactly one handling service (its replicas share the load): keep one`,
          related: others(sites, site, (s) =>
            s.saga === undefined
              ? `also handled by service '${s.service.name.text}' here`
              : `also handled by service '${s.service.name.text}', which runs saga '${s.saga}'`,
          ),
        }),
      );
    }
  }

  for (const message of table.messages) {
    const name = message.name.text;
    if (message.messageKind !== "event" || name === "" || table.symbols.get(name)?.decl !== message) continue;
    if (!consumed.has(name)) {
      out.push(
        diagnostic("C3017", message.name.span, `event '${name}' is never consumed`, {
          hint: message.durable
            ? `its stream stores every '${name}' for nobody: add 'on ${name}' to a service that reacts to it, start a saga with it, or remove 'durable'`
            : `add 'on ${name}' to a service that reacts to it, or start a saga with it`,
        }),
      );
    }
    if (!emitted.has(name)) {
      out.push(
        diagnostic("C3019", message.name.span, `event '${name}' is never emitted`, {
          hint: `add 'emits ${name}' to the service that publishes it`,
        }),
      );
    }
  }

  return { services, sagas, handlerOf };
}

interface Collectors {
  /**
   * Commands, queries and sagas that a misspelt `handles` or `runs` most likely meant: not reported
   * as unhandled or not run, since the typo is reported already.
   */
  assumed: Set<string>;
  handlerSites: Map<string, Site[]>;
  runnerSites: Map<string, Site[]>;
  senders: Map<string, RelatedInformation[]>;
  consumed: Set<string>;
  emitted: Set<string>;
}

function collectors(): Collectors {
  return {
    assumed: new Set(),
    handlerSites: new Map(),
    runnerSites: new Map(),
    senders: new Map(),
    consumed: new Set(),
    emitted: new Set(),
  };
}

/** Adds what one declaration collected to the whole check's collectors, keeping the order of each list. */
function mergeCollectors(into: Collectors, from: Collectors): void {
  for (const name of from.assumed) into.assumed.add(name);
  for (const name of from.consumed) into.consumed.add(name);
  for (const name of from.emitted) into.emitted.add(name);
  for (const [name, list] of from.handlerSites) for (const site of list) add(into.handlerSites, name, site);
  for (const [name, list] of from.runnerSites) for (const site of list) add(into.runnerSites, name, site);
  for (const [name, list] of from.senders) for (const r of list) add(into.senders, name, r);
}

function checkService(
  service: ServiceDecl,
  settings: ServiceSettings,
  table: SymbolTable,
  out: Diagnostic[],
  collect: Collectors,
): ServiceFacts {
  const name = service.name.text;
  const where = `service '${name}'`;
  const facts: ServiceFacts = {
    decl: service,
    settings,
    handles: [],
    subscriptions: [],
    emits: [],
    sends: [],
    runs: [],
    schedules: [],
    usesRedis: false,
  };
  const leader = settings.mode === "leader";
  let active = false;
  /** Names already listed, per keyword: the same name twice is a slip (C2004). */
  const listed = new Map<string, Map<string, Identifier>>();
  const once = (keyword: string, id: Identifier): boolean => {
    if (id.text === "") return false;
    let seen = listed.get(keyword);
    if (!seen) {
      seen = new Map();
      listed.set(keyword, seen);
    }
    const first = seen.get(id.text);
    if (first === undefined) {
      seen.set(id.text, id);
      return true;
    }
    out.push(
      diagnostic("C2004", id.span, `'${id.text}' is listed twice under '${keyword}' in ${where}`, {
        hint: "remove the repeated name",
        related: [{ message: "first listed here", span: first.span }],
      }),
    );
    return false;
  };
  const resolveAll = (
    keyword: string,
    names: readonly Identifier[],
    role: ReferenceRole,
    guessed: ((name: string) => void) | undefined,
  ) => {
    const found: Array<{ id: Identifier; kind: SymbolKind }> = [];
    for (const id of names) {
      if (!once(keyword, id)) continue;
      const symbol = resolveReference(table, id, role, out, guessed && ((g) => guessed(g.decl.name.text)));
      if (symbol) found.push({ id, kind: symbol.kind });
    }
    return found;
  };

  /** `uses` targets already written, for C3033. */
  const usesSeen = new Map<string, Identifier>();
  for (const item of service.items) {
    switch (item.kind) {
      case "Handles": {
        active = true;
        let queue = name;
        if (item.queue && !isPlaceholder(item.queue)) {
          queue = checkQueueName(item.queue, out) ?? name;
          if (leader) {
            out.push(
              diagnostic("C3020", item.queue.span, `the queue is ignored: ${where} runs in leader mode`, {
                hint: "only the leader subscribes, so no queue group is shared: remove 'queue …', or use 'mode p2p'",
              }),
            );
          }
        }
        for (const { id } of resolveAll("handles", item.names, HANDLES, (g) => collect.assumed.add(g))) {
          add(collect.handlerSites, id.text, { service, span: id.span });
          facts.handles.push({ message: id.text, queue });
        }
        break;
      }
      case "On": {
        active = true;
        if (item.broadcast && leader) {
          out.push(
            diagnostic("C3020", item.broadcast, `'broadcast' is ignored: ${where} runs in leader mode`, {
              hint: "only the leader receives events: remove 'broadcast', or use 'mode p2p' so every replica does",
            }),
          );
        }
        for (const { id } of resolveAll("on", item.names, ON, (g) => collect.consumed.add(g))) {
          collect.consumed.add(id.text);
          facts.subscriptions.push({ event: id.text, delivery: item.broadcast ? "broadcast" : "group" });
        }
        break;
      }
      case "Emits":
        for (const { id } of resolveAll("emits", item.names, EMITS, (g) => collect.emitted.add(g))) {
          collect.emitted.add(id.text);
          facts.emits.push(id.text);
        }
        break;
      case "Sends":
        for (const { id } of resolveAll("sends", item.names, SENDS, undefined)) {
          add(collect.senders, id.text, { message: `sent by ${where} here`, span: id.span });
          facts.sends.push(id.text);
        }
        break;
      case "Runs":
        active = true;
        for (const { id } of resolveAll("runs", item.names, RUNS, (g) => collect.assumed.add(g))) {
          add(collect.runnerSites, id.text, { service, span: id.span });
          facts.runs.push(id.text);
        }
        break;
      case "Every": {
        active = true;
        const job = item.job.text;
        const fresh = once("every", item.job);
        if (settings.mode === "p2p") {
          out.push(
            diagnostic("C3003", item.span, `job '${job}' would run on every replica: ${where} is p2p`, {
              hint: "write 'mode leader' in the service so that one replica runs the job per tick",
            }),
          );
        }
        const interval = item.interval;
        if (isPlaceholder(interval)) break;
        if (interval.ms < EVERY_MIN_MS) {
          out.push(
            diagnostic("C3008", interval.span, `interval ${interval.text} is too short for a scheduled job`, {
              hint: "use at least 100ms; work that must run continuously belongs in a handler",
            }),
          );
        } else if (fresh) facts.schedules.push({ job, intervalMs: interval.ms });
        break;
      }
      case "Uses":
        for (const id of item.names) {
          if (id.text === "") continue;
          if (!(USES_TARGETS as readonly string[]).includes(id.text)) {
            const guess = suggest(id.text, USES_TARGETS);
            out.push(
              diagnostic("C3032", id.span, `${where} cannot use '${id.text}': only 'redis' can be used`, {
                hint:
                  guess !== undefined
                    ? `did you mean '${guess}'?`
                    : "write 'uses redis' if the service keeps its own data in Redis; NATS is always used",
              }),
            );
            continue;
          }
          const first = usesSeen.get(id.text);
          if (first !== undefined) {
            out.push(
              diagnostic("C3033", id.span, `${where} already uses '${id.text}'`, {
                hint: "remove the repeated 'uses'",
                related: [{ message: "first written here", span: first.span }],
              }),
            );
            continue;
          }
          usesSeen.set(id.text, id);
          facts.usesRedis = true;
        }
        break;
      default:
        break;
    }
  }

  if (!active && name !== "") {
    out.push(
      diagnostic("C3021", service.name.span, `${where} does nothing`, {
        hint: "it handles no command or query, consumes no event, and runs no saga or job: add one, or remove it",
      }),
    );
  }
  return facts;
}

/**
 * Service names the runtime takes for itself: NATS users of applications (`client`), operators'
 * tools (`ops`) and operators' dead-letter commands (`admin`, emitted when the topology has a durable
 * event) in the emitted permissions. A service with such a name would merge its grants with theirs.
 * `admin` is reserved even without a durable event, so making an event durable later never turns a
 * valid topology into an invalid one.
 */
const RESERVED_SERVICE_NAMES: ReadonlySet<string> = new Set(["admin", "client", "ops"]);

/**
 * Reserved names (C3023), and names that differ in the file but become the same name in
 * deployments (C3024): `orderService` and `order_service` are both `order-service` in compose and
 * Kubernetes and both `ORDER_SERVICE` in environment variables.
 */
function checkServiceNames(
  services: readonly ServiceDecl[],
  duplicated: ReadonlySet<string>,
  out: Diagnostic[],
): void {
  const byLabel = new Map<string, ServiceDecl[]>();
  for (const service of services) {
    const name = service.name.text;
    if (name === "") continue;
    if (RESERVED_SERVICE_NAMES.has(name)) {
      out.push(
        diagnostic(
          "C3023",
          service.name.span,
          `'${name}' is reserved: the runtime's NATS user '${name}' has this name`,
          {
            hint: `rename the service, e.g. '${name}Service'`,
          },
        ),
      );
    }
    if (duplicated.has(name)) continue;
    add(byLabel, dnsLabel(name), service);
  }
  for (const [label, sites] of byLabel) {
    const distinct = [...new Set(sites.map((s) => s.name.text))];
    if (distinct.length < 2) continue;
    for (const site of sites) {
      out.push(
        diagnostic(
          "C3024",
          site.name.span,
          `service '${site.name.text}' would be deployed as '${label}', like ${quoteList(
            distinct.filter((n) => n !== site.name.text),
          )}`,
          {
            hint: "compose and Kubernetes names are lower case with dashes: rename one so they differ",
            related: sites
              .filter((other) => other !== site)
              .slice(0, MAX_RELATED)
              .map((other) => ({ message: `'${other.name.text}' is declared here`, span: other.name.span })),
          },
        ),
      );
    }
  }
}

function checkSaga(
  saga: SagaDecl,
  table: SymbolTable,
  out: Diagnostic[],
  senders: Map<string, RelatedInformation[]>,
): { facts: SagaFacts; triggers: SagaTriggerModel[] } {
  const name = saga.name.text;
  const facts: SagaFacts = { decl: saga, steps: [] };
  const triggers: SagaTrigger[] = [];
  const steps: SagaStep[] = [];
  for (const item of saga.items) {
    if (item.kind === "SagaOn") triggers.push(item);
    else steps.push(item);
  }
  const at = saga.name.text === "" ? saga.span : saga.name.span;

  const resolvedTriggers: SagaTriggerModel[] = [];
  /** What misspelt triggers most likely meant: counted as used, never as the trigger. */
  const used: SagaTriggerModel[] = [];
  for (const trigger of triggers) {
    const symbol = resolveReference(table, trigger.name, TRIGGER, out, (guess) => {
      if (guess.kind === "event" || guess.kind === "command")
        used.push({ kind: guess.kind, name: guess.decl.name.text });
    });
    if (symbol?.kind === "event" || symbol?.kind === "command") {
      resolvedTriggers.push({ kind: symbol.kind, name: trigger.name.text });
    }
  }
  if (triggers.length === 0) {
    out.push(
      diagnostic("C3013", at, `saga '${name}' has no trigger`, {
        hint: "add 'on <Event>' (or 'on <Command>') as its first line: it says what starts the saga",
      }),
    );
  } else if (triggers.length > 1) {
    for (const trigger of triggers) {
      out.push(
        diagnostic("C3013", trigger.span, `saga '${name}' has more than one trigger`, {
          hint: "a saga starts one way: keep one 'on', and declare another saga for the other trigger",
          related: triggers
            .filter((t) => t !== trigger)
            .slice(0, MAX_RELATED)
            .map((t) => ({ message: "another trigger here", span: t.span })),
        }),
      );
    }
  } else if (resolvedTriggers[0]) facts.trigger = resolvedTriggers[0];

  if (steps.length === 0) {
    out.push(
      diagnostic("C3014", at, `saga '${name}' has no steps`, {
        hint: "add 'step <Command> compensate <Command>' lines, in the order they run",
      }),
    );
  }
  for (const step of steps) {
    const command = resolveReference(table, step.command, STEP, out);
    if (command)
      add(senders, step.command.text, { message: `sent by saga '${name}' here`, span: step.command.span });
    let compensate: string | undefined;
    if (step.compensate) {
      if (resolveReference(table, step.compensate, COMPENSATE, out)) {
        compensate = step.compensate.text;
        add(senders, compensate, { message: `sent by saga '${name}' here`, span: step.compensate.span });
      }
    } else if (!step.irreversible && step.command.text !== "") {
      out.push(
        diagnostic("C3009", step.command.span, `step '${step.command.text}' has no compensation`, {
          hint: `if a later step fails it cannot be undone: add 'compensate <Command>', or mark it 'irreversible' if nothing can undo it`,
        }),
      );
    }
    let timeoutMs: number | undefined;
    if (step.timeout && !isPlaceholder(step.timeout)) {
      if (step.timeout.ms === 0) {
        out.push(
          diagnostic("C3008", step.timeout.span, "a step timeout of 0 fails every step", {
            hint: "use a positive duration like 5s, or remove it to use the command's default",
          }),
        );
      } else timeoutMs = step.timeout.ms;
    }
    if (!command) continue;
    facts.steps.push({
      command: step.command.text,
      ...(compensate !== undefined ? { compensate } : {}),
      irreversible: step.irreversible !== undefined,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }
  return { facts, triggers: [...resolvedTriggers, ...used] };
}

/** Service names lower-cased without separators, mapped to the name: the index of {@link handlerHint}. */
function wordsOf(services: Iterable<string>): Map<string, string> {
  const words = new Map<string, string>();
  for (const service of services) {
    const word = service.toLowerCase().replace(/[^a-z0-9]/g, "");
    if (!words.has(word)) words.set(word, service);
  }
  return words;
}

/**
 * Which service should handle an unhandled message: one whose name appears in the message name
 * ('order' in 'CreateOrder'), longest first. Substrings of the message are looked up in the index,
 * so the cost depends on the length of the name, not on the number of services.
 */
function handlerHint(message: string, services: Map<string, string>): string {
  if (services.size === 0) return `declare a service with 'handles ${message}'`;
  const lower = message.toLowerCase();
  for (let length = lower.length; length >= 3; length--) {
    for (let start = 0; start + length <= lower.length; start++) {
      const found = services.get(lower.slice(start, start + length));
      if (found !== undefined) return `add 'handles ${message}' to service '${found}'`;
    }
  }
  return `add 'handles ${message}' to the service that should answer it`;
}
