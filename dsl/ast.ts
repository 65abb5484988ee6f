/**
 * The typed AST of a `.catga` file. The parser owns syntax and spans; meaning (which names exist,
 * which settings are valid) belongs to the checker. Every node carries its span so any phase can
 * point at it.
 *
 * Nodes discriminate on `kind` rather than `type`: `type` is a keyword of the language itself and a
 * `{ type: "type" }` node would read badly everywhere.
 */

/** A point in a source file: 1-based line and column, 0-based UTF-16 offset. */
export interface Position {
  line: number;
  column: number;
  offset: number;
}

/** A source range; `end` is exclusive. */
export interface Span {
  file: string;
  start: Position;
  end: Position;
}

interface NodeBase {
  span: Span;
}

/** A name as written in the source: a declared name or a reference. */
export interface Identifier extends NodeBase {
  kind: "Identifier";
  text: string;
}

/** A `///` doc comment block: the text of its lines without the slashes, joined by "\n". */
export interface DocComment extends NodeBase {
  kind: "DocComment";
  text: string;
}

/** Any comment kept for the formatter; `doc` marks `///` comments. */
export interface Comment extends NodeBase {
  kind: "Comment";
  style: "line" | "block" | "doc";
  /** The exact source text, delimiters included. */
  text: string;
}

/** `string`, `OrderItem[]`, `OrderResult?`, `int[][]?`. */
export interface TypeRef extends NodeBase {
  kind: "TypeRef";
  name: Identifier;
  /** How many `[]` follow the name: 0 for a scalar. */
  listDepth: number;
  optional: boolean;
}

export interface Field extends NodeBase {
  kind: "Field";
  doc?: DocComment;
  name: Identifier;
  type: TypeRef;
}

/** Literal values in settings blocks. */
export type Value = IntLiteral | StringLiteral | DurationLiteral | Identifier;

export interface IntLiteral extends NodeBase {
  kind: "Int";
  value: number;
  text: string;
}

export interface StringLiteral extends NodeBase {
  kind: "String";
  /** The unescaped value. */
  value: string;
  /** The source text, quotes included. */
  text: string;
}

export interface DurationLiteral extends NodeBase {
  kind: "Duration";
  /** Milliseconds. */
  ms: number;
  text: string;
}

/**
 * `key value` inside `nats {}`, `redis {}`, `env {}`, `resources {}`, as a service setting and as a
 * stream setting after the body of a durable event.
 */
export interface Setting extends NodeBase {
  kind: "Setting";
  doc?: DocComment;
  key: Identifier;
  value: Value;
}

export interface TopologyDecl extends NodeBase {
  kind: "Topology";
  doc?: DocComment;
  name: Identifier;
}

/** `nats { nodes 3 }` or `redis { mode sentinel nodes 3 }`. */
export interface InfraDecl extends NodeBase {
  kind: "Infra";
  doc?: DocComment;
  /** The block keyword: `nats` or `redis`. */
  target: "nats" | "redis";
  keyword: Span;
  settings: Setting[];
}

export interface EnumDecl extends NodeBase {
  kind: "Enum";
  doc?: DocComment;
  name: Identifier;
  members: EnumMember[];
}

export interface EnumMember extends NodeBase {
  kind: "EnumMember";
  doc?: DocComment;
  name: Identifier;
}

export interface TypeDecl extends NodeBase {
  kind: "Type";
  doc?: DocComment;
  name: Identifier;
  fields: Field[];
}

/** `command`, `query` and `event` share one shape; only commands and queries have results. */
export interface MessageDecl extends NodeBase {
  kind: "Message";
  doc?: DocComment;
  messageKind: "command" | "query" | "event";
  /** Span of the `idempotent` modifier when present. */
  idempotent?: Span;
  /** Span of the `durable` modifier when present. */
  durable?: Span;
  name: Identifier;
  fields: Field[];
  result?: TypeRef;
  /**
   * Stream settings written after the body (`} retain 30d deliveries 10`), in source order; empty
   * when there are none. Only a durable event has a stream: the checker reports them elsewhere.
   */
  settings: Setting[];
}

export interface ServiceDecl extends NodeBase {
  kind: "Service";
  doc?: DocComment;
  name: Identifier;
  items: ServiceItem[];
}

export type ServiceItem =
  | HandlesItem
  | OnItem
  | NamesItem
  | UsesItem
  | EveryItem
  | TimeoutItem
  | BlockItem
  | ServiceSetting;

/** `handles CreateOrder, GetOrder queue "order-service-workers"`. */
export interface HandlesItem extends NodeBase {
  kind: "Handles";
  doc?: DocComment;
  names: Identifier[];
  queue?: StringLiteral;
}

/** `on OrderCreated broadcast`. */
export interface OnItem extends NodeBase {
  kind: "On";
  doc?: DocComment;
  names: Identifier[];
  broadcast?: Span;
}

/** `emits A, B`, `sends C`, `runs PlaceOrder`. */
export interface NamesItem extends NodeBase {
  kind: "Emits" | "Sends" | "Runs";
  doc?: DocComment;
  names: Identifier[];
}

/**
 * `uses redis`: the service keeps its own data in what is named (only `redis` exists); names are
 * checked by the checker, so a misspelt one is a diagnostic rather than a syntax error.
 */
export interface UsesItem extends NodeBase {
  kind: "Uses";
  doc?: DocComment;
  names: Identifier[];
}

/** `every 30s sweepStaleOrders`. */
export interface EveryItem extends NodeBase {
  kind: "Every";
  doc?: DocComment;
  interval: DurationLiteral;
  job: Identifier;
}

/** `timeout 5s`: default deadline for the service's handlers. */
export interface TimeoutItem extends NodeBase {
  kind: "Timeout";
  doc?: DocComment;
  duration: DurationLiteral;
}

/** `env { LOG_LEVEL "debug" }`, `resources { cpu "500m" memory "256Mi" }`. */
export interface BlockItem extends NodeBase {
  kind: "Env" | "Resources";
  doc?: DocComment;
  settings: Setting[];
}

/** Any other `key value` line (`mode leader`, `replicas 3`, `lease 10s`, `image "…"`, `port 8080`). */
export interface ServiceSetting extends NodeBase {
  kind: "ServiceSetting";
  doc?: DocComment;
  setting: Setting;
}

export interface SagaDecl extends NodeBase {
  kind: "Saga";
  doc?: DocComment;
  name: Identifier;
  items: SagaItem[];
}

export type SagaItem = SagaTrigger | SagaStep;

/** `on OrderCreated`. */
export interface SagaTrigger extends NodeBase {
  kind: "SagaOn";
  doc?: DocComment;
  name: Identifier;
}

/** `step ChargePayment compensate RefundPayment timeout 5s` or `step Ship irreversible`. */
export interface SagaStep extends NodeBase {
  kind: "SagaStep";
  doc?: DocComment;
  command: Identifier;
  compensate?: Identifier;
  irreversible?: Span;
  timeout?: DurationLiteral;
}

export type Declaration =
  | TopologyDecl
  | InfraDecl
  | EnumDecl
  | TypeDecl
  | MessageDecl
  | ServiceDecl
  | SagaDecl;

/** A parsed file: declarations in source order, plus every comment for the formatter. */
export interface CatgaFile extends NodeBase {
  kind: "File";
  declarations: Declaration[];
  comments: Comment[];
}
