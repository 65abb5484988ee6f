import { PerformanceObserver } from "node:perf_hooks";

let n = 0,
  ms = 0,
  last = "";
const kinds = {};
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    const k = e.detail?.kind ?? e.kind;
    kinds[k] = (kinds[k] ?? 0) + 1;
    ms += e.duration;
    n++;
  }
}).observe({ entryTypes: ["gc"] });
setInterval(() => {
  const line = `[gc ${process.pid} ${process.argv.slice(2).join(" ").slice(-40)}] n=${n} ms=${ms.toFixed(1)} kinds=${JSON.stringify(kinds)} heapUsedMB=${(process.memoryUsage().heapUsed / 1e6).toFixed(1)}`;
  if (line !== last) process.stderr.write(`${line}\n`);
  last = line;
}, 3000).unref();
