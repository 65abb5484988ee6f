/**
 * Structured logs: one JSON object per line on stderr (or a given sink), with the time, level,
 * message and the instance's bound fields (topology, service, instance). JSON lines, because in
 * compose and Kubernetes logs are collected by machines first and read by people second.
 */

/** Log levels, in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Every level, in increasing severity: what `CATGA_LOG_LEVEL` and `catga up --log-level` accept. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Whether `text` names a level. */
export function isLogLevel(text: string): text is LogLevel {
  return Object.hasOwn(RANK, text);
}

/**
 * Extra fields of one log line. Errors are expanded to their name, message, code, stack and cause
 * (see {@link describeError}).
 */
export type LogFields = Record<string, unknown>;

/** A logger with bound fields. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /**
   * Lines below this level are dropped.
   * @default "info"
   */
  level?: LogLevel;
  /**
   * Where lines go.
   * @default a line on process.stderr
   */
  sink?: (line: string) => void;
  /**
   * The clock, for tests.
   * @default Date.now
   */
  now?: () => number;
}

/** A JSON-lines logger. */
export function createLogger(fields: LogFields = {}, options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? "info"];
  const sink = options.sink ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const make = (bound: LogFields): Logger => {
    const write = (level: LogLevel, msg: string, extra?: LogFields) => {
      if (RANK[level] < min) return;
      const record: LogFields = { time: new Date(now()).toISOString(), level, msg, ...bound };
      for (const [k, v] of Object.entries(extra ?? {})) record[k] = v instanceof Error ? describeError(v) : v;
      sink(safeStringify(record));
    };
    return {
      debug: (m, f) => write("debug", m, f),
      info: (m, f) => write("info", m, f),
      warn: (m, f) => write("warn", m, f),
      error: (m, f) => write("error", m, f),
      child: (f) => make({ ...bound, ...f }),
    };
  };
  return make(fields);
}

/** A logger that drops everything: for tests and embedded use that wants silence. */
export const silentLogger: Logger = createLogger({}, { sink: () => {}, level: "error" });

/** How deep a chain of causes is followed: a cause that is its own cause must not loop forever. */
const MAX_CAUSES = 5;

/**
 * An error as log fields: name, message, code (when it has one), the stack (where a handler's
 * failure happened: the caller gets only the message, so the log is where a developer finds the
 * line) and the cause, described the same way. Exported for tests.
 */
export function describeError(error: Error, depth = 0): LogFields {
  const code = (error as { code?: unknown }).code;
  const fields: LogFields = { name: error.name, message: error.message };
  if (code !== undefined) fields.code = code;
  if (typeof error.stack === "string") fields.stack = error.stack;
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined && depth < MAX_CAUSES) {
    fields.cause = cause instanceof Error ? describeError(cause, depth + 1) : cause;
  }
  return fields;
}

/** JSON.stringify that never throws (cycles and BigInts become strings): a log call must not crash a handler. */
function safeStringify(record: LogFields): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(record, (_k, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (typeof v === "object" && v !== null) {
        if (seen.has(v)) return "[circular]";
        seen.add(v);
      }
      return v;
    });
  } catch {
    return JSON.stringify({ time: record.time, level: record.level, msg: record.msg, unserializable: true });
  }
}
