/**
 * The wire format shared by the client side (bus) and the serving side (host): the version 3
 * envelope, the headers of versions 1 and 2 and of replies, JSON encoding, ids and W3C trace
 * context. Private to runtime/.
 */
import { isUtf8 } from "node:buffer";
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
 * Header names. Wire versions 3 and 4 write none on requests and events: their metadata travels in
 * the payload, before the JSON (see {@link envelope4} and {@link envelope}). Replies are unchanged since version 1 (a result
 * without headers, an error with `Catga-Status` and `Catga-Error-Code`), so callers of every version
 * read the replies of all.
 */
export const H = {
  /** Version 2's one header: `2;<message id>;<deadline>;<schema>[;<correlation id>]`. Read, and written with `wireVersion: 2`. */
  wire: "Catga",
  /** Versions 1 and 2 carry the W3C trace context in this header; version 3 in its envelope. */
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
 * Version 1's headers: read, never written, so an instance serves version 1 callers and consumes
 * their events during a rolling upgrade.
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

/** The wire version this runtime writes by default. It reads versions 1 to 5 and plain messages. */
export const WIRE_VERSION = 5;

/**
 * The versions a bus can write: 5 (the default: version 4's binary envelope, and a request asks
 * for a reply that echoes its id); 4 (the binary envelope, replies without an echo) while replicas
 * of a build that cannot read 5 still run; 3 (the envelope as a text line) while replicas that
 * cannot read 4 still run; 2 while replicas that cannot read 3 still run.
 */
export type WireVersion = 2 | 3 | 4 | 5;

/** What a message says about itself, whichever version wrote it. */
export interface WireMeta {
  /** 5, 4, 3, 2 or 1; 0: no Catga envelope or header at all (a plain NATS client). */
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
  /** The W3C traceparent the message carries; `""` when none. */
  traceparent: string;
  /** Where the JSON body starts in the payload: after a version 3 or 4 envelope, else 0. */
  body: number;
  /**
   * The JSON body as text, when reading the envelope decoded it already (a version 3 or 4 payload
   * that is valid UTF-8): {@link decodeBody} parses it without decoding the bytes a second time.
   */
  json: string | undefined;
}

/** What {@link readWire} needs of a message: its payload, and its headers only when it has no envelope. */
export interface WireMessage {
  readonly data: Uint8Array;
  readonly headers: Headers;
}

const PLAIN: WireMeta = Object.freeze({
  version: 0,
  messageId: "",
  correlationId: "",
  deadline: 0,
  schema: "",
  traceparent: "",
  body: 0,
  json: undefined,
});

/**
 * The short schema hash of a schema id (`Echo@621f076764e32737` → `621f0767`): 32 bits are plenty
 * to tell two builds of one message apart (the subject already names the message), in 8 bytes
 * instead of 21.
 */
export function schemaHash(schemaId: string): string {
  // Every message of a sender writes the hash of one of a few ids: the last one is kept.
  if (schemaId === lastSchemaId) return lastSchemaHash;
  const at = schemaId.lastIndexOf("@");
  const hash = schemaId.slice(at + 1, at + 9);
  lastSchemaId = schemaId;
  lastSchemaHash = hash;
  return hash;
}

let lastSchemaId = "";
let lastSchemaHash = "";

/** `C`: the first byte of a version 3 envelope. No JSON text starts with it, so a plain payload is never mistaken for one. */
const MARK = 0x43;
const NEWLINE = 0x0a;

/**
 * A version 3 payload: the envelope line, then the JSON body,
 * `C3;<message id>;<deadline>;<schema>[;<correlation id>[;<traceparent>]]\n<JSON>`. The deadline is
 * epoch milliseconds in base 36 (empty on events), the schema the short hash ({@link schemaHash}),
 * the correlation id empty or left out when it equals the message id, the traceparent left out when
 * there is no trace. An id containing `;`, `%` or a line break (only ids a caller chose can) is
 * percent-encoded.
 *
 * @throws TypeError when the value cannot be JSON (a cycle, a BigInt), as JSON.stringify does.
 */
export function envelope(
  value: unknown,
  messageId: string,
  deadline: number | undefined,
  schemaId: string,
  correlationId: string | undefined,
  traceparent: string | undefined,
): Uint8Array {
  let line = `C3;${field(messageId)};${deadline === undefined ? "" : base36(deadline)};${schemaHash(schemaId)}`;
  const correlation = correlationId !== undefined && correlationId !== messageId;
  if (correlation || traceparent !== undefined) line += `;${correlation ? field(correlationId) : ""}`;
  if (traceparent !== undefined) line += `;${traceparent}`;
  // One string, one encode: the envelope costs the sender a concatenation, not a second buffer.
  return Buffer.from(`${line}\n${JSON.stringify(value ?? null)}`);
}

/**
 * A deadline in base 36. `toString(36)` of a 13-digit number costs as much as the JSON of a small
 * payload, and a busy caller sends many requests within one millisecond, with the same deadline:
 * the last one is kept.
 */
function base36(deadline: number): string {
  if (deadline !== lastDeadline) {
    lastDeadline = deadline;
    lastDeadlineText = deadline.toString(36);
  }
  return lastDeadlineText;
}

let lastDeadline = Number.NaN;
let lastDeadlineText = "";

/**
 * Version 4's first byte: the version itself. No JSON text starts with a byte below 0x09 (JSON
 * may start with white space: tab, line feed, carriage return, space), so a plain payload is never
 * mistaken for one; a first byte of 1 to 8 is read as a binary envelope of that version.
 */
const BINARY_V4 = 0x04;
/**
 * Version 5: version 4's layout, on a request with a drawn id only, and the request asks for a
 * reply that starts with {@link ECHO_BYTES} bytes: `0x05` and its 12 id bytes ({@link encodeReply}).
 */
const BINARY_V5 = 0x05;
/** The echo in front of a reply to a version 5 request: `0x05` and the request's 12 id bytes. */
export const ECHO_BYTES = 13;
const LAST_BINARY_MARK = 0x08;
/** Flags of a version 4 envelope (its second byte): which optional fields follow, and in what form. */
const F_DEADLINE = 0x01;
const F_CORRELATION = 0x02;
const F_TRACE = 0x04;
/** The message id is UTF-8 text with its length (2 bytes) instead of the 12 bytes of a drawn id. */
const F_TEXT_ID = 0x08;
const F_SCHEMA = 0x10;
const F_ALL = 0x1f;
/** An id this runtime draws: 16 base64url characters, which are exactly 12 bytes. */
const DRAWN_ID = /^[A-Za-z0-9_-]{16}$/;
const SCHEMA_HASH = /^[0-9a-f]{8}$/;
const TRACE_PARTS = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const MAX_TEXT_ID = 0xffff;
const MAX_DEADLINE = 2 ** 48 - 1;

/**
 * A version 4 payload: a binary envelope, then the JSON body. Byte 0 is 4 (the version), byte 1
 * the flags; then the message id (12 bytes: the 16 base64url characters of a drawn id decoded;
 * or, flag 0x08, a caller's id as a 2-byte big-endian length and its UTF-8 bytes), the schema hash
 * (flag 0x10, 4 bytes), the deadline (flag 0x01, epoch milliseconds in 6 bytes, big-endian), the
 * correlation id (flag 0x02, a 2-byte length and UTF-8 bytes; absent when it equals the message
 * id) and the W3C trace context (flag 0x04, 25 bytes: trace id, span id, trace flags; version 00).
 * A request's envelope is 24 bytes and an event's 18, against version 3's text line of 38 and 30:
 * carrying fewer bytes is what let the raw client with the same fields come near the raw client
 * without them (docs/benchmarks.md, "A binary envelope").
 *
 * With `echo` (a request of wire version 5) and a drawn id, byte 0 is 5 instead: the same layout,
 * and the request asks its responder to put `0x05` and the 12 id bytes in front of the reply
 * ({@link encodeReply}), so the caller can give the reply subject to its next request and still
 * tell this request's reply from a late one (docs/runtime.md, "Reply matching"). A caller's own
 * id may repeat, so such a request stays version 4 and gets a reply subject of its own.
 *
 * @throws TypeError when the value cannot be JSON (a cycle, a BigInt), as JSON.stringify does, or
 *   when an id is longer than 65,535 bytes.
 */
export function envelope4(
  value: unknown,
  messageId: string,
  deadline: number | undefined,
  schemaId: string,
  correlationId: string | undefined,
  traceparent: string | undefined,
  echo = false,
): Uint8Array {
  const json = JSON.stringify(value ?? null);
  const drawn = messageId === lastDrawnId || DRAWN_ID.test(messageId);
  const idBytes = drawn ? 12 : 2 + textLength(messageId);
  const hash = schemaHash(schemaId);
  const schema = hash === lastWrittenHash || SCHEMA_HASH.test(hash);
  const correlation = correlationId !== undefined && correlationId !== messageId;
  const correlationBytes = correlation ? 2 + textLength(correlationId) : 0;
  let trace: RegExpExecArray | null = null;
  if (traceparent !== undefined) {
    trace = TRACE_PARTS.exec(traceparent);
    if (trace === null) throw new TypeError(`not a version 00 traceparent: ${JSON.stringify(traceparent)}`);
  }
  const head =
    2 + idBytes + (schema ? 4 : 0) + (deadline !== undefined ? 6 : 0) + correlationBytes + (trace ? 25 : 0);
  // Buffer's native writers, without the argument checks of write(): the envelope's fields are a
  // few bytes each, and the checks cost as much as the writing (bench/wire).
  const out = Buffer.allocUnsafe(head + Buffer.byteLength(json));
  out[0] = echo && drawn ? BINARY_V5 : BINARY_V4;
  out[1] =
    (deadline !== undefined ? F_DEADLINE : 0) |
    (correlation ? F_CORRELATION : 0) |
    (trace ? F_TRACE : 0) |
    (drawn ? 0 : F_TEXT_ID) |
    (schema ? F_SCHEMA : 0);
  let at = 2;
  if (drawn) at += native.base64urlWrite.call(out, messageId, at, 12);
  else at = writeText(out, at, messageId);
  if (schema) {
    if (hash !== lastWrittenHash) {
      lastWrittenHash = hash;
      lastWrittenHashValue = Number.parseInt(hash, 16);
    }
    const h = lastWrittenHashValue;
    out[at] = h >>> 24;
    out[at + 1] = h >>> 16;
    out[at + 2] = h >>> 8;
    out[at + 3] = h;
    at += 4;
  }
  if (deadline !== undefined) {
    // Whole milliseconds within 6 bytes (until the year 10889): a deadline is a clock read plus a timeout.
    const d = Math.min(Math.max(Math.trunc(deadline), 0), MAX_DEADLINE);
    const high = Math.floor(d / 0x1000000);
    out[at] = high >>> 16;
    out[at + 1] = high >>> 8;
    out[at + 2] = high;
    out[at + 3] = d >>> 16;
    out[at + 4] = d >>> 8;
    out[at + 5] = d;
    at += 6;
  }
  if (correlation) at = writeText(out, at, correlationId);
  if (trace !== null) at += native.hexWrite.call(out, `${trace[1]}${trace[2]}${trace[3]}`, at, 25);
  native.utf8Write.call(out, json, at, out.length - at);
  return out;
}

/** A Buffer over the same bytes (the view itself when it is one already). */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** Buffer's native codecs (what write() and toString() call after checking their arguments). */
const native = (() => {
  const proto = Buffer.prototype as unknown as Record<string, unknown>;
  const pick = <F>(name: string, fallback: F): F =>
    typeof proto[name] === "function" ? (proto[name] as F) : fallback;
  type Write = (this: Buffer, text: string, at: number, length: number) => number;
  // A slice takes any Uint8Array (a message's payload is a view, not a Buffer).
  type Slice = (this: Uint8Array, start: number, end: number) => string;
  return {
    base64urlWrite: pick<Write>("base64urlWrite", function (text, at, length) {
      return this.write(text, at, length, "base64url");
    }),
    hexWrite: pick<Write>("hexWrite", function (text, at, length) {
      return this.write(text, at, length, "hex");
    }),
    utf8Write: pick<Write>("utf8Write", function (text, at, length) {
      return this.write(text, at, length, "utf8");
    }),
    base64urlSlice: pick<Slice>("base64urlSlice", function (start, end) {
      return asBuffer(this).toString("base64url", start, end);
    }),
    hexSlice: pick<Slice>("hexSlice", function (start, end) {
      return asBuffer(this).toString("hex", start, end);
    }),
    utf8Slice: pick<Slice>("utf8Slice", function (start, end) {
      return asBuffer(this).toString("utf8", start, end);
    }),
  };
})();

let lastWrittenHash = "";
let lastWrittenHashValue = 0;

function textLength(id: string): number {
  const n = Buffer.byteLength(id);
  if (n > MAX_TEXT_ID)
    throw new TypeError(`a message or correlation id of ${n} bytes (at most ${MAX_TEXT_ID})`);
  return n;
}

function writeText(out: Buffer, at: number, id: string): number {
  const n = native.utf8Write.call(out, id, at + 2, out.length - at - 2);
  out.writeUInt16BE(n, at);
  return at + 2 + n;
}

/**
 * Writes version 2's header into `headers`:
 * `Catga: 2;<message id>;<deadline>;<schema>[;<correlation id>]`, where the deadline is epoch
 * milliseconds in base 36 (empty on events) and the schema the short hash ({@link schemaHash}).
 * An id containing `;` or `%` (only ids a caller chose can) is percent-encoded. Written only by a
 * bus told `wireVersion: 2` (a rollout from version 2).
 */
export function writeWire(
  headers: Headers,
  messageId: string,
  deadline: number | undefined,
  schemaId: string,
  correlationId: string | undefined,
): void {
  let value = `2;${field(messageId)};${deadline === undefined ? "" : base36(deadline)};${schemaHash(schemaId)}`;
  if (correlationId !== undefined && correlationId !== messageId) value += `;${field(correlationId)}`;
  headers[H.wire] = value;
}

const NEEDS_ENCODING = /[;%\r\n]/;

function field(id: string): string {
  // The id this process drew last (base64url: nothing to encode) is the usual one: a bus draws an
  // id and writes its envelope at once. Compared as the same string, before any scan of it.
  if (id === lastDrawnId) return id;
  return NEEDS_ENCODING.test(id) ? encodeURIComponent(id) : id;
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
const TRACE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const VERSION = /^[0-9]{1,9}$/;

/**
 * The metadata of a received message: version 3's envelope when the payload starts with one, else
 * version 2's `Catga` header, else version 1's headers, else none (a plain client's message: every
 * field empty, the receiver uses its defaults). A message with an envelope has its headers left
 * unread.
 *
 * @throws WireVersionError when the envelope or the `Catga` header is of a version this runtime does not read.
 * @throws InvalidMessageError when a field of the envelope or header is malformed (the issue's path
 *   names the field).
 */
export function readWire(msg: WireMessage, messageName: string, part: InvalidMessageError["part"]): WireMeta {
  const data = msg.data;
  if (data.length > 0) {
    const first = data[0] as number;
    if (first === MARK) return readEnvelope(data, messageName, part);
    if (first <= LAST_BINARY_MARK) return readBinary(data, messageName, part);
  }
  const headers = msg.headers;
  const value = headers[H.wire];
  if (value === undefined) {
    const id = headers[V1.messageId];
    if (id === undefined) {
      const traceparent = headers[H.traceparent];
      return traceparent === undefined ? PLAIN : { ...PLAIN, traceparent };
    }
    const deadline = Number(headers[V1.deadline]);
    return {
      version: 1,
      messageId: id,
      correlationId: headers[V1.correlationId] ?? "",
      deadline: Number.isFinite(deadline) && deadline > 0 ? deadline : 0,
      schema: schemaHash(headers[V1.schema] ?? ""),
      traceparent: headers[H.traceparent] ?? "",
      body: 0,
      json: undefined,
    };
  }
  const where = `header ${H.wire}`;
  const f = value.split(";");
  const version = f[0] ?? "";
  if (version !== "2") {
    if (newer(version)) throw new WireVersionError(Number(version), messageName);
    throw malformed(messageName, part, where, "version", value);
  }
  if (f.length < 4 || f.length > 5) throw malformed(messageName, part, where, "fields", value);
  return fields(
    2,
    f[1] as string,
    f[2] as string,
    f[3] as string,
    f[4],
    headers[H.traceparent] ?? "",
    0,
    undefined,
    messageName,
    part,
    where,
    value,
  );
}

/**
 * A version this runtime cannot know: above 4, the highest it reads. One it knows in the wrong
 * place (`Catga: 3`, `C2`, `C4`: version 4 is binary) is malformed.
 */
function newer(version: string): boolean {
  return VERSION.test(version) && Number(version) > HIGHEST_READ;
}

/** The highest wire version this runtime reads. */
const HIGHEST_READ = 5;

/** Version 3's envelope: `C<version>;…` up to the first line break. */
function readEnvelope(data: Uint8Array, messageName: string, part: InvalidMessageError["part"]): WireMeta {
  const where = "envelope";
  const bytes = asBuffer(data);
  // The whole payload is checked and decoded once, and the line and the body are cut from the
  // text: decoding the line and then the body cost two decodes and two views per message, which
  // was the largest part of a subscriber's own work (docs/benchmarks.md). A payload that is not
  // UTF-8 takes the path below, which quotes the line or fails the body as it always did.
  if (isUtf8(bytes)) {
    const text = utf8Text(bytes);
    const nl = text.indexOf("\n");
    if (nl < 0) return envelopeLine(text.slice(0, 200), nl, 0, undefined, messageName, part, where);
    // The body's text, and its offset in bytes for readers of the raw payload (dead letters). One
    // UTF-16 unit per byte only when every byte is ASCII: then the two offsets agree.
    const body = text.length === bytes.length ? nl + 1 : bytes.indexOf(NEWLINE) + 1;
    return envelopeLine(text.slice(0, nl), nl, body, text.slice(nl + 1), messageName, part, where);
  }
  const nl = bytes.indexOf(NEWLINE);
  let line: string;
  try {
    // From the `C` on, so a malformed line is quoted as it came.
    line = decoder.decode(bytes.subarray(0, nl < 0 ? Math.min(bytes.length, 200) : nl));
  } catch {
    throw malformed(messageName, part, where, "encoding", "");
  }
  return envelopeLine(line, nl, nl + 1, undefined, messageName, part, where);
}

/**
 * A binary envelope (first byte 1 to 8: its version): version 4's fields (see {@link envelope4}),
 * and the body's text when the body is UTF-8 (else the body is left to {@link decodeBody}, which
 * refuses it as it refuses any payload that is not UTF-8 JSON).
 */
function readBinary(bytes: Uint8Array, messageName: string, part: InvalidMessageError["part"]): WireMeta {
  // Read as the Uint8Array it came in: Buffer's native slices take any view, and a Buffer made
  // around it per message cost a subscriber about 3 % of its work.
  const version = bytes[0] as number;
  if (version > HIGHEST_READ) throw new WireVersionError(version, messageName);
  if (version !== BINARY_V4 && version !== BINARY_V5) throw badBinary(bytes, messageName, part, "version");
  const length = bytes.length;
  if (length < 2) throw badBinary(bytes, messageName, part, "length");
  const flags = bytes[1] as number;
  if ((flags & ~F_ALL) !== 0) throw badBinary(bytes, messageName, part, "flags");
  let at = 2;
  let messageId: string | undefined;
  // Version 5 echoes the 12 bytes of a drawn id: a caller's own id is sent as version 4.
  if (version === BINARY_V5 && (flags & F_TEXT_ID) !== 0) throw badBinary(bytes, messageName, part, "flags");
  if ((flags & F_TEXT_ID) === 0) {
    // Any 12 bytes are an id: nothing to check, so its text is made when it is first asked for.
    if (at + 12 > length) throw badBinary(bytes, messageName, part, "message id");
    at += 12;
  } else {
    messageId = readText(bytes, at, messageName, part, "message id");
    at = textEnd;
  }
  let schema = "";
  if ((flags & F_SCHEMA) !== 0) {
    if (at + 4 > length) throw badBinary(bytes, messageName, part, "schema");
    const hash =
      (bytes[at] as number) * 0x1000000 +
      (bytes[at + 1] as number) * 0x10000 +
      (bytes[at + 2] as number) * 0x100 +
      (bytes[at + 3] as number);
    if (hash !== lastReadHashValue) {
      lastReadHashValue = hash;
      lastReadHashText = hash.toString(16).padStart(8, "0");
    }
    schema = lastReadHashText;
    at += 4;
  }
  let deadline = 0;
  if ((flags & F_DEADLINE) !== 0) {
    if (at + 6 > length) throw badBinary(bytes, messageName, part, "deadline");
    deadline =
      ((bytes[at] as number) * 0x10000 + (bytes[at + 1] as number) * 0x100 + (bytes[at + 2] as number)) *
        0x1000000 +
      (bytes[at + 3] as number) * 0x10000 +
      (bytes[at + 4] as number) * 0x100 +
      (bytes[at + 5] as number);
    at += 6;
  }
  let correlationId = "";
  if ((flags & F_CORRELATION) !== 0) {
    correlationId = readText(bytes, at, messageName, part, "correlation id");
    at = textEnd;
  }
  let traceparent = "";
  if ((flags & F_TRACE) !== 0) {
    if (at + 25 > length) throw badBinary(bytes, messageName, part, "traceparent");
    const hex = native.hexSlice.call(bytes, at, at + 25);
    traceparent = `00-${hex.slice(0, 32)}-${hex.slice(32, 48)}-${hex.slice(48)}`;
    at += 25;
  }
  // The body is decoded once, here. Bytes that are not UTF-8 decode to U+FFFD, so a text without
  // one came from valid UTF-8; a text with one is checked strictly (a body may hold a real U+FFFD),
  // and a body that is not UTF-8 is left to decodeBody, which refuses it.
  let json: string | undefined = at === length ? "" : native.utf8Slice.call(bytes, at, length);
  if (json.includes("\uFFFD") && !isUtf8(bytes.subarray(at))) json = undefined;
  return new BinaryMeta(version, bytes, messageId, correlationId, deadline, schema, traceparent, at, json);
}

/**
 * A binary envelope's metadata. Its drawn id (12 bytes) becomes text only when read: an event
 * handler that never asks for `ctx.messageId` (most) does not pay for the base64url, about 4 % of
 * a subscriber's work. The payload it reads from is the message's own, which the handler's
 * context holds anyway.
 */
class BinaryMeta implements WireMeta {
  #messageId: string | undefined;
  readonly #bytes: Uint8Array;

  constructor(
    readonly version: number,
    bytes: Uint8Array,
    messageId: string | undefined,
    readonly correlationId: string,
    readonly deadline: number,
    readonly schema: string,
    readonly traceparent: string,
    readonly body: number,
    readonly json: string | undefined,
  ) {
    this.#bytes = bytes;
    this.#messageId = messageId;
  }

  get messageId(): string {
    this.#messageId ??= native.base64urlSlice.call(this.#bytes, 2, 14);
    return this.#messageId;
  }
}

/** Whether `request` is a version 5 request with its id in place, i.e. asks for an echoed reply. */
export function asksEcho(request: Uint8Array): boolean {
  return request.length >= 2 + 12 && request[0] === BINARY_V5;
}

/**
 * The JSON bytes of a reply to `request`: with `0x05` and the request's 12 id bytes in front when
 * it is a version 5 request ({@link envelope4} with `echo`), else the bare JSON as in every
 * version before. A plain client's request (no envelope) always gets the bare JSON.
 *
 * @throws TypeError when the value cannot be JSON, as JSON.stringify does.
 */
export function encodeReply(request: Uint8Array, value: unknown): Uint8Array {
  if (!asksEcho(request)) return encode(value);
  const json = JSON.stringify(value ?? null);
  const out = Buffer.allocUnsafe(ECHO_BYTES + Buffer.byteLength(json));
  writeEcho(out, request);
  native.utf8Write.call(out, json, ECHO_BYTES, out.length - ECHO_BYTES);
  return out;
}

function writeEcho(out: Buffer, request: Uint8Array): void {
  out[0] = BINARY_V5;
  for (let i = 0; i < 12; i++) out[1 + i] = request[2 + i] as number;
}

/**
 * Whether `reply` starts with the echo of version 5 request `request` ({@link encodeReply}): then
 * its body starts at {@link ECHO_BYTES}.
 */
export function echoes(reply: Uint8Array, request: Uint8Array): boolean {
  if (reply.length < ECHO_BYTES || reply[0] !== BINARY_V5) return false;
  for (let i = 0; i < 12; i++) if (reply[1 + i] !== request[2 + i]) return false;
  return true;
}

/** A malformed binary envelope, quoted as hex (its first 40 bytes). */
function badBinary(bytes: Uint8Array, messageName: string, part: InvalidMessageError["part"], what: string) {
  return malformed(
    messageName,
    part,
    "envelope",
    what,
    native.hexSlice.call(bytes, 0, Math.min(40, bytes.length)),
  );
}

let lastReadHashValue = -1;
let lastReadHashText = "";

/** Where the text {@link readText} read last ends. */
let textEnd = 0;

/**
 * A 2-byte length and that many bytes of UTF-8 at `at` (its end in {@link textEnd}). An empty id
 * is read as empty, as version 3 reads an empty field: an id the sender did not give.
 *
 * @throws InvalidMessageError naming `what` when the text is cut short or not UTF-8.
 */
function readText(
  bytes: Uint8Array,
  at: number,
  messageName: string,
  part: InvalidMessageError["part"],
  what: string,
): string {
  const end = at + 2 + (at + 2 > bytes.length ? 0 : ((bytes[at] as number) << 8) | (bytes[at + 1] as number));
  if (at + 2 > bytes.length || end > bytes.length || !isUtf8(bytes.subarray(at + 2, end))) {
    throw badBinary(bytes, messageName, part, what);
  }
  textEnd = end;
  return native.utf8Slice.call(bytes, at + 2, end);
}

/**
 * The fields of an envelope line (`nl`: where the line ended in the payload, -1 when it did not;
 * `body` and `json`: where the body starts, and its text when decoded already).
 */
function envelopeLine(
  line: string,
  nl: number,
  body: number,
  json: string | undefined,
  messageName: string,
  part: InvalidMessageError["part"],
  where: string,
): WireMeta {
  let id: string;
  let deadline: string;
  let schema: string;
  let correlation: string | undefined;
  let traceparent: string | undefined;
  // The fields found by position, without an array of them per message; a line with too few or
  // too many fields goes the slower way below, which says which.
  const b = nl >= 0 && line.startsWith("C3;") ? line.indexOf(";", 3) : -1;
  const c = b < 0 ? -1 : line.indexOf(";", b + 1);
  const e = c < 0 ? -1 : line.indexOf(";", c + 1);
  const g = e < 0 ? -1 : line.indexOf(";", e + 1);
  if (c >= 0 && (g < 0 || line.indexOf(";", g + 1) < 0)) {
    id = line.slice(3, b);
    deadline = line.slice(b + 1, c);
    schema = e < 0 ? line.slice(c + 1) : line.slice(c + 1, e);
    correlation = e < 0 ? undefined : g < 0 ? line.slice(e + 1) : line.slice(e + 1, g);
    if (g >= 0) traceparent = line.slice(g + 1);
  } else {
    const f = line.split(";");
    const version = (f[0] as string).slice(1);
    if (version !== "3") {
      if (newer(version)) throw new WireVersionError(Number(version), messageName);
      throw malformed(messageName, part, where, "version", line);
    }
    if (nl < 0) throw malformed(messageName, part, where, "line end", line);
    if (f.length < 4 || f.length > 6) throw malformed(messageName, part, where, "fields", line);
    [, id, deadline, schema, correlation] = f as [string, string, string, string, string | undefined];
    if (f.length === 6) traceparent = f[5];
  }
  // A sixth field must be a traceparent, an empty one too.
  if (traceparent !== undefined && !TRACE.test(traceparent))
    throw malformed(messageName, part, where, "traceparent", line);
  return fields(
    3,
    id,
    deadline,
    schema,
    correlation,
    traceparent ?? "",
    body,
    json,
    messageName,
    part,
    where,
    line,
  );
}

/** The fields versions 2 and 3 share: `<version>;<id>;<deadline>;<schema>[;<correlation id>…]` (`correlation`: undefined when absent). */
function fields(
  version: number,
  id: string,
  d: string,
  schema: string,
  correlation: string | undefined,
  traceparent: string,
  body: number,
  json: string | undefined,
  messageName: string,
  part: InvalidMessageError["part"],
  where: string,
  value: string,
): WireMeta {
  const messageId = unfield(id);
  if (messageId === undefined) throw malformed(messageName, part, where, "message id", value);
  let deadline = 0;
  if (d !== "") {
    // A caller's requests of one millisecond carry the same deadline: the last one read is kept.
    if (d === lastReadDeadline) deadline = lastReadDeadlineValue;
    else if (BASE36.test(d)) {
      deadline = Number.parseInt(d, 36);
      lastReadDeadline = d;
      lastReadDeadlineValue = deadline;
    }
    // `+<ms>`: a relative deadline, for plain clients that cannot write base 36 (docs/runtime.md).
    else if (RELATIVE.test(d)) deadline = Date.now() + Number(d.slice(1));
    else throw malformed(messageName, part, where, "deadline", value);
  }
  // The same few hashes arrive over and over: the last one that passed is not tested again.
  if (schema !== lastReadSchema) {
    if (!HASH.test(schema)) throw malformed(messageName, part, where, "schema", value);
    lastReadSchema = schema;
  }
  let correlationId = "";
  if (correlation !== undefined) {
    const c = unfield(correlation);
    if (c === undefined) throw malformed(messageName, part, where, "correlation id", value);
    correlationId = c;
  }
  return { version, messageId, correlationId, deadline, schema, traceparent, body, json };
}

let lastReadSchema = "";
let lastReadDeadline = "";
let lastReadDeadlineValue = 0;

function malformed(
  messageName: string,
  part: InvalidMessageError["part"],
  where: string,
  what: string,
  value: string,
) {
  return new InvalidMessageError(messageName, part, [
    { path: `(${where}: ${what})`, message: `malformed: ${JSON.stringify(value.slice(0, 80))}` },
  ]);
}

/** The metadata of a received message, or none when it is unreadable (logs, dead letters, ids). */
export function wireOf(msg: WireMessage): WireMeta {
  try {
    return readWire(msg, "", "event");
  } catch {
    return PLAIN;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** The text of bytes already checked to be UTF-8. */
function utf8Text(bytes: Uint8Array): string {
  return native.utf8Slice.call(bytes, 0, bytes.length);
}

/** JSON bytes of a value (`Date`s become ISO strings, as JSON.stringify does). */
export function encode(value: unknown): Uint8Array {
  // Buffer.from, not TextEncoder: for the small payloads of most messages it copies into a shared
  // slab instead of allocating a new buffer per message, and the bytes are the same UTF-8.
  return Buffer.from(JSON.stringify(value ?? null));
}

/**
 * Parses JSON bytes: the whole payload, or from `offset` on (after a version 3 envelope: {@link WireMeta.body}).
 *
 * @throws InvalidMessageError when the bytes are not UTF-8 JSON.
 */
export function decode(
  data: Uint8Array,
  messageName: string,
  part: InvalidMessageError["part"],
  offset = 0,
): unknown {
  try {
    if (data.length <= offset) return null;
    if (offset === 0) {
      // A simdutf check and the native slice: cheaper than the fatal TextDecoder (a reply's whole
      // decode), with the same refusal of bytes that are not UTF-8 (they go through the decoder,
      // which throws its own error). Both take the view as it came: no Buffer around it.
      if (isUtf8(data)) return JSON.parse(utf8Text(data));
    }
    return JSON.parse(decoder.decode(offset === 0 ? data : data.subarray(offset)));
  } catch (error) {
    throw notJson(messageName, part, error);
  }
}

/**
 * Parses the JSON body of a message whose metadata {@link readWire} read: from the text it decoded
 * already when there is one, else from the bytes after the envelope.
 *
 * @throws InvalidMessageError when the body is not UTF-8 JSON.
 */
export function decodeBody(
  data: Uint8Array,
  wire: WireMeta,
  messageName: string,
  part: InvalidMessageError["part"],
): unknown {
  const json = wire.json;
  if (json === undefined) return decode(data, messageName, part, wire.body);
  try {
    return json === "" ? null : JSON.parse(json);
  } catch (error) {
    throw notJson(messageName, part, error);
  }
}

function notJson(
  messageName: string,
  part: InvalidMessageError["part"],
  error: unknown,
): InvalidMessageError {
  const reason = error instanceof Error ? error.message : String(error);
  return new InvalidMessageError(messageName, part, [{ path: "", message: `not valid JSON: ${reason}` }], {
    cause: error,
  });
}

/** A new saga id. */
export function newId(): string {
  return randomUUID();
}

/**
 * A new message id: 12 random bytes in base64url (16 characters, from the shared random text).
 * 96 bits: a collision is expected after about 2^48 ids, far beyond any dedup window; a UUID's
 * text took 36 characters for 122 bits.
 */
export function newMessageId(): string {
  // Two slices of 8: V8 copies a slice shorter than 13 characters, but makes a longer one a view
  // that keeps the whole random text alive for as long as the id is kept (a dedup window, a store).
  lastDrawnId = randomBase64url(8) + randomBase64url(8);
  return lastDrawnId;
}

/** The id {@link newMessageId} returned last: base64url, never percent-encoded. */
let lastDrawnId = "";

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
  return randomBase64url(8);
}

/**
 * Random bytes as base64url text, drawn in blocks: a block of random bytes is encoded once, and
 * each id or token is a slice of the text (a native base64url call per message id and per reply
 * token cost a publisher more than its envelope). The block's length is a multiple of 3 bytes, so
 * the text has no padding and every character carries 6 random bits; `chars` is a multiple of 4
 * (3 bytes), so a slice is exactly what encoding its own bytes would give.
 */
function randomBase64url(chars: number): string {
  if (randomTextOffset + chars > randomText.length) {
    randomText = randomFillSync(Buffer.allocUnsafe(RANDOM_TEXT_BYTES)).toString("base64url");
    randomTextOffset = 0;
  }
  const text = randomText.slice(randomTextOffset, randomTextOffset + chars);
  randomTextOffset += chars;
  return text;
}

/** 3 × 4096 bytes: 16,384 characters, 1,024 message ids. */
const RANDOM_TEXT_BYTES = 3 * 4096;
let randomText = "";
let randomTextOffset = 0;

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
