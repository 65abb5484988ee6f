/**
 * The signals that stop `catga up` — Ctrl-C (SIGINT), `kill` (SIGTERM) and a closed terminal
 * (SIGHUP) — listened for from the first moment of the command, so a signal during start-up stops
 * what was started instead of leaving it running (or killing `catga up` alone).
 */
import { constants } from "node:os";

/** The signals `catga up` treats as "stop everything". */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Signals closer together than this count as one (a wrapper forwarding the same keypress). */
const DUPLICATE_MS = 300;

/** The listener of {@link listenForStopSignals}. */
export interface StopSignals {
  /** Aborted at the first signal, with the signal's name as the reason. */
  readonly signal: AbortSignal;
  /**
   * Hands every further signal to `handler`; signals that came before it was set (while nothing
   * handled them but the abort) are handed to it at once, one call each.
   */
  handle(handler: (signal: NodeJS.Signals) => void): void;
  /** Removes the listeners. */
  dispose(): void;
}

/** Listens for {@link STOP_SIGNALS} until disposed. */
export function listenForStopSignals(): StopSignals {
  const controller = new AbortController();
  let handler: ((signal: NodeJS.Signals) => void) | undefined;
  const pending: NodeJS.Signals[] = [];
  let last = 0;
  const listener = (signal: NodeJS.Signals) => {
    // `npm run up` / `npx catga up`: a Ctrl-C reaches the whole foreground group, and npm forwards
    // it to catga once more. One keypress is one signal; a person's second Ctrl-C comes later.
    const now = Date.now();
    if (now - last < DUPLICATE_MS) return;
    last = now;
    if (!controller.signal.aborted) controller.abort(signal);
    if (handler === undefined) pending.push(signal);
    else handler(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, listener);
  return {
    signal: controller.signal,
    handle(next) {
      handler = next;
      for (const s of pending.splice(0)) next(s);
    },
    dispose() {
      for (const s of STOP_SIGNALS) process.off(s, listener);
    },
  };
}

/** The exit code of a process stopped by `signal`: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129). */
export function signalExitCode(signal: string): number {
  return 128 + (constants.signals[signal as NodeJS.Signals] ?? 2);
}
