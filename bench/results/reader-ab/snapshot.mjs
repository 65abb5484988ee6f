import { writeHeapSnapshot } from "node:v8";

if (process.argv.includes("subscriber")) {
  for (const at of [Number(process.env.SNAP_AT ?? 9000)]) {
    setTimeout(() => {
      const f = writeHeapSnapshot(`/tmp/snap/${process.pid}-${at}.heapsnapshot`);
      process.stderr.write(`[snap ${process.pid}] ${f}\n`);
    }, at).unref();
  }
}
