/**
 * Timing helpers shared by the elector, locks and schedules.
 */

/**
 * The default clock for deadlines: monotonic, so a wall-clock step (NTP, a VM resume) can neither
 * extend nor cut a term. It keeps counting while the process is stopped (SIGSTOP), which is what
 * the renew deadline must measure.
 */
export const monotonicNow = (): number => performance.now();

/** A sleep that can be cut short by {@link Sleeper.wake}: used to react at once to stop() and tryNow(). */
export class Sleeper {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private resolve: (() => void) | undefined;

  /** Resolves after `ms` or at the next {@link wake}, whichever comes first. */
  sleep(ms: number): Promise<void> {
    this.wake();
    return new Promise<void>((resolve) => {
      this.resolve = resolve;
      this.timer = setTimeout(() => this.wake(), Math.max(0, ms));
    });
  }

  /** Ends the current sleep, if any. */
  wake(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const resolve = this.resolve;
    this.resolve = undefined;
    resolve?.();
  }
}

/** `ms` stretched by up to `jitter` (0.2 = up to +20 %), so contenders do not retry in lockstep. */
export function jittered(ms: number, jitter: number, random: () => number): number {
  return ms * (1 + jitter * random());
}
