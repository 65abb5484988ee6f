/**
 * The TypeScript emitter: `messages.ts` (message types, zod schemas, descriptors), `services.ts`
 * (one typed definer per service) and `client.ts` (the entry: the `connect<Topology>` client, and a
 * re-export of everything else by name).
 *
 * The generated code is thin on purpose: validation, requests, subscriptions and the lowering of
 * handlers live in the runtime (`@catga/runtime`), tested once; the generated lines only fix the types,
 * so the TypeScript compiler checks every handler, context and saga mapping against the topology.
 * Name and subject conventions come from `_names.ts`, schema ids and deadlines from the wiring, so
 * the client and the wiring cannot disagree.
 */
import type { Wiring } from "../../runtime/wiring.js";
import type {
  FieldModel,
  HandlerModel,
  MessageModel,
  SagaModel,
  ServiceModel,
  TopologyModel,
  TypeModel,
  TypeUse,
} from "../model.js";
import { type EmitOptions, type EmittedFile, generatedHeader } from "./_files.js";
import { messageSubject, redisHashTag } from "./_names.js";
import { assembleWiring } from "./wiring.js";

/** The module specifier generated code imports the runtime from. */
export const RUNTIME_MODULE = "@catga/runtime";

/** Options of {@link emitTypeScript}. */
export interface TypeScriptEmitOptions extends EmitOptions {
  /**
   * The wiring of the same model (from `buildWiring`), which schema ids, deadlines and handler paths
   * are read from. `emitAll` passes the one it writes to wiring.json, so the wiring is assembled once
   * per build rather than once per emitter.
   * @default assembled from the model
   */
  wiring?: Wiring;
}

/** Emits `client.ts` (the entry), `messages.ts` and `services.ts`, sorted by path. */
export function emitTypeScript(model: TopologyModel, options: TypeScriptEmitOptions): EmittedFile[] {
  const g = new Generator(model, options);
  return [
    { path: "client.ts", content: g.clientFile() },
    { path: "messages.ts", content: g.messagesFile() },
    { path: "services.ts", content: g.servicesFile() },
  ];
}

/** `CreateOrder` → `createOrder`, `URLFetch` → `urlFetch`, `ID` → `id`: member names of generated objects. */
export function camelCase(name: string): string {
  const run = /^[A-Z]+/.exec(name)?.[0].length ?? 0;
  if (run <= 1) return name.charAt(0).toLowerCase() + name.slice(1);
  const cut = run === name.length || !/[a-z]/.test(name.charAt(run)) ? run : run - 1;
  return name.slice(0, cut).toLowerCase() + name.slice(cut);
}

/** `shop` → `Shop`, `order` → `Order`: the part of generated type and function names. */
export function pascalCase(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/**
 * Member names for declared names: camelCase, except where two names (or a reserved member) would
 * meet; those keep their declared spelling, which is unique.
 */
export function memberNames(names: readonly string[], reserved: readonly string[] = []): Map<string, string> {
  const count = new Map<string, number>();
  for (const n of reserved) count.set(camelCase(n), (count.get(camelCase(n)) ?? 0) + 1);
  const camel = names.map(camelCase);
  for (const c of camel) count.set(c, (count.get(c) ?? 0) + 1);
  return new Map(names.map((n, i) => [n, (count.get(camel[i]!) ?? 0) > 1 ? n : camel[i]!]));
}

/** A TSDoc block at `indent`, or nothing when there is no text. `*\/` in user text cannot end it early. */
function docBlock(parts: readonly (string | undefined)[], indent = ""): string[] {
  const lines: string[] = [];
  for (const part of parts) {
    if (part === undefined) continue;
    if (lines.length > 0) lines.push("");
    const text = part.includes("*/") ? part.replace(/\*\//g, "*\\/") : part;
    if (text.includes("\n")) lines.push(...text.split("\n"));
    else lines.push(text);
  }
  if (lines.length === 0) return [];
  if (lines.length === 1) return [`${indent}/** ${lines[0]} */`];
  return [
    `${indent}/**`,
    ...lines.map((l) => (l === "" ? `${indent} *` : `${indent} * ${l}`)),
    `${indent} */`,
  ];
}

/** A one-parameter signature on one line, or on three when it would pass 110 columns. */
function signature(open: string, parameter: string, close: string): string[] {
  const line = `${open}${parameter}${close}`;
  return line.length <= 110 ? [line] : [open, `  ${parameter},`, close];
}

/** Lines of one paragraph. */
function para(...text: string[]): string {
  return text.join("\n");
}

/** `5000` → `5 s`, `250` → `250 ms`: deadlines in doc comments. */
function duration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** An import statement; one name per line when it would not fit in 110 columns. */
function importStatement(names: Iterable<string>, from: string, keyword = "import"): string[] {
  // Sort keys computed once per name, not per comparison: the entry file re-exports every generated
  // name, thousands on a large topology.
  const keyed = [...new Set(names)].map((n) => ({ n, k: withoutType(n).toLowerCase() }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
  const sorted = keyed.map((x) => x.n);
  if (sorted.length === 0) return [];
  const line = `${keyword} { ${sorted.join(", ")} } from "${from}";`;
  if (line.length <= 110) return [line];
  // One string, as the file joins its lines: an entry file re-exports thousands of names.
  return [`${keyword} {\n  ${sorted.join(",\n  ")},\n} from "${from}";`];
}

/** `type X` → `X`: an import or export name without its `type` marker. */
function withoutType(name: string): string {
  return name.startsWith("type ") ? name.slice(5) : name;
}

/** The names one generated file imports, by module, each marked as a type or a value. */
class Imports {
  private readonly byModule = new Map<string, Map<string, boolean>>();

  /** Records `name` from `from`; a name used as a value anywhere is imported as a value. */
  add(from: string, name: string, isType: boolean): void {
    let names = this.byModule.get(from);
    if (names === undefined) {
      names = new Map<string, boolean>();
      this.byModule.set(from, names);
    }
    // Only a first use, or a first use as a value, changes the record.
    if (!isType ? names.get(name) !== false : !names.has(name)) names.set(name, isType);
  }

  type(from: string, name: string): string {
    this.add(from, name, true);
    return name;
  }

  value(from: string, name: string): string {
    this.add(from, name, false);
    return name;
  }

  /** Import statements: external modules first, then relative ones, each sorted. */
  render(): string[] {
    const modules = [...this.byModule.keys()].sort((a, b) => {
      const ra = a.startsWith(".") ? 1 : 0;
      const rb = b.startsWith(".") ? 1 : 0;
      return ra - rb || (a < b ? -1 : a > b ? 1 : 0);
    });
    return modules.flatMap((m) => {
      const names = this.byModule.get(m) ?? new Map<string, boolean>();
      const all = [...names.entries()];
      if (all.every(([, isType]) => isType)) {
        return importStatement(
          all.map(([n]) => n),
          m,
          "import type",
        );
      }
      return importStatement(
        all.map(([n, isType]) => (isType ? `type ${n}` : n)),
        m,
      );
    });
  }
}

const RT = RUNTIME_MODULE;
const MESSAGES = "./messages.js";
const SERVICES = "./services.js";

/** The runtime errors every generated client re-exports, so users need one import. */
const RUNTIME_ERRORS = [
  "CatgaError",
  "DomainError",
  "InvalidMessageError",
  "NoRespondersError",
  "NotLeaderError",
  "PayloadTooLargeError",
  "TimeoutError",
];

/** The runtime types a client user needs in signatures, re-exported beside the errors. */
const RUNTIME_TYPES = [
  "CallOptions",
  "ClientOptions",
  "EventInfo",
  "MessageBus",
  "ServiceDefinition",
  "SubscribeOptions",
  "Subscription",
];

const WIRE_FORMAT_DOC = [
  "Wire format (JSON): a `timestamp` is an ISO-8601 string on the wire (`Z` or an offset) and a `Date`",
  "in TypeScript; an optional field (`T?`) is absent on the wire (`null` is accepted too, from other",
  "producers) and `undefined` in TypeScript; an optional result (`-> T?`) is `null` when there is",
  "nothing; a command without a result replies `null` and resolves to `undefined`. Unknown fields are",
  "dropped when parsing, so an older reader tolerates a newer writer's additions.",
].join("\n");

/** Step member names: camelCase command names; a command used again gets its step number. */
export function sagaStepKeys(saga: SagaModel): string[] {
  const seen = new Set<string>();
  return saga.steps.map((step, i) => {
    const key = camelCase(step.command);
    const unique = seen.has(key) ? `${key}${i + 1}` : key;
    seen.add(unique);
    return unique;
  });
}

class Generator {
  private readonly t: string;
  private readonly wiring: Wiring;
  private readonly messagesByName: Map<string, MessageModel>;
  private readonly sagasByName: Map<string, SagaModel>;

  constructor(
    private readonly model: TopologyModel,
    private readonly options: TypeScriptEmitOptions,
  ) {
    this.t = model.name;
    this.wiring = options.wiring ?? assembleWiring(model, options);
    this.messagesByName = new Map(model.messages.map((m) => [m.name, m]));
    this.sagasByName = new Map(model.sagas.map((s) => [s.name, s]));
  }

  private header(): string {
    return generatedHeader(this.options.sourceName, "//");
  }

  private message(name: string): MessageModel {
    const m = this.messagesByName.get(name);
    if (m === undefined) throw new Error(`catgac bug: unknown message '${name}' in a resolved model`);
    return m;
  }

  // ---------------------------------------------------------------- messages.ts

  messagesFile(): string {
    const imports = new Imports();
    imports.add("zod", "z", false);
    const body: string[] = [];
    const helpers = { timestamp: false, optional: false, nothing: false };
    const uses = (t: TypeUse) => {
      if (t.kind === "builtin" && t.name === "timestamp") helpers.timestamp = true;
    };

    for (const e of this.model.enums) {
      const lines = [
        ...docBlock([e.doc]),
        `export const ${e.name} = {`,
        ...e.members.flatMap((m) => [...docBlock([m.doc], "  "), `  ${m.name}: ${JSON.stringify(m.name)},`]),
        "} as const;",
        "",
        ...docBlock([e.doc]),
        `export type ${e.name} = (typeof ${e.name})[keyof typeof ${e.name}];`,
        "",
        `/** The schema of {@link ${e.name}}. */`,
        `export const ${e.name}Schema = z.enum(${e.name});`,
      ];
      body.push("", lines.join("\n"));
    }

    const emitted = new Set<string>();
    for (const type of this.typesInDependencyOrder()) {
      for (const f of type.fields) {
        uses(f.type);
        if (f.type.optional) helpers.optional = true;
      }
      body.push("", this.record(type.name, type.doc, type.fields, emitted).join("\n"));
      emitted.add(type.name);
    }

    for (const m of this.model.messages) {
      for (const f of m.fields) {
        uses(f.type);
        if (f.type.optional) helpers.optional = true;
      }
      if (m.result) uses(m.result);
      if (m.kind !== "event" && m.result === undefined) helpers.nothing = true;
      body.push("", this.record(m.name, m.doc, m.fields, emitted).join("\n"));
    }

    body.push(
      "",
      ...docBlock([
        `Every command, query and event of \`${this.t}\`, in declaration order: subject, schemas and the\n` +
          "declared defaults. Pass one to the runtime where it asks for a message.",
      ]),
      "export const messages = {",
    );
    for (const m of this.model.messages) {
      const w = this.wiring.messages[m.name];
      const schemaId = w?.schemaId ?? "";
      const lines = docBlock([m.doc], "  ");
      if (m.kind === "event") {
        lines.push(
          `  ${m.name}: ${imports.value(RT, "eventSpec")}<${m.name}>({`,
          `    name: ${JSON.stringify(m.name)},`,
          `    kind: "event",`,
          `    subject: ${JSON.stringify(messageSubject(this.t, m))},`,
          `    schemaId: ${JSON.stringify(schemaId)},`,
          ...(w?.durable ? [`    durable: { stream: ${JSON.stringify(w.durable.stream)} },`] : []),
          `    payload: ${m.name}Schema,`,
          "  }),",
        );
      } else {
        lines.push(
          `  ${m.name}: ${imports.value(RT, "requestSpec")}<${m.name}, ${this.resultType(m)}>({`,
          `    name: ${JSON.stringify(m.name)},`,
          `    kind: ${JSON.stringify(m.kind)},`,
          `    subject: ${JSON.stringify(messageSubject(this.t, m))},`,
          `    schemaId: ${JSON.stringify(schemaId)},`,
          `    idempotent: ${m.idempotent},`,
          `    timeoutMs: ${w?.timeoutMs ?? 0},`,
          `    request: ${m.name}Schema,`,
          `    result: ${this.resultSchema(m, emitted)},`,
          "  }),",
        );
      }
      body.push(lines.join("\n"));
    }
    body.push("} as const;");

    const prelude: string[] = [];
    if (helpers.timestamp) {
      prelude.push(
        "",
        ...docBlock([
          "`timestamp`: an ISO-8601 string on the wire, with `Z` or an offset (what `JSON.stringify` makes of\n" +
            "a `Date`); a `Date` in TypeScript. Accepts both, so one schema checks outgoing and incoming values.",
        ]),
        "const timestamp = z",
        "  .preprocess(",
        "    (value) => (value instanceof Date && !Number.isNaN(value.getTime()) ? value.toISOString() : value),",
        '    z.iso.datetime({ offset: true, error: "expected a valid Date or an ISO-8601 timestamp" }),',
        "  )",
        "  .transform((text) => new Date(text));",
      );
    }
    if (helpers.optional) {
      prelude.push(
        "",
        "/** `T?`: absent or `null` on the wire, `undefined` in TypeScript. */",
        "function optional<T extends z.ZodType>(schema: T) {",
        "  return schema",
        "    .nullable()",
        "    .transform((value) => value ?? undefined)",
        "    .optional();",
        "}",
      );
    }
    if (helpers.nothing) {
      prelude.push(
        "",
        "/** The reply of a command without a result: `null` on the wire, `undefined` in TypeScript. */",
        "const nothing = z.null().transform(() => undefined);",
      );
    }

    return [
      this.header(),
      ...docBlock([
        `Message types, zod schemas and descriptors of topology \`${this.t}\`.`,
        this.model.doc,
        WIRE_FORMAT_DOC,
      ]),
      ...imports.render(),
      ...prelude,
      ...body,
      "",
    ].join("\n");
  }

  /** Types ordered so each schema follows the schemas it uses; what a cycle reaches back to is lazy. */
  private typesInDependencyOrder(): TypeModel[] {
    const byName = new Map(this.model.types.map((t) => [t.name, t]));
    const done = new Set<string>();
    const order: TypeModel[] = [];
    const visit = (t: TypeModel) => {
      if (done.has(t.name)) return;
      done.add(t.name);
      for (const f of t.fields) {
        const dep = f.type.kind === "type" ? byName.get(f.type.name) : undefined;
        if (dep) visit(dep);
      }
      order.push(t);
    };
    for (const t of this.model.types) visit(t);
    return order;
  }

  /** An interface and its schema. */
  private record(name: string, doc: string | undefined, fields: readonly FieldModel[], emitted: Set<string>) {
    const lines = [...docBlock([doc]), `export interface ${name} {`];
    for (const f of fields) {
      lines.push(...docBlock([f.doc], "  "));
      lines.push(
        f.type.optional
          ? `  ${f.name}?: ${this.tsType(f.type)} | undefined;`
          : `  ${f.name}: ${this.tsType(f.type)};`,
      );
    }
    lines.push(
      "}",
      "",
      `/** The schema of {@link ${name}}: accepts the TypeScript value and its JSON form. */`,
    );
    const schemaFields = fields.map((f) => {
      const inner = this.schema(f.type, name, emitted);
      return `  ${f.name}: ${f.type.optional ? `optional(${inner})` : inner},`;
    });
    if (schemaFields.length === 0)
      lines.push(`export const ${name}Schema: z.ZodType<${name}> = z.object({});`);
    else lines.push(`export const ${name}Schema: z.ZodType<${name}> = z.object({`, ...schemaFields, "});");
    return lines;
  }

  /** The TypeScript type of a type use, without its optionality. */
  private tsType(t: TypeUse): string {
    const base =
      t.kind !== "builtin"
        ? t.name
        : { string: "string", int: "number", float: "number", bool: "boolean", timestamp: "Date" }[t.name];
    return base + "[]".repeat(t.listDepth);
  }

  /**
   * The zod schema of a type use, without its optionality. A type not yet declared above (a cycle,
   * or the record itself) is referenced lazily: its constant does not exist yet when this one is built.
   */
  private schema(t: TypeUse, owner: string | undefined, emitted: Set<string>): string {
    let s: string;
    if (t.kind === "builtin") {
      s = {
        string: "z.string()",
        int: "z.number().int()",
        float: "z.number()",
        bool: "z.boolean()",
        timestamp: "timestamp",
      }[t.name];
    } else if (t.kind === "type" && (t.name === owner || !emitted.has(t.name))) {
      s = `z.lazy(() => ${t.name}Schema)`;
    } else {
      s = `${t.name}Schema`;
    }
    for (let i = 0; i < t.listDepth; i++) s = `z.array(${s})`;
    return s;
  }

  /** The TypeScript type of a command's or query's reply. */
  private resultType(m: MessageModel): string {
    if (m.result === undefined) return "void";
    return m.result.optional ? `${this.tsType(m.result)} | null` : this.tsType(m.result);
  }

  private resultSchema(m: MessageModel, emitted: Set<string>): string {
    if (m.result === undefined) return "nothing";
    const s = this.schema(m.result, undefined, emitted);
    return m.result.optional ? `${s}.nullable()` : s;
  }

  /** Records a message-file type name used by `t` (declared types, enums) in `imports`. */
  private useType(imports: Imports, t: TypeUse | undefined): void {
    if (t !== undefined && t.kind !== "builtin") imports.type(MESSAGES, t.name);
  }

  /** The reply type of `m` as another file writes it, recording the imports it needs. */
  private importedResultType(imports: Imports, m: MessageModel): string {
    this.useType(imports, m.result);
    return this.resultType(m);
  }

  // ---------------------------------------------------------------- client.ts

  clientFile(): string {
    const imports = new Imports();
    const T = pascalCase(this.t);
    const requests = this.model.messages.filter((m) => m.kind !== "event");
    const events = this.model.messages.filter((m) => m.kind === "event");
    const requestMembers = memberNames(
      requests.map((m) => m.name),
      ["bus", "on"],
    );
    const eventMembers = memberNames(events.map((m) => m.name));

    const iface: string[] = [
      ...docBlock([
        para(
          `The client of topology \`${this.t}\`: one method per command and query, and typed subscriptions`,
          "to its events. Inputs are validated before anything is sent, replies before they are returned",
          "(both throw `InvalidMessageError`).",
        ),
      ]),
      `export interface ${T}Client {`,
      "  /** The bus this client talks through: close it when you are done. */",
      `  readonly bus: ${imports.type(RT, "MessageBus")};`,
    ];
    for (const m of requests) {
      const w = this.wiring.messages[m.name];
      const facts = [
        `${m.kind === "command" ? "Command" : "Query"} \`${m.name}\`, handled by \`${m.handledBy ?? "?"}\``,
        m.idempotent ? "idempotent (retried within the deadline)" : undefined,
        w?.timeoutMs === undefined ? undefined : `default deadline ${duration(w.timeoutMs)}`,
      ].filter((x) => x !== undefined);
      imports.type(MESSAGES, m.name);
      iface.push(
        [
          ...docBlock([m.doc, `${facts.join("; ")}.`], "  "),
          `  ${requestMembers.get(m.name)}(input: ${m.name}, options?: ${imports.type(RT, "CallOptions")}): Promise<${this.importedResultType(imports, m)}>;`,
        ].join("\n"),
      );
    }
    iface.push("  /** Typed subscriptions, one per event of the topology. */");
    if (events.length === 0) iface.push("  readonly on: {};");
    else {
      iface.push("  readonly on: {");
      for (const e of events) {
        imports.type(MESSAGES, e.name);
        const handler = `handler: ${imports.type(RT, "EventHandler")}<${e.name}>`;
        const options = `options?: ${imports.type(RT, "SubscribeOptions")}`;
        const returns = imports.type(RT, "Subscription");
        const member = eventMembers.get(e.name) ?? e.name;
        const oneLine = `    ${member}(${handler}, ${options}): ${returns};`;
        iface.push(
          [
            ...docBlock(
              [e.doc, `Event \`${e.name}\`: each subscription receives every event unless it names a queue.`],
              "    ",
            ),
            ...(oneLine.length <= 110
              ? [oneLine]
              : [`    ${member}(`, `      ${handler},`, `      ${options},`, `    ): ${returns};`]),
          ].join("\n"),
        );
      }
      iface.push("  };");
    }
    iface.push("}");

    const envOptions = imports.type(RT, "EnvClientOptions");
    const fn: string[] = [
      "",
      ...docBlock([
        para(
          `Connects a client of topology \`${this.t}\`. Given a bus from the runtime (\`connectNats(...)\`, or`,
          "`memoryBus(hub)` in one process), it returns the client at once; the client does not own the",
          "bus: close the bus when done. Without a bus it connects to NATS the same way in every",
          "environment (`connectFromEnv`): from `CATGA_NATS_URLS` and the `client` user's credentials and",
          "TLS files as the emitted compose and Kubernetes files define them, or else to the local cluster",
          "`catga up` started in the working directory (or a parent); it resolves with a client that owns",
          `its bus: close it with \`await ${camelCase(this.t)}.bus.close()\`.`,
        ),
        "@param options Defaults for every call; a call's own options win.",
      ]),
      `export function connect${T}(bus: MessageBus, options?: ${imports.type(RT, "ClientOptions")}): ${T}Client;`,
      `export function connect${T}(options?: ${envOptions}): Promise<${T}Client>;`,
      `export function connect${T}(`,
      `  first?: MessageBus | ${envOptions},`,
      "  options: ClientOptions = {},",
      `): ${T}Client | Promise<${T}Client> {`,
      `  if (first !== undefined && "request" in first) return clientOnBus(first, options);`,
      `  const connecting = ${imports.value(RT, "connectFromEnv")}({ ...first, topology: ${JSON.stringify(this.t)} });`,
      "  return connecting.then((bus) => clientOnBus(bus, first ?? {}));",
      "}",
      "",
      `function clientOnBus(bus: MessageBus, options: ClientOptions): ${T}Client {`,
    ];
    if (requests.length > 0) fn.push(`  const call = ${imports.value(RT, "requester")}(bus, options);`);
    if (events.length > 0) fn.push(`  const listen = ${imports.value(RT, "subscriber")}(bus);`);
    if (requests.length > 0 || events.length > 0) imports.value(MESSAGES, "messages");
    // Without requests nothing reads the options; naming them keeps the signature uniform.
    if (requests.length === 0) fn.push("  void options;");
    fn.push("  return {", "    bus,");
    for (const m of requests) fn.push(`    ${requestMembers.get(m.name)}: call(messages.${m.name}),`);
    if (events.length === 0) fn.push("    on: {},");
    else {
      fn.push("    on: {");
      for (const e of events) fn.push(`      ${eventMembers.get(e.name)}: listen(messages.${e.name}),`);
      fn.push("    },");
    }
    fn.push("  };", "}");

    // Re-exports: the entry gives users every generated name and the runtime errors by name.
    const messageExports = [
      ...this.model.enums.flatMap((e) => [e.name, `${e.name}Schema`]),
      ...this.model.types.flatMap((x) => [`type ${x.name}`, `${x.name}Schema`]),
      ...this.model.messages.flatMap((x) => [`type ${x.name}`, `${x.name}Schema`]),
      "messages",
    ];
    const serviceExports = this.serviceExportNames();
    // A runtime name that a declaration or a generated name already uses is left out rather than
    // shadowing it: users can still import it from the runtime.
    const generated = [...messageExports, ...serviceExports, `${T}Client`, `connect${T}`];
    const taken = new Set(generated.map(withoutType));
    const free = (n: string) => !taken.has(n);
    const runtimeExports = [
      ...RUNTIME_ERRORS.filter(free),
      ...RUNTIME_TYPES.filter(free).map((n) => `type ${n}`),
    ];

    return [
      this.header(),
      ...docBlock([
        para(
          `The typed client of topology \`${this.t}\`, and the entry of the generated code: it re-exports the`,
          "message types, schemas and descriptors (`messages.ts`), the service definers (`services.ts`) and",
          "the runtime's errors, so one import serves an application.",
        ),
        this.model.doc,
        [
          "@example",
          "```ts",
          `const ${camelCase(this.t)} = await connect${T}(); // or connect${T}(bus), with a bus of your own`,
          ...this.exampleLines(requests, events, requestMembers, eventMembers),
          "```",
        ].join("\n"),
      ]),
      ...imports.render(),
      "",
      ...importStatement(runtimeExports, RT, "export"),
      ...importStatement(messageExports, MESSAGES, "export"),
      ...importStatement(serviceExports, SERVICES, "export"),
      "",
      ...iface,
      ...fn,
      "",
    ].join("\n");
  }

  private exampleLines(
    requests: MessageModel[],
    events: MessageModel[],
    requestMembers: Map<string, string>,
    eventMembers: Map<string, string>,
  ): string[] {
    const c = camelCase(this.t);
    const lines: string[] = [];
    const first = requests[0];
    if (first) lines.push(`const reply = await ${c}.${requestMembers.get(first.name)}({ … });`);
    const event = events[0];
    if (event) {
      lines.push(
        `const sub = ${c}.on.${eventMembers.get(event.name)}((event, info) => console.log(event, info.messageId));`,
      );
    }
    return lines;
  }

  // ---------------------------------------------------------------- services.ts

  /** The generated names of services.ts, as the entry re-exports them. */
  private serviceExportNames(): string[] {
    const names: string[] = [];
    for (const saga of this.model.sagas) names.push(`type ${saga.name}Saga`);
    for (const s of this.model.services) {
      const S = pascalCase(s.name);
      names.push(`type ${S}Context`, `type ${S}Definition`, `type ${S}Emit`, `type ${S}Send`, `define${S}`);
      // Handler modules import everything from the entry file, their keys' scope included.
      if (s.usesRedis) names.push(`${camelCase(s.name)}RedisScope`);
    }
    return names;
  }

  servicesFile(): string {
    const imports = new Imports();
    const body: string[] = [];
    // Each declaration is joined as soon as it is written (the file is joined with the same "\n"):
    // one string per declaration instead of every line kept alive until the end of the file.
    for (const saga of this.model.sagas) body.push("", this.sagaMapping(imports, saga).join("\n"));
    for (const s of this.model.services) body.push("", this.service(imports, s).join("\n"));
    return [
      this.header(),
      ...docBlock([
        para(
          `Service definers of topology \`${this.t}\`: for each service, the context its handlers receive (it`,
          "can emit only the events the service declares in `emits` and send only the messages in `sends`),",
          "the handlers, event handlers, jobs and saga mappings it must provide, and `define<Service>`, which",
          "lowers them to the `ServiceDefinition` the runtime host runs. Export that as the default of the",
          "service's handler module.",
        ),
      ]),
      ...imports.render(),
      ...body,
      "",
    ].join("\n");
  }

  /** The typed mapping of a saga and its private lowering function. */
  private sagaMapping(imports: Imports, saga: SagaModel): string[] {
    const trigger = this.message(saga.trigger.name);
    imports.type(MESSAGES, trigger.name);
    const stepKeys = this.stepKeys(saga);
    const lines = [
      ...docBlock([
        saga.doc,
        para(
          `How saga \`${saga.name}\` maps onto its commands; run by the leader of \`${saga.runBy}\`, started by`,
          `${saga.trigger.kind} \`${trigger.name}\`.`,
        ),
        [
          "@typeParam State The saga's state. It is persisted (as JSON) after every step and read back when a",
          "new leader resumes the saga: keep it plain JSON, with timestamps as ISO strings.",
        ].join("\n"),
      ]),
      `export interface ${saga.name}Saga<State> {`,
      `  /** The first state, from the \`${trigger.name}\` that starts the saga. */`,
      `  start(trigger: ${trigger.name}, saga: ${imports.type(RT, "SagaInfo")}): State;`,
    ];
    const replies = trigger.kind === "command" && trigger.result !== undefined;
    if (replies) {
      lines.push(
        ...docBlock(
          [
            para(
              `The reply to \`${trigger.name}\`, sent as soon as the saga has started (its first state is`,
              "persisted), not when it ends: the caller learns that the saga was accepted.",
            ),
          ],
          "  ",
        ),
        `  reply(state: State, saga: SagaInfo): ${this.importedResultType(imports, trigger)};`,
      );
    }
    lines.push(
      "  /** Each step's command input built from the state, and its result folded back in, in order. */",
      "  readonly steps: {",
    );
    const lowered: string[] = [];
    saga.steps.forEach((step, i) => {
      const command = this.message(step.command);
      const key = stepKeys[i] ?? camelCase(step.command);
      imports.type(MESSAGES, command.name);
      const deadline = step.timeoutMs ?? this.wiring.messages[command.name]?.timeoutMs;
      const how = step.compensate === undefined ? "irreversible" : `compensated by \`${step.compensate}\``;
      lines.push(
        `    /** Step ${i + 1}: \`${command.name}\`, ${how}${deadline === undefined ? "" : `; deadline ${duration(deadline)}`}. */`,
      );
      const result = this.importedResultType(imports, command);
      if (step.compensate === undefined) {
        lines.push(
          `    readonly ${key}: ${imports.type(RT, "IrreversibleSagaStep")}<State, ${command.name}, ${result}>;`,
        );
        lowered.push(
          `    ${imports.value(RT, "irreversibleSagaStep")}(messages.${command.name}, saga.steps.${key}),`,
        );
      } else {
        imports.type(MESSAGES, step.compensate);
        lines.push(
          `    readonly ${key}: ${imports.type(RT, "SagaStep")}<State, ${command.name}, ${result}, ${step.compensate}>;`,
        );
        lowered.push(
          `    ${imports.value(RT, "sagaStep")}(messages.${command.name}, saga.steps.${key}, messages.${step.compensate}),`,
        );
      }
    });
    lines.push("  };", "}");
    imports.value(MESSAGES, "messages");
    const lower = imports.value(RT, saga.trigger.kind === "event" ? "eventSaga" : "commandSaga");
    lines.push(
      "",
      `function lower${saga.name}<State>(saga: ${saga.name}Saga<State>): ${imports.type(RT, "SagaDefinition")} {`,
      `  return ${lower}(${JSON.stringify(saga.name)}, messages.${trigger.name}, saga, [`,
      ...lowered,
      "  ]);",
      "}",
    );
    return lines;
  }

  private stepKeys(saga: SagaModel): string[] {
    return sagaStepKeys(saga);
  }

  /** The emit/send/context types, the definition interface and the definer of one service. */
  private service(imports: Imports, s: ServiceModel): string[] {
    const S = pascalCase(s.name);
    const leader = s.mode === "leader";
    const emits = memberNames(s.emits);
    const sends = memberNames(s.sends);
    const lines: string[] = [];

    lines.push(
      `/** The events service \`${s.name}\` may emit: exactly those it declares in \`emits\`. */`,
      s.emits.length === 0 ? `export interface ${S}Emit {}` : `export interface ${S}Emit {`,
    );
    for (const e of s.emits) {
      imports.type(MESSAGES, e);
      lines.push(...docBlock([this.message(e).doc], "  "), `  ${emits.get(e)}(event: ${e}): Promise<void>;`);
    }
    if (s.emits.length > 0) lines.push("}");

    lines.push(
      "",
      `/** The commands and queries service \`${s.name}\` may send: exactly those it declares in \`sends\`. */`,
      s.sends.length === 0 ? `export interface ${S}Send {}` : `export interface ${S}Send {`,
    );
    for (const name of s.sends) {
      const m = this.message(name);
      imports.type(MESSAGES, name);
      lines.push(
        ...docBlock([m.doc], "  "),
        `  ${sends.get(name)}(input: ${name}, options?: ${imports.type(RT, "CallOptions")}): Promise<${this.importedResultType(imports, m)}>;`,
      );
    }
    if (s.sends.length > 0) lines.push("}");

    const base = imports.type(RT, leader ? "LeaderServiceContext" : "ServiceContext");
    lines.push(
      "",
      ...docBlock([
        leader
          ? para(
              `What every handler, event handler and job of service \`${s.name}\` receives: ids, deadline,`,
              "logger, `emit`, `send`, and (leader mode) the fencing token and `isLeader`; its `signal` fires at",
              "the deadline, at shutdown and when leadership is lost.",
            )
          : para(
              `What every handler, event handler and job of service \`${s.name}\` receives: ids, deadline,`,
              "a signal fired at the deadline and at shutdown, logger, `emit` and `send`.",
            ),
      ]),
      `export interface ${S}Context extends ${base}<${S}Emit, ${S}Send> {}`,
    );
    if (s.usesRedis) {
      // The one piece of Redis the generated code knows: where the service's own keys go.
      lines.push(
        "",
        ...docBlock([
          para(
            `The Redis hash tag of service \`${s.name}\` (\`uses redis\`): start every key the service keeps with it,`,
            `e.g. \`\${${camelCase(s.name)}RedisScope}:order:42\`. Its Redis user may touch no other keys, and the`,
            "shared tag keeps a script's or transaction's keys on one Redis Cluster slot.",
          ),
        ]),
        `export const ${camelCase(s.name)}RedisScope = ${JSON.stringify(redisHashTag(this.t, s.name))};`,
      );
    }

    // The definition interface.
    const sagaParams = s.runs.map((r) => `${r}State`);
    const generics = sagaParams.length === 0 ? "" : `<${sagaParams.join(", ")}>`;
    const handled = s.handles.filter((h) => h.saga === undefined);
    const bySaga = s.handles.filter((h): h is HandlerModel & { saga: string } => h.saga !== undefined);
    const handlerMembers = memberNames(handled.map((h) => h.message));
    const eventMembers = memberNames(s.subscriptions.map((x) => x.event));
    const sagaMembers = memberNames(s.runs);
    const ctx = `${S}Context`;
    const awaitable = (t: string) => `${imports.type(RT, "Awaitable")}<${t}>`;

    lines.push(
      "",
      ...docBlock([
        s.doc,
        `What service \`${s.name}\` (${s.mode}, ${s.replicas} ${s.replicas === 1 ? "replica" : "replicas"}) must provide.`,
        bySaga.length === 0
          ? undefined
          : bySaga.map((h) => `\`${h.message}\` is answered by starting saga \`${h.saga}\`.`).join("\n"),
      ]),
    );
    const sections: string[] = [];
    if (handled.length > 0) {
      sections.push(
        "  /** One handler per command and query the service answers; each reply is validated. */",
      );
      sections.push("  readonly handlers: {");
      for (const h of handled) {
        const m = this.message(h.message);
        imports.type(MESSAGES, m.name);
        const deadline = this.wiring.messages[m.name]?.timeoutMs;
        sections.push(
          ...docBlock(
            [
              m.doc,
              `${m.kind === "command" ? "Command" : "Query"} \`${m.name}\`${m.idempotent ? " (idempotent: may arrive again)" : ""}${deadline === undefined ? "" : `; default deadline ${duration(deadline)}`}.`,
            ],
            "    ",
          ),
          `    ${handlerMembers.get(h.message)}(input: ${m.name}, ctx: ${ctx}): ${awaitable(this.importedResultType(imports, m))};`,
        );
      }
      sections.push("  };");
    }
    if (s.subscriptions.length > 0) {
      sections.push("  /** One handler per event the service consumes (`on`). */", "  readonly events: {");
      for (const sub of s.subscriptions) {
        const m = this.message(sub.event);
        imports.type(MESSAGES, m.name);
        const delivery =
          sub.delivery === "broadcast"
            ? "every instance receives each event (`broadcast`)"
            : "one instance of the service receives each event";
        sections.push(
          ...docBlock([m.doc, `Event \`${m.name}\`: ${delivery}.`], "    "),
          `    ${eventMembers.get(sub.event)}(event: ${m.name}, ctx: ${ctx}): ${awaitable("void")};`,
        );
      }
      sections.push("  };");
    }
    if (s.schedules.length > 0) {
      sections.push(
        "  /** Scheduled jobs (`every`): the leader runs each once per tick, cluster-wide. */",
        "  readonly jobs: {",
      );
      for (const job of s.schedules) {
        sections.push(
          `    /** Runs every ${duration(job.intervalMs)}. */`,
          `    ${job.job}(ctx: ${ctx}): ${awaitable("void")};`,
        );
      }
      sections.push("  };");
    }
    if (s.runs.length > 0) {
      sections.push("  /** How each saga the service runs maps onto its commands. */", "  readonly sagas: {");
      for (const r of s.runs) {
        sections.push(`    readonly ${sagaMembers.get(r)}: ${r}Saga<${r}State>;`);
      }
      sections.push("  };");
    }
    if (sections.length === 0) lines.push(`export interface ${S}Definition${generics} {}`);
    else lines.push(`export interface ${S}Definition${generics} {`, ...sections, "}");

    // The definer.
    const def = sections.length === 0 ? "_definition" : "definition";
    const defaultArg = sections.length === 0 ? " = {}" : "";
    lines.push(
      "",
      ...docBlock([
        para(
          `Defines service \`${s.name}\` for the runtime host: make the result the default export of the`,
          `service's handler module (\`${this.wiring.services[s.name]?.handler ?? s.handler}\`).`,
        ),
        ...(sagaParams.length === 0
          ? []
          : [
              sagaParams
                .map(
                  (p) =>
                    `@typeParam ${p} The state of saga \`${p.replace(/State$/, "")}\` (inferred from its \`start\`).`,
                )
                .join("\n"),
            ]),
      ]),
      ...signature(
        `export function define${S}${generics}(`,
        `${def}: ${S}Definition${generics}${defaultArg}`,
        `): ${imports.type(RT, "ServiceDefinition")} {`,
      ),
      "  return {",
      `    topology: ${JSON.stringify(this.t)},`,
      `    service: ${JSON.stringify(s.name)},`,
      `    mode: ${JSON.stringify(s.mode)},`,
    );
    const record = (key: string, entries: string[]) => {
      if (entries.length === 0) lines.push(`    ${key}: {},`);
      else lines.push(`    ${key}: {`, ...entries.map((e) => `      ${e},`), "    },");
    };
    const usesMessages = s.emits.length + s.sends.length + handled.length + s.subscriptions.length > 0;
    if (usesMessages) imports.value(MESSAGES, "messages");
    record(
      "emits",
      s.emits.map((e) => `${emits.get(e)}: messages.${e}`),
    );
    record(
      "sends",
      s.sends.map((n) => `${sends.get(n)}: messages.${n}`),
    );
    record(
      "handlers",
      handled.map(
        (h) =>
          `${h.message}: ${imports.value(RT, "requestHandler")}(messages.${h.message}, definition.handlers, ${JSON.stringify(handlerMembers.get(h.message))})`,
      ),
    );
    record(
      "events",
      s.subscriptions.map(
        (sub) =>
          `${sub.event}: ${imports.value(RT, "eventHandler")}(messages.${sub.event}, definition.events, ${JSON.stringify(eventMembers.get(sub.event))})`,
      ),
    );
    record(
      "jobs",
      s.schedules.map(
        (j) => `${j.job}: ${imports.value(RT, "scheduledJob")}(definition.jobs, ${JSON.stringify(j.job)})`,
      ),
    );
    record(
      "sagas",
      s.runs.map((r) => `${r}: lower${r}(definition.sagas.${sagaMembers.get(r)})`),
    );
    lines.push("  };", "}");
    for (const r of s.runs) if (!this.sagasByName.has(r)) throw new Error(`catgac bug: unknown saga '${r}'`);
    return lines;
  }
}
