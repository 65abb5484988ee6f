/**
 * The live view of `catga up`: per service and instance, role, handled and failed counts, rate and the age of
 * the last heartbeat. On a terminal the table is redrawn in place (ANSI: cursor up, clear to the
 * end); otherwise it is printed as plain lines every few seconds, so a log file stays readable.
 */
import type { InstanceBeat } from "./heartbeats.js";

/** An instance the state records but whose heartbeat is older than this is shown as silent. */
const SILENT_AFTER_MS = 6000;

/** Input of {@link renderLiveView}. */
export interface LiveViewInput {
  topology: string;
  beats: readonly InstanceBeat[];
  /** Instances the cluster should have (from `.catga/`): those not heard are listed as silent. */
  expected?: readonly { id: string; service: string }[];
  /** A line under the title (servers, hints). */
  subtitle?: string;
  now?: number;
}

/** The view as lines of text (no colours, no escapes). */
export function renderLiveView(input: LiveViewInput): string[] {
  const now = input.now ?? Date.now();
  const rows: string[][] = [["SERVICE", "INSTANCE", "ROLE", "HANDLED", "FAILED", "RATE/s", "LAST BEAT"]];
  const heard = new Map(input.beats.map((b) => [b.beat.instance, b]));
  const ids = new Map<string, string>(); // instance -> service
  for (const b of input.beats)
    if (now - b.receivedAt <= SILENT_AFTER_MS) ids.set(b.beat.instance, b.beat.service);
  for (const e of input.expected ?? []) ids.set(e.id, e.service);
  const sorted = [...ids.entries()].sort(
    ([a, sa], [b, sb]) => sa.localeCompare(sb) || a.localeCompare(b, "en", { numeric: true }),
  );
  for (const [id, service] of sorted) {
    const b = heard.get(id);
    const age = b === undefined ? undefined : now - b.receivedAt;
    if (b === undefined || age === undefined || age > SILENT_AFTER_MS) {
      rows.push([
        service,
        id,
        "-",
        b ? String(b.beat.counters.handled) : "-",
        b ? String(b.beat.counters.errors) : "-",
        "-",
        b ? `${fmtAge(age!)} (silent)` : "never",
      ]);
      continue;
    }
    const role = b.beat.role === "leader" ? `leader #${b.beat.fencingToken ?? "?"}` : b.beat.role;
    rows.push([
      service,
      id,
      b.beat.ready ? role : `${role} (not ready)`,
      String(b.beat.counters.handled),
      String(b.beat.counters.errors),
      b.rate.toFixed(1),
      fmtAge(age),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const numeric = new Set([3, 4, 5]);
  const table = rows.map((r) =>
    r
      .map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd(),
  );
  return [
    `${input.topology} — ${sorted.length} instances${input.subtitle ? ` — ${input.subtitle}` : ""}`,
    ...table,
  ];
}

function fmtAge(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Draws successive frames: in place on a terminal, plain blocks otherwise. */
export class LiveViewPainter {
  #lastLines = 0;
  #lastPlain = 0;
  #lastFrame: readonly string[] = [];

  constructor(
    private readonly write: (text: string) => void,
    private readonly tty: boolean,
    /** Non-terminal output: at most one block per this many ms. @default 5000 */
    private readonly plainEveryMs = 5000,
  ) {}

  /** Draws a frame (on a non-terminal, only when the last block is old enough). */
  paint(lines: readonly string[], now = Date.now()): void {
    if (this.tty) {
      // Back to the top of the previous frame, clear everything below, draw the new one.
      const up = this.#lastLines > 0 ? `\r\x1b[${this.#lastLines}A` : "";
      this.write(`${up}\x1b[J${lines.join("\n")}\n`);
      this.#lastLines = lines.length;
      this.#lastFrame = lines;
      return;
    }
    if (now - this.#lastPlain < this.plainEveryMs) return;
    this.#lastPlain = now;
    this.write(`${lines.join("\n")}\n\n`);
  }

  /**
   * Prints other output (log lines) above the view: on a terminal the frame is cleared, `print`
   * runs, and the frame is drawn again below it, so the view stays whole at the bottom.
   */
  interject(print: () => void): void {
    if (!this.tty || this.#lastLines === 0) {
      print();
      return;
    }
    this.write(`\r\x1b[${this.#lastLines}A\x1b[J`);
    this.#lastLines = 0;
    print();
    this.paint(this.#lastFrame);
  }

  /** Forgets the previous frame (after other output was printed below it). */
  reset(): void {
    this.#lastLines = 0;
  }
}
