/** The metrics of a host: the instruments, and the series of each message bound once. */
import type {
  Counter,
  CounterSeries,
  Gauge,
  GaugeSeries,
  Histogram,
  HistogramSeries,
  Registry,
} from "../metrics.js";

/** The instruments of one host, registered once in its registry. */
export interface HostInstruments {
  handled: Counter;
  invalid: Counter;
  duration: Histogram;
  inFlight: Gauge;
  ready: Gauge;
  leader: Gauge;
  jobs: Counter;
}

/** Registers the host's instruments in `r`. */
export function hostInstruments(r: Registry): HostInstruments {
  return {
    handled: r.counter("catga_messages_total", "Messages handled, by message, kind and outcome."),
    invalid: r.counter("catga_invalid_messages_total", "Messages that failed their schema, by message."),
    duration: r.histogram("catga_message_duration_seconds", "Time to handle a message, by message."),
    inFlight: r.gauge("catga_messages_in_flight", "Messages being handled now, by message."),
    ready: r.gauge("catga_ready", "1 when the instance is ready to serve."),
    jobs: r.counter("catga_job_runs_total", "Scheduled job runs, by job and outcome."),
    leader: r.gauge("catga_leader", "1 when this instance leads its service."),
  };
}

/** The metric series the handling of one message touches. */
export interface MessageMetrics {
  inFlight: GaugeSeries;
  invalid: CounterSeries;
  duration: HistogramSeries;
  /** `handled("ok")`, bound with the others: the outcome of nearly every message. */
  ok: CounterSeries;
  handled(outcome: string): CounterSeries;
}

/**
 * The metric series of each message, bound on first use: addressing them by labels per message
 * (sorting and quoting the labels into a key, four times) would cost more than the rest of the
 * bookkeeping of a message.
 */
export class MessageMetricsTable {
  readonly #m: HostInstruments;
  readonly #perMessage = new Map<string, MessageMetrics>();

  constructor(m: HostInstruments) {
    this.#m = m;
  }

  /** The series of `message` (of `kind`: command, query or event). */
  of(message: string, kind: string): MessageMetrics {
    let mm = this.#perMessage.get(message);
    if (mm === undefined) {
      const m = this.#m;
      const ok = m.handled.series({ message, kind, outcome: "ok" });
      const outcomes = new Map<string, CounterSeries>([["ok", ok]]);
      mm = {
        ok,
        inFlight: m.inFlight.series({ message }),
        invalid: m.invalid.series({ message }),
        duration: m.duration.series({ message }),
        handled: (outcome) => {
          let c = outcomes.get(outcome);
          if (c === undefined) {
            c = m.handled.series({ message, kind, outcome });
            outcomes.set(outcome, c);
          }
          return c;
        },
      };
      this.#perMessage.set(message, mm);
    }
    return mm;
  }
}
