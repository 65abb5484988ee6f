import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";

if (process.argv.includes("subscriber")) {
  let n = 0,
    ms = 0;
  new PerformanceObserver((l) => {
    for (const e of l.getEntries())
      if ((e.detail?.kind ?? e.kind) === 1) {
        n++;
        ms += e.duration;
      }
  }).observe({ entryTypes: ["gc"] });
  setInterval(() => {
    const ns = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    process.stderr.write(
      `[gc ${process.pid}] t=${process.uptime().toFixed(0)}s scavenges=${n} ms=${ms.toFixed(0)} new_space=${(ns.space_size / 1048576).toFixed(1)}MB used=${(ns.space_used_size / 1048576).toFixed(1)}MB\n`,
    );
  }, 2000).unref();
}
