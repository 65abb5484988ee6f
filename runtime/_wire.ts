/**
 * The wire format shared by the client side (bus) and the serving side (host): header names, JSON
 * encoding, ids and W3C trace context. Private to runtime/.
 */
import { randomFillSync, randomUUID } from "node:crypto";
import {
  type CatgaError,
  fromWireError,
  InvalidMessageError,
  type WireError,
  WireVersionError,
} from "./errors.js";
import type { Headers } from "./transport/types.js";

/**
 * Header names. Wire version 2 writes one header, `Catga` (see {@link writeWire}), plus the W3C
 * `traceparent` when there is a trace to continue; replies are unchanged from version 1 (a result
 * without headers, an error with `Catga-Status` and `Catga-Error-Code`), so callers of either
 * version read the replies of both.
 */
export const H = {
  /** Version 2's one header: `2;<message id>;<deadline>;<schema>[;<correlation id>]`. */
  wire: "Catga",
  traceparent: "traceparent",
  /**
   * On an error reply: `error`, with a {@link WireError} as the body. A reply without it is a
   * result: most replies are results, and a reply without headers costs the caller no header
   * parsing at all.
   */
  status: "Catga-Status",
  /** On an error reply: the error's code, readable without parsing the body. */
  errorCode: "Catga-Error-Code",
} as const;

/**
 * Version 1's headers: read, never written, so a version 2 instance serves version 1 callers and
 * consumes their events during a rolling upgrade.
 */
export const V1 = {
  messageId: "Catga-Message-Id",
  /** Absent when it equals the message id: the first message of a chain starts it. */
  correlationId: "Catga-Correlation-Id",
  /** Epoch milliseconds (decimal) by which the caller stops waiting. */
  deadline: "Catga-Deadline",
  /** The full schema id, `Name@<16 hex>`. */
  schema: "Catga-Schema",
} as const;

/** The wire version this runtime writes. It reads this one, version 1 and plain messages. */
export const WIRE_VERSION = 2;

/** What a message's headers say about it, whichever version wrote them. */
export interface WireMeta {
  /** 2 or 1; 0: no Catga header at all (a plain NATS client). */
  version: number;
  /** `""` when the sender gave none (a plain client): the receiver draws one when asked. */
  messageId: string;
  /** `""` when it equals the message id. */
  correlationId: string;
  /** Epoch ms; 0 when the sender gave none. */
  deadline: number;
  /**
   * The schema the sender was built with, as its short hash (the first 8 hex digits of the schema
   * id's hash; a version 1 sender's full id is cut to the same); `""` when not given.
   */
  schema: string;
}

const PLAIN: WireMeta = Object.freeze({
  version: 0,
  messageId: "",
  correlationId: "",
  deadline: 0,
  schema: "",
});

/**
 * The short schema hash of a schema id (`Echo@621f076764e32737` → `621f0767`): 32 bits are plenty
 * to tell two builds of one message apart (the subject already names the message), in 8 bytes
 * instead of 21.
 */
export function schemaHash(schemaId: string): string {
  const at = schemaId.lastIndexOf("@");
  return schemaId.slice(at + 1, at + 9);
}

/**
 * Writes version 2's header into `headers`:
 * `Catga: 2;<message id>;<deadline>;<schema>[;<correlation id>]`, where the deadline is epoch
 * milliseconds in base 36 (empty on events) and the schema the short hash ({@link schemaHash}).
 * An id containing `;` or `%` (only ids a caller chose can) is percent-encoded.
 */
export function writeWire(
  headers: Headers,
  messageId: string,
  deadline: number | undefined,
  schemaId: string,
  correlationId: string | undefined,
): void {
  let value = `2;${field(messageId)};${deadline === undefined ? "" : deadline.toString(36)};${schemaHash(schemaId)}`;
  if (correlationId !== undefined && correlationId !== messageId) value += `;${field(correlationId)}`;
  headers[H.wire] = value;
}

function field(id: string): string {
  return id.indexOf(";") === -1 && id.indexOf("%") === -1 ? id : encodeURIComponent(id);
}

/** A field of a received header: percent-decoded when it needs to be. */
function unfield(s: string): string | undefined {
  if (s.indexOf("%") === -1) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

const BASE36 = /^[0-9a-z]{1,11}$/;
const RELATIVE = /^\+[0-9]{1,10}$/;
const HASH = /^[0-9a-f]{0,16}$/;

/**
 * The metadata of a received message: version 2's `Catga` header, else version 1's headers, else
 * none (a plain client's message: every field empty, the receiver uses its defaults).
 *
 * @throws WireVersionError when the `Catga` header is of a version this runtime does not read.
 * @throws InvalidMessageError when a field of the `Catga` header is malformed (the path
 *   names the field).
 */
export function readWire(headers: Headers, messageName: string, part: InvalidMessageError["part"]): WireMeta {
  const value = headers[H.wire];
  if (value === undefined) {
    const id = headers[V1.messageId];
    if (id === undefined) return PLAIN;
    const deadline = Number(headers[V1.deadline]);
    return {
      version: 1,
      messageId: id,
      correlationId: headers[V1.correlationId] ?? "",
      deadline: Number.isFinite(deadline) && deadline > 0 ? deadline : 0,
      schema: schemaHash(headers[V1.schema] ?? ""),
    };
  }
  const f = value.split(";");
  const version = f[0] ?? "";
  if (version !== "2") {
    if (/^[0-9]+$/.test(version)) throw new WireVersionError(Number(version), messageName);
    throw malformed(messageName, part, "version", value);
  }
  if (f.length < 4 || f.length > 5) throw malformed(messageName, part, "fields", value);
  const messageId = unfield(f[1] as string);
  if (messageId === undefined) throw malformed(messageName, part, "message id", value);
  const d = f[2] as string;
  let deadline = 0;
  if (d !== "") {
    if (BASE36.test(d)) deadline = Number.parseInt(d, 36);
    // `+<ms>`: a relative deadline, for plain clients that cannot write base 36 (docs/runtime.md).
    else if (RELATIVE.test(d)) deadline = Date.now() + Number(d.slice(1));
    else throw malformed(messageName, part, "deadline", value);
  }
  const schema = f[3] as string;
  if (!HASH.test(schema)) throw malformed(messageName, part, "schema", value);
  let correlationId = "";
  if (f.length === 5) {
    const c = unfield(f[4] as string);
    if (c === undefined) throw malformed(messageName, part, "correlation id", value);
    correlationId = c;
  }
  return { version: 2, messageId, correlationId, deadline, schema };
}

function malformed(messageName: string, part: InvalidMessageError["part"], what: string, value: string) {
  return new InvalidMessageError(messageName, part, [
    { path: `(header ${H.wire}: ${what})`, message: `malformed: ${JSON.stringify(value.slice(0, 80))}` },
  ]);
}

/** The metadata of a received message, or none when its header is unreadable (logs, dead letters). */
export function wireOf(headers: Headers): WireMeta {
  try {
    return readWire(headers, "", "event");
  } catch {
    return PLAIN;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** JSON bytes of a value (`Date`s become ISO strings, as JSON.stringify does). */
export function encode(value: unknown): Uint8Array {
  // Buffer.from, not TextEncoder: for the small payloads of most messages it copies into a shared
  // slab instead of allocating a new buffer per message, and the bytes are the same UTF-8.
  return Buffer.from(JSON.stringify(value ?? null));
}

/**
 * Parses JSON bytes.
 *
 * @throws InvalidMessageError when the bytes are not UTF-8 JSON.
 */
export function decode(data: Uint8Array, messageName: string, part: InvalidMessageError["part"]): unknown {
  try {
    return data.length === 0 ? null : JSON.parse(decoder.decode(data));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidMessageError(messageName, part, [{ path: "", message: `not valid JSON: ${reason}` }], {
      cause: error,
    });
  }
}

/** A new saga id. */
export function newId(): string {
  return randomUUID();
}

/**
 * A new message id: 12 random bytes in base64url (16 characters, from the shared random block).
 * 96 bits: a collision is expected after about 2^48 ids, far beyond any dedup window; a UUID's
 * text took 36 characters for 122 bits.
 */
export function newMessageId(): string {
  if (randomOffset + 12 > RANDOM_BLOCK) {
    randomFillSync(randomBlock);
    randomOffset = 0;
  }
  const id = randomBlock.toString("base64url", randomOffset, randomOffset + 12);
  randomOffset += 12;
  return id;
}

/**
 * A W3C traceparent continuing `parent`'s trace with a new span, or starting a new sampled trace.
 * (https://www.w3.org/TR/trace-context/#traceparent-header)
 */
export function childTraceparent(parent?: string): string {
  const match = parent === undefined ? null : TRACEPARENT.exec(parent);
  if (match === null) {
    // A new trace: its trace id and span id from one draw of 24 bytes (one native call, not two).
    const hex = randomHex(24);
    return `00-${hex.slice(0, 32)}-${hex.slice(32)}-01`;
  }
  return `00-${match[1]}-${randomHex(8)}-${match[2]}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;

// Random bytes are drawn from the system in large blocks, as crypto.randomUUID does: a
// `randomBytes` call per trace and span id cost more than everything else a request does on the
// calling side, and the cost of a fill is mostly per call, not per byte.
const RANDOM_BLOCK = 65536;
const randomBlock = Buffer.allocUnsafe(RANDOM_BLOCK);
let randomOffset = RANDOM_BLOCK;

/**
 * Six random bytes in base64url (8 characters, safe in a NATS subject token): the part of a reply
 * subject a process that has not seen the request cannot guess.
 */
export function randomToken(): string {
  if (randomOffset + 6 > RANDOM_BLOCK) {
    randomFillSync(randomBlock);
    randomOffset = 0;
  }
  const token = randomBlock.toString("base64url", randomOffset, randomOffset + 6);
  randomOffset += 6;
  return token;
}

/** `bytes` cryptographically random bytes, as hex. */
function randomHex(bytes: number): string {
  if (randomOffset + bytes > RANDOM_BLOCK) {
    randomFillSync(randomBlock);
    randomOffset = 0;
  }
  const hex = randomBlock.toString("hex", randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return hex;
}

/** The typed error carried by an error reply. */
export function errorFromReply(data: Uint8Array, headers: Headers, messageName: string): CatgaError {
  let wire: WireError | undefined;
  try {
    wire = JSON.parse(decoder.decode(data)) as WireError;
  } catch {
    wire = undefined;
  }
  if (wire === undefined || typeof wire.name !== "string" || typeof wire.message !== "string") {
    wire = {
      name: "CatgaError",
      code: headers[H.errorCode] ?? "INTERNAL",
      message: `an unreadable error reply to ${messageName}`,
    };
  }
  return fromWireError(wire);
}
