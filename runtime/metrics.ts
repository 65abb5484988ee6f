/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (version 0.0.4) that `/metrics` serves. Written here rather than taken from
 * prom-client because the runtime needs a handful of series and no global state: every host gets
 * its own registry, so several instances in one process (the in-memory topology) do not mix counts.
 */

/** Label values of one series, by label name. */
export type Labels = Readonly<Record<string, string>>;

/** Default histogram buckets for message handling, in seconds: 0.5 ms to 10 s. */
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

type Kind = "counter" | "gauge" | "histogram";

interface Family {
  name: string;
  help: string;
  kind: Kind;
  buckets?: readonly number[];
  series: Map<string, Series>;
}

interface Series {
  labels: Labels;
  value: number;
  /** Histograms: cumulative counts are computed when rendering; these are per-bucket counts. */
  counts?: number[];
  sum?: number;
}

/** A metric family whose series are addressed by labels. */
export interface Counter {
  inc(labels?: Labels, by?: number): void;
  get(labels?: Labels): number;
  /**
   * The series of `labels`, bound once: for hot paths, where addressing a series by a labels object
   * on every message (sorting and quoting the labels into a key) would cost more than the count.
   * The series appears in the output at its first `inc`, as with {@link Counter.inc}.
   */
  series(labels: Labels): CounterSeries;
}

/** One series of a {@link Counter}. */
export interface CounterSeries {
  inc(by?: number): void;
}

export interface Gauge {
  set(labels: Labels, value: number): void;
  inc(labels?: Labels, by?: number): void;
  dec(labels?: Labels, by?: number): void;
  get(labels?: Labels): number;
  /** The series of `labels`, bound once (see {@link Counter.series}). */
  series(labels: Labels): GaugeSeries;
}

/** One series of a {@link Gauge}. */
export interface GaugeSeries {
  set(value: number): void;
  inc(by?: number): void;
  dec(by?: number): void;
}

export interface Histogram {
  observe(labels: Labels, value: number): void;
  /** Number of observations of one series. */
  count(labels?: Labels): number;
  /** The series of `labels`, bound once (see {@link Counter.series}). */
  series(labels: Labels): HistogramSeries;
}

/** One series of a {@link Histogram}. */
export interface HistogramSeries {
  observe(value: number): void;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A registry of metric families. */
export class Registry {
  private readonly families = new Map<string, Family>();

  counter(name: string, help: string): Counter {
    const family = this.family(name, help, "counter");
    return {
      inc: (labels = {}, by = 1) => {
        this.series(family, labels).value += by;
      },
      get: (labels = {}) => family.series.get(key(labels))?.value ?? 0,
      series: (labels) => {
        const at = this.bind(family, labels);
        return {
          inc: (by = 1) => {
            at().value += by;
          },
        };
      },
    };
  }

  gauge(name: string, help: string): Gauge {
    const family = this.family(name, help, "gauge");
    return {
      set: (labels, value) => {
        this.series(family, labels).value = value;
      },
      inc: (labels = {}, by = 1) => {
        this.series(family, labels).value += by;
      },
      dec: (labels = {}, by = 1) => {
        this.series(family, labels).value -= by;
      },
      get: (labels = {}) => family.series.get(key(labels))?.value ?? 0,
      series: (labels) => {
        const at = this.bind(family, labels);
        return {
          set: (value) => {
            at().value = value;
          },
          inc: (by = 1) => {
            at().value += by;
          },
          dec: (by = 1) => {
            at().value -= by;
          },
        };
      },
    };
  }

  histogram(name: string, help: string, buckets: readonly number[] = DURATION_BUCKETS): Histogram {
    const family = this.family(
      name,
      help,
      "histogram",
      [...buckets].sort((a, b) => a - b),
    );
    const bounds = family.buckets ?? [];
    const observe = (s: Series, value: number) => {
      let i = 0;
      while (i < bounds.length && value > (bounds[i] as number)) i++;
      (s.counts as number[])[i]! += 1;
      s.sum = (s.sum ?? 0) + value;
      s.value += 1;
    };
    return {
      observe: (labels, value) => observe(this.series(family, labels), value),
      count: (labels = {}) => family.series.get(key(labels))?.value ?? 0,
      series: (labels) => {
        const at = this.bind(family, labels);
        return { observe: (value) => observe(at(), value) };
      },
    };
  }

  /** The text exposition format: families sorted by name, series by labels (stable output). */
  render(): string {
    const lines: string[] = [];
    for (const family of [...this.families.values()].sort((a, b) => cmp(a.name, b.name))) {
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.kind}`);
      const series = [...family.series.entries()].sort(([a], [b]) => cmp(a, b)).map(([, s]) => s);
      for (const s of series) {
        if (family.kind !== "histogram") {
          lines.push(`${family.name}${labelText(s.labels)} ${number(s.value)}`);
          continue;
        }
        let cumulative = 0;
        const bounds = family.buckets ?? [];
        for (const [i, bound] of bounds.entries()) {
          cumulative += s.counts?.[i] ?? 0;
          lines.push(`${family.name}_bucket${labelText({ ...s.labels, le: number(bound) })} ${cumulative}`);
        }
        lines.push(`${family.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.value}`);
        lines.push(`${family.name}_sum${labelText(s.labels)} ${number(s.sum ?? 0)}`);
        lines.push(`${family.name}_count${labelText(s.labels)} ${s.value}`);
      }
    }
    return `${lines.join("\n")}\n`;
  }

  private family(name: string, help: string, kind: Kind, buckets?: readonly number[]): Family {
    if (!NAME.test(name)) throw new TypeError(`invalid metric name '${name}'`);
    const existing = this.families.get(name);
    if (existing) {
      if (existing.kind !== kind) throw new TypeError(`metric '${name}' is already a ${existing.kind}`);
      return existing;
    }
    const family: Family = { name, help, kind, series: new Map(), ...(buckets ? { buckets } : {}) };
    this.families.set(name, family);
    return family;
  }

  /** The series of `labels`, created at first use (so it is absent from the output until then). */
  private bind(family: Family, labels: Labels): () => Series {
    const k = key(labels);
    const copy = { ...labels };
    let s: Series | undefined;
    return () => {
      s ??= family.series.get(k) ?? this.series(family, copy);
      return s;
    };
  }

  private series(family: Family, labels: Labels): Series {
    const k = key(labels);
    let s = family.series.get(k);
    if (s === undefined) {
      s = { labels: { ...labels }, value: 0 };
      if (family.kind === "histogram") {
        s.counts = new Array((family.buckets?.length ?? 0) + 1).fill(0);
        s.sum = 0;
      }
      family.series.set(k, s);
    }
    return s;
  }
}

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(",");
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] as string)}"`).join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function number(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
