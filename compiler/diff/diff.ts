import type { CatgaFile, RelatedInformation, Span } from "../../dsl/index.js";
import type { FieldModel, MessageModel, SagaModel, ServiceModel, TopologyModel, TypeUse } from "../model.js";
import { Locator } from "./_locate.js";
import { type ChangeClass, DIFF_RULES, type DiffCode } from "./rules.js";

/** One version of a topology: its checked model and the parsed file it came from (for spans). */
export interface DiffSide {
  model: TopologyModel;
  file: CatgaFile;
}

/**
 * One classified change between two versions. It has the shape of a checker diagnostic (code,
 * message, span, hint, related) plus the class of the change; the span is in the new file, or in
 * the old one when the change is a removal.
 */
export interface DiffFinding {
  code: DiffCode;
  class: ChangeClass;
  message: string;
  span: Span;
  /** Which file `span` is in. */
  side: "old" | "new";
  /** The safe way to make the change. */
  hint: string;
  /** The same element in the other version, when it exists there. */
  related?: RelatedInformation[];
}

/**
 * Classifies every change from `old` to `next` by what it does while replicas of both versions
 * serve side by side (docs/diff.md lists the rules). Pure and deterministic; `diff(x, x)` is empty.
 */
export function diffModels(old: DiffSide, next: DiffSide): DiffFinding[] {
  return new Differ(old, next).run();
}

/** How a value written with one type use reads with another. */
type Compat = "same" | "widened" | "optional-to-required" | "incompatible";

const FIX_LATER = "send values only the new version accepts after the rollout has finished";

class Differ {
  private readonly out: DiffFinding[] = [];
  private readonly a: TopologyModel;
  private readonly b: TopologyModel;
  private readonly la: Locator;
  private readonly lb: Locator;

  constructor(old: DiffSide, next: DiffSide) {
    this.a = old.model;
    this.b = next.model;
    this.la = new Locator(old.file);
    this.lb = new Locator(next.file);
  }

  run(): DiffFinding[] {
    this.topology();
    this.enums();
    this.types();
    this.messages();
    this.services();
    this.sagas();
    const side = (f: DiffFinding) => (f.side === "old" ? 0 : 1);
    return this.out.sort(
      (x, y) =>
        side(x) - side(y) ||
        x.span.start.offset - y.span.start.offset ||
        (x.code < y.code ? -1 : x.code > y.code ? 1 : 0) ||
        (x.message < y.message ? -1 : x.message > y.message ? 1 : 0),
    );
  }

  /** Records a finding in the new file (or the old one for removals), pointing back at the other. */
  private add(
    code: DiffCode,
    where: { side: "old" | "new"; span: Span },
    message: string,
    hint: string,
    other?: Span,
  ): void {
    const f: DiffFinding = {
      code,
      class: DIFF_RULES[code].class,
      message,
      span: where.span,
      side: where.side,
      hint,
    };
    if (other !== undefined) {
      f.related = [
        { message: where.side === "new" ? "was here in the old version" : "in the new version", span: other },
      ];
    }
    this.out.push(f);
  }

  private n(span: Span) {
    return { side: "new" as const, span };
  }

  private o(span: Span) {
    return { side: "old" as const, span };
  }

  private topology(): void {
    const { a, b, la, lb } = this;
    if (a.name !== b.name) {
      this.add(
        "D1010",
        this.n(lb.topology()),
        `topology renamed from '${a.name}' to '${b.name}': every subject, stream and key changes, so old and new replicas do not hear each other`,
        "deploy the renamed topology side by side (blue/green) and switch clients over, not as a rolling update",
        la.topology(),
      );
    }
    this.doc(a.doc, b.doc, `topology ${b.name}`, lb.topology(), la.topology());
    for (const [key, label] of [
      ["nats", "nats"],
      ["redis", "redis"],
    ] as const) {
      if (json(a[key]) !== json(b[key])) {
        this.add(
          "D1058",
          this.n(lb.decl(`#${key}`)),
          `${label} settings changed: ${json(a[key])} → ${json(b[key])}`,
          "no action needed for the messages; the infrastructure follows on the next deploy",
          la.decl(`#${key}`),
        );
      }
    }
  }

  private enums(): void {
    const { a, b, la, lb } = this;
    const olds = byName(a.enums);
    const news = byName(b.enums);
    for (const e of b.enums) {
      const was = olds.get(e.name);
      if (was === undefined) {
        this.add("D1053", this.n(lb.decl(e.name)), `enum ${e.name} added`, "no action needed");
        continue;
      }
      this.doc(was.doc, e.doc, `enum ${e.name}`, lb.decl(e.name), la.decl(e.name));
      const members = new Set(e.members.map((m) => m.name));
      const wasMembers = new Set(was.members.map((m) => m.name));
      for (const m of was.members) {
        if (members.has(m.name)) continue;
        this.add(
          "D1008",
          this.o(la.member(e.name, m.name)),
          `member '${m.name}' removed from enum ${e.name}: a value the old version writes is rejected by new replicas`,
          `stop writing '${m.name}' in one rollout, then remove it in the next`,
          lb.decl(e.name),
        );
      }
      for (const m of e.members) {
        if (wasMembers.has(m.name)) continue;
        this.add(
          "D1052",
          this.n(lb.member(e.name, m.name)),
          `member '${m.name}' added to enum ${e.name}: old replicas reject it until they are replaced`,
          `write '${m.name}' only after the rollout has finished`,
          la.decl(e.name),
        );
      }
    }
    for (const e of a.enums) {
      if (!news.has(e.name)) {
        this.add(
          "D1054",
          this.o(la.decl(e.name)),
          `enum ${e.name} removed`,
          "no action needed: no message uses it any more",
        );
      }
    }
  }

  private types(): void {
    const { a, b, la, lb } = this;
    const olds = byName(a.types);
    const news = byName(b.types);
    for (const t of b.types) {
      const was = olds.get(t.name);
      if (was === undefined) {
        this.add("D1053", this.n(lb.decl(t.name)), `type ${t.name} added`, "no action needed");
        continue;
      }
      this.doc(was.doc, t.doc, `type ${t.name}`, lb.decl(t.name), la.decl(t.name));
      this.fields(`type ${t.name}`, t.name, was.fields, t.fields);
    }
    for (const t of a.types) {
      if (!news.has(t.name)) {
        this.add(
          "D1054",
          this.o(la.decl(t.name)),
          `type ${t.name} removed`,
          "no action needed: no message uses it any more",
        );
      }
    }
  }

  private messages(): void {
    const { a, b, la, lb } = this;
    const olds = byName(a.messages);
    const news = byName(b.messages);
    for (const m of b.messages) {
      const was = olds.get(m.name);
      const what = `${m.kind} ${m.name}`;
      if (was === undefined) {
        this.add("D1053", this.n(lb.decl(m.name)), `${what} added`, "no action needed");
        continue;
      }
      const here = lb.decl(m.name);
      const there = la.decl(m.name);
      if (was.kind !== m.kind) {
        this.add(
          "D1009",
          this.n(here),
          `${m.name} changed from ${was.kind} to ${m.kind}: its subject changes, so old and new replicas do not reach each other`,
          `declare a new ${m.kind} under a new name, move senders and handlers to it, and remove ${m.name} in a later rollout`,
          there,
        );
        continue;
      }
      this.doc(was.doc, m.doc, what, here, there);
      this.fields(what, m.name, was.fields, m.fields);
      this.result(was, m);
      if (was.handledBy !== undefined && m.handledBy !== undefined && was.handledBy !== m.handledBy) {
        const oldQueue = queueOf(a, was.handledBy, m.name);
        const newQueue = queueOf(b, m.handledBy, m.name);
        if (oldQueue !== newQueue) {
          this.add(
            "D1026",
            this.n(lb.handles(m.handledBy, m.name, "Handles")),
            `${what} moved from service ${was.handledBy} (queue "${oldQueue}") to ${m.handledBy} (queue "${newQueue}"): during the rollout both answer, so a request can run twice`,
            `let ${m.handledBy} join the old queue group for this rollout (handles ${m.name} queue "${oldQueue}"), or stop ${was.handledBy}'s old replicas before ${m.handledBy}'s start`,
            la.handles(was.handledBy, m.name, "Handles"),
          );
        }
      }
      if (was.idempotent && !m.idempotent) {
        this.add(
          "D1027",
          this.n(here),
          `${what} is no longer idempotent: old clients still retry it, and a retry now runs the handler twice`,
          `keep it idempotent until no old client runs, then drop the marker`,
          there,
        );
      } else if (!was.idempotent && m.idempotent) {
        this.add(
          "D1058",
          this.n(here),
          `${what} is now idempotent: new clients may retry it`,
          "no action needed",
          there,
        );
      }
      if ((was.durable === undefined) !== (m.durable === undefined)) {
        const now = m.durable !== undefined;
        this.add(
          "D1023",
          this.n(here),
          `event ${m.name} ${now ? "became durable" : "is no longer durable"}: during the rollout old replicas take it from ${now ? "a plain subscription" : "the stream"} and new ones from ${now ? "the stream" : "a plain subscription"}, so a consuming service can handle one event twice (once per version), at least once in one and at most once in the other`,
          `declare a new event with the new delivery, emit both during the rollout, move consumers, then remove ${m.name}`,
          there,
        );
      } else if (
        was.durable !== undefined &&
        m.durable !== undefined &&
        json(was.durable) !== json(m.durable)
      ) {
        this.add(
          "D1058",
          this.n(here),
          `stream settings of event ${m.name} changed: ${json(was.durable)} → ${json(m.durable)}`,
          "no action needed: the stream is updated in place",
          there,
        );
      }
    }
    for (const m of a.messages) {
      if (news.has(m.name)) continue;
      const users = usersOf(a, m.name);
      if (users.length === 0) {
        this.add(
          "D1054",
          this.o(la.decl(m.name)),
          `${m.kind} ${m.name} removed (nothing used it)`,
          "no action needed",
        );
      } else {
        this.add(
          "D1007",
          this.o(la.decl(m.name)),
          `${m.kind} ${m.name} removed while old replicas still use it (${users.join(", ")})`,
          "first remove its senders, emitters and handlers in one rollout; remove the message in the next",
        );
      }
    }
  }

  private result(was: MessageModel, m: MessageModel): void {
    const { la, lb } = this;
    const what = `${m.kind} ${m.name}`;
    const here = lb.result(m.name);
    const there = la.result(m.name);
    const fix = `add a new ${m.kind} with the new result, move callers to it, and remove ${m.name} in a later rollout`;
    if (was.result === undefined && m.result === undefined) return;
    if (was.result === undefined || m.result === undefined) {
      const message =
        was.result === undefined
          ? `${what} now returns ${show(m.result!)}: old handlers reply with nothing, which new callers reject`
          : `${what} no longer returns ${show(was.result)}: old callers reject the empty reply of new handlers`;
      this.add("D1006", this.n(here), message, fix, there);
      return;
    }
    const c = this.compare(was.result, m.result);
    if (c === "same") return;
    if (c === "widened") {
      this.add(
        "D1051",
        this.n(here),
        `result of ${what} widened from ${show(was.result)} to ${show(m.result)}: old callers reject the values only the new type allows`,
        FIX_LATER,
        there,
      );
      return;
    }
    this.add(
      "D1006",
      this.n(here),
      `result of ${what} changed from ${show(was.result)} to ${show(m.result)}: a reply of one version is rejected by callers of the other`,
      fix,
      there,
    );
  }

  /** Field changes of a message or type; the writer of each field may be either version. */
  private fields(what: string, owner: string, was: readonly FieldModel[], now: readonly FieldModel[]): void {
    const { la, lb } = this;
    const olds = byName(was);
    const news = byName(now);
    const renamed = new Set<string>();
    // A field gone and another one added at the same place with the same type reads as a rename.
    for (let i = 0; i < Math.min(was.length, now.length); i++) {
      const x = was[i]!;
      const y = now[i]!;
      if (news.has(x.name) || olds.has(y.name)) continue;
      if (this.compare(x.type, y.type) !== "same") continue;
      renamed.add(x.name).add(y.name);
      this.add(
        "D1002",
        this.n(lb.field(owner, y.name)),
        `field '${x.name}' of ${what} renamed to '${y.name}': each version drops the other's value`,
        `add '${y.name}' as an optional field next to '${x.name}', write both, move readers over, then remove '${x.name}' in a later rollout`,
        la.field(owner, x.name),
      );
    }
    for (const f of now) {
      const prev = olds.get(f.name);
      if (prev === undefined) {
        if (renamed.has(f.name)) continue;
        if (f.type.optional) {
          this.add(
            "D1050",
            this.n(lb.field(owner, f.name)),
            `optional field '${f.name}' added to ${what}`,
            "no action needed: old replicas ignore it and new ones read its absence",
          );
        } else {
          this.add(
            "D1005",
            this.n(lb.field(owner, f.name)),
            `required field '${f.name}: ${show(f.type)}' added to ${what}: old replicas do not send it, so new ones reject their messages`,
            `add it as optional ('${show({ ...f.type, optional: true })}'), and make it required in a later rollout once every writer sends it`,
          );
        }
        continue;
      }
      this.doc(
        prev.doc,
        f.doc,
        `field '${f.name}' of ${what}`,
        lb.field(owner, f.name),
        la.field(owner, f.name),
      );
      const c = this.compare(prev.type, f.type);
      const here = this.n(lb.fieldType(owner, f.name));
      const there = la.fieldType(owner, f.name);
      const change = `'${f.name}' of ${what} from ${show(prev.type)} to ${show(f.type)}`;
      if (c === "incompatible") {
        this.add(
          "D1003",
          here,
          `type of ${change}: a value one version writes is rejected by the other`,
          `add a new field with the new type, write both during the rollout, and remove '${f.name}' in a later one`,
          there,
        );
      } else if (c === "optional-to-required") {
        this.add(
          "D1004",
          here,
          `field ${change} made required: old replicas may leave it out, and new ones reject that`,
          "keep it optional until every writer of the old version is gone, then make it required in the next rollout",
          there,
        );
      } else if (c === "widened") {
        this.add(
          "D1051",
          here,
          `type of ${change} widened: old values read the same; old replicas reject values only the new type allows`,
          FIX_LATER,
          there,
        );
      }
    }
    for (const f of was) {
      if (news.has(f.name) || renamed.has(f.name)) continue;
      this.add(
        "D1001",
        this.o(la.field(owner, f.name)),
        f.type.optional
          ? `optional field '${f.name}' removed from ${what}: what old replicas write there is silently dropped by new ones`
          : `field '${f.name}' removed from ${what}: old replicas require it, so they reject what new ones send`,
        f.type.optional
          ? `stop writing and reading '${f.name}' in one rollout, then remove it in the next`
          : `make it optional and stop reading it in one rollout, then remove it in the next`,
        lb.decl(owner),
      );
    }
  }

  private services(): void {
    const { a, b, la, lb } = this;
    const olds = byName(a.services);
    const news = byName(b.services);
    for (const s of b.services) {
      const was = olds.get(s.name);
      if (was === undefined) {
        this.add("D1053", this.n(lb.decl(s.name)), `service ${s.name} added`, "no action needed");
        continue;
      }
      this.service(was, s);
    }
    for (const s of a.services) {
      if (!news.has(s.name)) {
        this.add(
          "D1054",
          this.o(la.decl(s.name)),
          `service ${s.name} removed`,
          "no action needed for the service itself; what it handled is reported on each message",
        );
      }
    }
  }

  private service(was: ServiceModel, s: ServiceModel): void {
    const { la, lb } = this;
    const name = s.name;
    const at = (key: string) => this.n(lb.setting(name, key));
    const from = (key: string) => la.setting(name, key);
    this.doc(was.doc, s.doc, `service ${name}`, lb.decl(name), la.decl(name));
    if (was.mode !== s.mode) {
      this.add(
        "D1021",
        at("mode"),
        `service ${name} changed from ${was.mode} to ${s.mode} mode: during the rollout old replicas ${was.mode === "p2p" ? "all serve" : "serve only on their leader"} while new ones ${s.mode === "p2p" ? "all serve" : "serve only on their leader"}`,
        "change the mode with a recreate deploy (scale the old version to zero, then start the new one), not a rolling update",
        from("mode"),
      );
    }
    if (was.replicas !== s.replicas) {
      this.add(
        "D1055",
        at("replicas"),
        `replicas of service ${name}: ${was.replicas} → ${s.replicas}`,
        "no action needed",
        from("replicas"),
      );
    }
    if (was.leaseMs !== undefined && s.leaseMs !== undefined && was.leaseMs !== s.leaseMs) {
      const oldRenew = was.leaseMs / 3;
      if (s.leaseMs < oldRenew) {
        this.add(
          "D1025",
          at("lease"),
          `lease of service ${name} shortened from ${was.leaseMs}ms to ${s.leaseMs}ms, below the ${Math.round(oldRenew)}ms between renewals of the old replicas: while an old replica leads, a failover takes up to ${was.leaseMs}ms, longer than anything sized on the new lease expects`,
          `shorten it in steps, each at least a third of the one before (here: at least ${Math.ceil(oldRenew)}ms), one rollout per step`,
          from("lease"),
        );
      } else {
        this.add(
          "D1058",
          at("lease"),
          `lease of service ${name}: ${was.leaseMs}ms → ${s.leaseMs}ms`,
          "no action needed",
          from("lease"),
        );
      }
    }
    const both = was.mode === "leader" && s.mode === "leader";
    const oldHandles = new Map(was.handles.map((h) => [h.message, h]));
    // One finding per renamed queue, listing its messages: a `handles` line names several.
    const renames = new Map<string, { from: string; to: string; messages: string[] }>();
    for (const h of s.handles) {
      const prev = oldHandles.get(h.message);
      // In leader mode only the leader subscribes: a queue name makes no difference there.
      if (prev === undefined || prev.queue === h.queue || both) continue;
      const key = `${prev.queue}\u0000${h.queue}`;
      const entry = renames.get(key) ?? { from: prev.queue, to: h.queue, messages: [] };
      entry.messages.push(h.message);
      renames.set(key, entry);
    }
    for (const { from: oldQueue, to, messages } of renames.values()) {
      const first = messages[0]!;
      this.add(
        "D1020",
        this.n(lb.queue(name, first)),
        `queue group of service ${name} renamed from "${oldQueue}" to "${to}" (${messages.join(", ")}): old and new replicas each take every request, so it runs twice`,
        `keep queue "${oldQueue}" during the rollout, or stop the old replicas before the new ones start`,
        la.queue(name, first),
      );
    }
    const oldSubs = new Map(was.subscriptions.map((x) => [x.event, x]));
    for (const sub of s.subscriptions) {
      const prev = oldSubs.get(sub.event);
      if (prev === undefined || prev.delivery === sub.delivery || both) continue;
      const label = (d: string) => (d === "group" ? "once per service" : "broadcast");
      this.add(
        "D1022",
        this.n(lb.handles(name, sub.event, "On")),
        `delivery of ${sub.event} to service ${name} changed from ${label(prev.delivery)} to ${label(sub.delivery)}: during the rollout an event reaches ${prev.delivery === "group" ? "one old replica and every new one" : "every old replica and one new one"}`,
        "make the handler correct under both deliveries for the rollout, or stop the old replicas before the new ones start",
        la.handles(name, sub.event, "On"),
      );
    }
    const lists: [string, readonly string[], readonly string[]][] = [
      ["consumes", was.subscriptions.map((x) => x.event), s.subscriptions.map((x) => x.event)],
      ["emits", was.emits, s.emits],
      ["sends", was.sends, s.sends],
      ["runs", was.runs, s.runs],
      [
        "schedules",
        was.schedules.map((j) => `${j.job} every ${j.intervalMs}ms`),
        s.schedules.map((j) => `${j.job} every ${j.intervalMs}ms`),
      ],
    ];
    for (const [verb, before, after] of lists) {
      const added = after.filter((x) => !before.includes(x));
      const removed = before.filter((x) => !after.includes(x));
      if (added.length + removed.length === 0) continue;
      const parts = [
        ...(added.length ? [`now ${verb} ${added.join(", ")}`] : []),
        ...(removed.length ? [`no longer ${verb} ${removed.join(", ")}`] : []),
      ];
      this.add(
        "D1058",
        this.n(lb.decl(name)),
        `service ${name} ${parts.join("; ")}`,
        "no action needed",
        la.decl(name),
      );
    }
    const settings: [string, string, unknown, unknown][] = [
      ["timeout", "timeout", was.timeoutMs, s.timeoutMs],
      ["image", "image", was.image, s.image],
      ["port", "port", was.port, s.port],
      ["handler", "handler", was.handler, s.handler],
      ["env", "env", was.env, s.env],
      ["resources", "resources", was.resources, s.resources],
      ["uses redis", "uses", was.usesRedis, s.usesRedis],
    ];
    for (const [label, key, x, y] of settings) {
      if (json(x) === json(y)) continue;
      this.add(
        "D1058",
        at(key),
        `${label} of service ${name}: ${json(x) ?? "unset"} → ${json(y) ?? "unset"}`,
        "no action needed",
        from(key),
      );
    }
  }

  private sagas(): void {
    const { a, b, la, lb } = this;
    const olds = byName(a.sagas);
    const news = byName(b.sagas);
    for (const g of b.sagas) {
      const was = olds.get(g.name);
      if (was === undefined) {
        this.add("D1053", this.n(lb.decl(g.name)), `saga ${g.name} added`, "no action needed");
        continue;
      }
      this.saga(was, g);
    }
    for (const g of a.sagas) {
      if (news.has(g.name)) continue;
      this.add(
        "D1029",
        this.o(la.decl(g.name)),
        `saga ${g.name} removed: sagas of it still in flight have no runner in the new version`,
        `first stop starting it (remove its trigger) and wait until none is in flight ('catga sagas'), then remove it`,
      );
    }
  }

  private saga(was: SagaModel, g: SagaModel): void {
    const { la, lb } = this;
    const here = lb.decl(g.name);
    const there = la.decl(g.name);
    this.doc(was.doc, g.doc, `saga ${g.name}`, here, there);
    if (was.runBy !== g.runBy) {
      this.add(
        "D1028",
        this.n(here),
        `saga ${g.name} moved from service ${was.runBy} to ${g.runBy}: sagas in flight are kept in ${was.runBy}'s Redis scope, which ${g.runBy} does not resume`,
        `let the sagas in flight finish ('catga sagas') before moving it, or keep ${was.runBy} as the runner`,
        there,
      );
    }
    if (json(was.trigger) !== json(g.trigger)) {
      this.add(
        "D1058",
        this.n(here),
        `saga ${g.name} now starts on ${g.trigger.kind} ${g.trigger.name} (was ${was.trigger.kind} ${was.trigger.name})`,
        "no action needed: sagas in flight are not affected",
        there,
      );
    }
    const before = was.steps.map((s) => s.command);
    const after = g.steps.map((s) => s.command);
    const common = Math.min(before.length, after.length);
    let first = 0;
    while (first < common && before[first] === after[first]) first++;
    if (first < before.length) {
      const span = first < after.length ? this.n(lb.step(g.name, first)) : this.n(here);
      this.add(
        "D1024",
        span,
        `steps of saga ${g.name} changed at step ${first + 1} (${before.join(", ")} → ${after.join(", ")}): a saga in flight resumes by step number, so it would run or compensate the wrong step`,
        `add a new saga with the new steps and start new work there; remove ${g.name} once none of it is in flight ('catga sagas')`,
        la.step(g.name, first),
      );
      return;
    }
    if (after.length > before.length) {
      this.add(
        "D1057",
        this.n(lb.step(g.name, before.length)),
        `step${after.length - before.length > 1 ? "s" : ""} ${after.slice(before.length).join(", ")} appended to saga ${g.name}`,
        "no action needed: sagas in flight run the new last steps too",
        there,
      );
    }
    for (let i = 0; i < common; i++) {
      if (json(was.steps[i]) === json(g.steps[i])) continue;
      this.add(
        "D1058",
        this.n(lb.step(g.name, i)),
        `step ${i + 1} of saga ${g.name} changed: ${json(was.steps[i])} → ${json(g.steps[i])}`,
        "no action needed: the step's command stays the same",
        la.step(g.name, i),
      );
    }
  }

  private doc(was: string | undefined, now: string | undefined, what: string, here: Span, there: Span): void {
    if (was === now) return;
    this.add("D1056", this.n(here), `doc comment of ${what} changed`, "no action needed", there);
  }

  /** How a value written as `x` (one version) reads as `y` (the other). */
  private compare(x: TypeUse, y: TypeUse): Compat {
    const base = this.base(x, y, new Set());
    if (base === "incompatible") return base;
    if (x.optional && !y.optional) return "optional-to-required";
    if (!x.optional && y.optional) return "widened";
    return base;
  }

  private base(x: TypeUse, y: TypeUse, seen: Set<string>): Compat {
    if (x.listDepth !== y.listDepth || x.kind !== y.kind) return "incompatible";
    if (x.kind === "builtin") {
      if (x.name === y.name) return "same";
      return x.name === "int" && y.name === "float" ? "widened" : "incompatible";
    }
    // Same name: changes inside the declaration are reported on the declaration itself.
    if (x.name === y.name) return "same";
    if (x.kind === "enum") {
      const before = this.a.enums.find((e) => e.name === x.name)?.members.map((m) => m.name) ?? [];
      const after = new Set(this.b.enums.find((e) => e.name === y.name)?.members.map((m) => m.name) ?? []);
      if (!before.every((m) => after.has(m))) return "incompatible";
      return after.size === before.length ? "same" : "widened";
    }
    // A renamed record: the wire carries field names, not type names, so equal fields read the same.
    const key = `${x.name}\u0000${y.name}`;
    if (seen.has(key)) return "same";
    seen.add(key);
    const before = this.a.types.find((t) => t.name === x.name)?.fields ?? [];
    const after = this.b.types.find((t) => t.name === y.name)?.fields ?? [];
    if (before.length !== after.length) return "incompatible";
    for (let i = 0; i < before.length; i++) {
      const f = before[i]!;
      const g = after[i]!;
      if (f.name !== g.name || f.type.optional !== g.type.optional) return "incompatible";
      if (this.base(f.type, g.type, seen) !== "same") return "incompatible";
    }
    return "same";
  }
}

function byName<T extends { name: string }>(list: readonly T[]): Map<string, T> {
  return new Map(list.map((x) => [x.name, x]));
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

/** `OrderItem[]?` as written in a `.catga` file. */
function show(t: TypeUse): string {
  return `${t.name}${"[]".repeat(t.listDepth)}${t.optional ? "?" : ""}`;
}

function queueOf(model: TopologyModel, service: string, message: string): string {
  const s = model.services.find((x) => x.name === service);
  return s?.handles.find((h) => h.message === message)?.queue ?? service;
}

/** Who uses a message in a model, for the report of its removal. */
function usersOf(model: TopologyModel, message: string): string[] {
  const users: string[] = [];
  for (const s of model.services) {
    if (s.handles.some((h) => h.message === message)) users.push(`${s.name} handles it`);
    if (s.subscriptions.some((x) => x.event === message)) users.push(`${s.name} consumes it`);
    if (s.sends.includes(message)) users.push(`${s.name} sends it`);
    if (s.emits.includes(message)) users.push(`${s.name} emits it`);
  }
  for (const g of model.sagas) {
    if (g.trigger.name === message) users.push(`saga ${g.name} starts on it`);
    if (g.steps.some((s) => s.command === message || s.compensate === message))
      users.push(`saga ${g.name} runs it`);
  }
  return users;
}
