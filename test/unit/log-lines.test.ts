import { describe, expect, it } from "vitest";
import { createLogger } from "../../runtime/index.js";
import { LiveViewPainter } from "../../tooling/local/live-view.js";
import { formatLogLine } from "../../tooling/local/log-lines.js";

describe("log lines", () => {
  it("log lines — a JSON line reads as instance, level, message and fields; an error adds its stack below", () => {
    const lines: string[] = [];
    const log = createLogger(
      { topology: "shop", service: "order", instance: "order-3" },
      { sink: (l) => lines.push(l), now: () => 0 },
    );
    log.info("placed order", { orderId: "o-1", total: 12.5 });
    const error = new TypeError("boom");
    error.stack = "TypeError: boom\n    at createOrder (services/order.ts:14:11)";
    log.error("handler failed", { message: "CreateOrder", error });
    expect(formatLogLine(lines[0]!)).toBe("order-3      INFO   placed order  orderId=o-1 total=12.5");
    expect(formatLogLine(lines[1]!)).toBe(
      "order-3      ERROR  handler failed  message=CreateOrder\n    TypeError: boom\n        at createOrder (services/order.ts:14:11)",
    );
    expect(formatLogLine("not json")).toBe("not json");
  });

  it("log lines — on a terminal, a line printed during the live view goes above it and the view is redrawn below", () => {
    let screen = "";
    const painter = new LiveViewPainter((t) => (screen += t), true);
    painter.paint(["view", "row"]);
    painter.interject(() => (screen += "log line\n"));
    // Cleared (two lines up, erase), the log line, then the same frame again.
    expect(screen).toBe("\x1b[Jview\nrow\n\r\x1b[2A\x1b[Jlog line\n\x1b[Jview\nrow\n");
    // Off a terminal the line is just printed.
    let plain = "";
    const off = new LiveViewPainter((t) => (plain += t), false);
    off.paint(["view"], 10_000);
    off.interject(() => (plain += "log line\n"));
    expect(plain).toBe("view\n\nlog line\n");
  });
});
