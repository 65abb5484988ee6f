import { describe, expect, it } from "vitest";
import { diffSources } from "../../compiler/diff/index.js";

/** The codes of the diff old → new, in report order. */
function codes(old: string, next: string): string[] {
  const r = diffSources({ source: old, file: "old.catga" }, { source: next, file: "new.catga" });
  expect(r.compared).toBe(true);
  return r.findings.map((f) => f.code);
}

const BASE = `topology t

enum Color { red, green }

type Money { amount: float, currency: string }

command Pay { id: string, price: Money, color: Color } -> string

service api {
  replicas 2
  handles Pay queue "api-workers"
}

service spare {
  replicas 2
  on Paid
}

event Paid { id: string }

service boss {
  mode leader
  replicas 2
  lease 9s
  handles Audit queue "boss-q"
  emits Paid
}

command Audit { id: string }
`;

describe("diff rules", () => {
  it("diff — a record renamed with the same fields reads the same on the wire", () => {
    const next = BASE.replace("type Money {", "type Amount {").replace("price: Money", "price: Amount");
    expect(codes(BASE, next)).toEqual(["D1054", "D1053"]);
  });

  it("diff — a record renamed with other fields is a type change", () => {
    const next = BASE.replace("type Money { amount: float,", "type Amount { cents: int,").replace(
      "price: Money",
      "price: Amount",
    );
    expect(codes(BASE, next)).toContain("D1003");
  });

  it("diff — an enum renamed: same members is no change, more members a widening, fewer a type change", () => {
    const renamed = (members: string) =>
      BASE.replace("enum Color { red, green }", `enum Hue { ${members} }`).replace(
        "color: Color",
        "color: Hue",
      );
    expect(codes(BASE, renamed("red, green"))).toEqual(["D1054", "D1053"]);
    expect(codes(BASE, renamed("red, green, blue"))).toContain("D1051");
    expect(codes(BASE, renamed("red"))).toContain("D1003");
  });

  it("diff — a queue renamed in leader mode changes nothing: only the leader subscribes", () => {
    expect(codes(BASE, BASE.replace('queue "boss-q"', 'queue "boss"'))).toEqual([]);
  });

  it("diff — a handler moved into the old queue group is safe; into another group it runs twice", () => {
    const into = (queue: string) =>
      BASE.replace('  handles Pay queue "api-workers"\n', "").replace(
        "  on Paid\n",
        `  on Paid\n  handles Pay${queue}\n`,
      );
    expect(codes(BASE, into(' queue "api-workers"'))).toEqual([]);
    expect(codes(BASE, into(""))).toEqual(["D1026"]);
  });

  it("diff — a lease cut to a third of the old one is safe; below the old renewal interval it is not", () => {
    expect(codes(BASE, BASE.replace("lease 9s", "lease 3s"))).toEqual(["D1058"]);
    expect(codes(BASE, BASE.replace("lease 9s", "lease 2999ms"))).toEqual(["D1025"]);
  });

  it("diff — a message nothing used may go; one still emitted or consumed may not", () => {
    const unusedOld = `${BASE}\nevent Spare { id: string }\n`;
    expect(codes(unusedOld, BASE)).toEqual(["D1054"]);
    const gone = BASE.replace("event Paid { id: string }\n", "")
      .replace("  on Paid\n", "")
      .replace("  emits Paid\n", "");
    expect(codes(BASE, gone)).toContain("D1007");
  });

  it("diff — a removal points into the old file; a change into the new one, with a note on the old place", () => {
    const next = BASE.replace("command Pay { id: string,", "command Pay {").replace("-> string", "-> int");
    const r = diffSources({ source: BASE, file: "old.catga" }, { source: next, file: "new.catga" });
    const removed = r.findings.find((f) => f.code === "D1001")!;
    expect(removed).toMatchObject({
      side: "old",
      span: { file: "old.catga", start: { line: 7, column: 15 } },
    });
    const changed = r.findings.find((f) => f.code === "D1006")!;
    expect(changed).toMatchObject({ side: "new", span: { file: "new.catga", start: { line: 7 } } });
    expect(changed.related?.[0]?.span).toMatchObject({ file: "old.catga", start: { line: 7 } });
  });

  it("diff — deterministic: the same inputs give the same findings", () => {
    const next = BASE.replace("replicas 2", "replicas 3")
      .replace("lease 9s", "lease 1s")
      .replace("enum Color { red, green }", "enum Color { red }");
    const a = diffSources({ source: BASE, file: "old.catga" }, { source: next, file: "new.catga" });
    const b = diffSources({ source: BASE, file: "old.catga" }, { source: next, file: "new.catga" });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a.findings.map((f) => f.code)).toEqual(["D1008", "D1055", "D1025"]);
  });

  it("diff — a file with errors is not compared; its diagnostics are returned, nothing is thrown", () => {
    for (const broken of ["", "topology", "\u0000\u00ff", BASE.replace("on Paid", "on Paidd")]) {
      const r = diffSources({ source: BASE, file: "old.catga" }, { source: broken, file: "new.catga" });
      expect(r.compared).toBe(false);
      expect(r.findings).toEqual([]);
      expect(r.diagnostics.some((d) => d.severity === "error" && d.span.file === "new.catga")).toBe(true);
    }
  });
});
