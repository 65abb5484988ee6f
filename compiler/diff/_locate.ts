import type { CatgaFile, Field, Identifier, SagaStep, ServiceDecl, Span } from "../../dsl/index.js";

/**
 * Finds where a model element was written, so a diff finding points at the source like a checker
 * diagnostic does. The model carries no spans (it is plain data for emitters); the parsed file of the
 * same text does. Every lookup falls back to the enclosing declaration, then to the topology line,
 * so a finding always has a span.
 */
export class Locator {
  private readonly decls = new Map<string, { span: Span; name: Identifier; fields?: readonly Field[] }>();
  private readonly enums = new Map<string, Map<string, Span>>();
  private readonly results = new Map<string, Span>();
  private readonly services = new Map<string, ServiceDecl>();
  private readonly steps = new Map<string, readonly SagaStep[]>();
  private readonly top: Span;

  constructor(file: CatgaFile) {
    let top: Span | undefined;
    for (const d of file.declarations) {
      switch (d.kind) {
        case "Topology":
          top = d.name.span;
          break;
        case "Infra":
          this.decls.set(`#${d.target}`, {
            span: d.keyword,
            name: { kind: "Identifier", text: d.target, span: d.keyword },
          });
          break;
        case "Type":
          this.decls.set(d.name.text, { span: d.span, name: d.name, fields: d.fields });
          break;
        case "Message":
          this.decls.set(d.name.text, { span: d.span, name: d.name, fields: d.fields });
          if (d.result) this.results.set(d.name.text, d.result.span);
          break;
        case "Enum":
          this.decls.set(d.name.text, { span: d.span, name: d.name });
          this.enums.set(d.name.text, new Map(d.members.map((m) => [m.name.text, m.name.span])));
          break;
        case "Service":
          this.decls.set(d.name.text, { span: d.span, name: d.name });
          this.services.set(d.name.text, d);
          break;
        case "Saga":
          this.decls.set(d.name.text, { span: d.span, name: d.name });
          this.steps.set(
            d.name.text,
            d.items.filter((i): i is SagaStep => i.kind === "SagaStep"),
          );
          break;
      }
    }
    this.top = top ?? file.span;
  }

  /** The topology name. */
  topology(): Span {
    return this.top;
  }

  /** The name of a declaration (message, type, enum, service, saga), or `nats` / `redis` as `#nats`. */
  decl(name: string): Span {
    return this.decls.get(name)?.name.span ?? this.top;
  }

  /** A field's name in a message or type. */
  field(owner: string, field: string): Span {
    return this.fieldNode(owner, field)?.name.span ?? this.decl(owner);
  }

  /** A field's type in a message or type. */
  fieldType(owner: string, field: string): Span {
    return this.fieldNode(owner, field)?.type.span ?? this.decl(owner);
  }

  /** The `-> T` of a command or query. */
  result(message: string): Span {
    return this.results.get(message) ?? this.decl(message);
  }

  /** An enum member. */
  member(enumName: string, member: string): Span {
    return this.enums.get(enumName)?.get(member) ?? this.decl(enumName);
  }

  /** The name of `message` in a `handles` or `on` line of a service. */
  handles(service: string, message: string, which: "Handles" | "On"): Span {
    for (const item of this.services.get(service)?.items ?? []) {
      if (item.kind !== which) continue;
      const id = item.names.find((n) => n.text === message);
      if (id !== undefined) return id.span;
    }
    return this.decl(service);
  }

  /** The `queue "…"` of the `handles` line of `message`, else the message name there. */
  queue(service: string, message: string): Span {
    for (const item of this.services.get(service)?.items ?? []) {
      if (item.kind === "Handles" && item.names.some((n) => n.text === message) && item.queue) {
        return item.queue.span;
      }
    }
    return this.handles(service, message, "Handles");
  }

  /** A service setting line (`mode`, `replicas`, `lease`, `timeout`, …), else the service name. */
  setting(service: string, key: string): Span {
    for (const item of this.services.get(service)?.items ?? []) {
      if (item.kind === "ServiceSetting" && item.setting.key.text === key) return item.setting.span;
      if (item.kind === "Timeout" && key === "timeout") return item.span;
    }
    return this.decl(service);
  }

  /** Step `index` (0-based) of a saga, else the saga name. */
  step(saga: string, index: number): Span {
    return this.steps.get(saga)?.[index]?.span ?? this.decl(saga);
  }

  private fieldNode(owner: string, field: string): Field | undefined {
    return this.decls.get(owner)?.fields?.find((f) => f.name.text === field);
  }
}
