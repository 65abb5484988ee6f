/**
 * The instances' JSON log lines (runtime/log.ts) as a person reads them in a terminal: what
 * `catga up --memory` prints, since every instance runs in its process and no log file exists.
 *
 *     order-0  INFO   placed order  orderId=o-1 total=12.5
 *     order-1  ERROR  handler failed  message=CreateOrder
 *         TypeError: boom
 *             at Object.createOrder (services/order.ts:14:11)
 */

/** Fields every line carries or that are printed in their own place, not as `key=value`. */
const SHOWN_APART = new Set(["time", "level", "msg", "topology", "service", "instance", "error"]);

/** One JSON log line as text (with the error's stack on the lines below); the line itself if it is not JSON. */
export function formatLogLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  if (typeof record !== "object" || record === null) return json;
  const who = String(record.instance ?? record.service ?? "-");
  const level = String(record.level ?? "info").toUpperCase();
  const fields = Object.entries(record)
    .filter(([k]) => !SHOWN_APART.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  const head = `${who.padEnd(12)} ${level.padEnd(5)}  ${String(record.msg ?? "")}${fields.length ? `  ${fields.join(" ")}` : ""}`;
  const error = record.error as { name?: unknown; message?: unknown; stack?: unknown } | undefined;
  if (error === undefined || typeof error !== "object" || error === null) return head;
  const detail =
    typeof error.stack === "string"
      ? error.stack
      : `${String(error.name ?? "Error")}: ${String(error.message ?? "")}`;
  return `${head}\n${detail
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n")}`;
}
