import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { DIFF_RULES, type DiffCode, type DiffFinding, diffSources, isBreaking } from "../../compiler/diff/index.js";

/**
 * Diff goldens: each folder of test/golden/diff holds an `old.catga` and a `new.catga`, and
 * `expected.json` pins the `{ code, side, line }` of every finding of the diff old → new
 * (`forward`) and new → old (`reverse`). Like the diagnostic goldens they pin codes and lines, not
 * wording. Folders are named `<code>-<rule>[-variant]` after the rule they demonstrate.
 * `UPDATE_GOLDENS=1 npx vitest run test/golden` rewrites the expected files; review the diff.
 */

const ROOT = fileURLToPath(new URL("./diff", import.meta.url));
const DIFF_MD = fileURLToPath(new URL("../../docs/diff.md", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDENS === "1";
const ALL_CODES = Object.keys(DIFF_RULES) as DiffCode[];

interface Pinned {
  code: string;
  side: "old" | "new";
  line: number;
}

function pin(findings: readonly DiffFinding[]): Pinned[] {
  return findings.map((f) => ({ code: f.code, side: f.side, line: f.span.start.line }));
}

function serialise(forward: readonly Pinned[], reverse: readonly Pinned[]): string {
  const list = (pinned: readonly Pinned[]) =>
    pinned.length === 0
      ? "[]"
      : `[\n${pinned.map((p) => `    { "code": "${p.code}", "side": "${p.side}", "line": ${p.line} }`).join(",\n")}\n  ]`;
  return `{\n  "forward": ${list(forward)},\n  "reverse": ${list(reverse)}\n}\n`;
}

const folders = readdirSync(ROOT, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

function load(folder: string) {
  const dir = join(ROOT, folder);
  return {
    old: { source: readFileSync(join(dir, "old.catga"), "utf8"), file: `${folder}/old.catga` },
    next: { source: readFileSync(join(dir, "new.catga"), "utf8"), file: `${folder}/new.catga` },
  };
}

/**
 * What the diff the other way round must report, per rule: an added field reads as removed, a
 * widening as a narrowing, a change of mode, queue or delivery as the same change back.
 */
const REVERSE: Record<DiffCode, DiffCode> = {
  D1001: "D1005",
  D1002: "D1002",
  D1003: "D1003",
  D1004: "D1051",
  D1005: "D1001",
  D1006: "D1006",
  D1007: "D1053",
  D1008: "D1052",
  D1009: "D1009",
  D1010: "D1010",
  D1020: "D1020",
  D1021: "D1021",
  D1022: "D1022",
  D1023: "D1023",
  D1024: "D1024",
  D1025: "D1058",
  D1026: "D1026",
  D1027: "D1058",
  D1028: "D1028",
  D1029: "D1053",
  D1050: "D1001",
  D1051: "D1003",
  D1052: "D1008",
  D1053: "D1007",
  D1054: "D1053",
  D1055: "D1055",
  D1056: "D1056",
  D1057: "D1024",
  D1058: "D1058",
};

/** Variants whose reverse is another rule than the folder's default one (named in REVERSE). */
const REVERSE_VARIANT: Record<string, DiffCode> = {
  "D1001-field-removed-optional": "D1050",
  "D1051-type-widened-optional": "D1004",
};

describe("diff goldens", () => {
  for (const folder of folders) {
    it(`diff — ${folder} reports the pinned findings both ways`, () => {
      const { old, next } = load(folder);
      const forward = diffSources(old, next);
      const reverse = diffSources(next, old);
      expect(forward.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(reverse.compared).toBe(true);
      const expectedPath = join(ROOT, folder, "expected.json");
      if (UPDATE) writeFileSync(expectedPath, serialise(pin(forward.findings), pin(reverse.findings)));
      const expected = JSON.parse(readFileSync(expectedPath, "utf8")) as { forward: Pinned[]; reverse: Pinned[] };
      expect({ forward: pin(forward.findings), reverse: pin(reverse.findings) }).toEqual(expected);
    });
  }

  it("diff — every folder is named after a rule and reports it", () => {
    const wrong = folders.filter((folder) => {
      const code = folder.slice(0, 5) as DiffCode;
      const rule = DIFF_RULES[code];
      if (rule === undefined || !`${folder}-`.startsWith(`${code}-${rule.name}-`)) return true;
      const { old, next } = load(folder);
      return !diffSources(old, next).findings.some((f) => f.code === code);
    });
    expect(wrong).toEqual([]);
  });

  it("diff — every rule has a golden", () => {
    const covered = new Set(folders.map((f) => f.slice(0, 5)));
    expect(ALL_CODES.filter((code) => !covered.has(code))).toEqual([]);
  });

  it("diff — a safe change yields no breaking finding", () => {
    const breaking = folders
      .filter((folder) => DIFF_RULES[folder.slice(0, 5) as DiffCode].class === "safe")
      .flatMap((folder) => {
        const { old, next } = load(folder);
        return diffSources(old, next)
          .findings.filter((f) => isBreaking(f.class))
          .map((f) => `${folder}: ${f.code}`);
      });
    expect(breaking).toEqual([]);
  });

  it("diff — a file against itself is empty", () => {
    const nonEmpty = folders.flatMap((folder) => {
      const { old, next } = load(folder);
      return [old, next].flatMap((side) => {
        const r = diffSources(side, { ...side, file: `${side.file} (again)` });
        return r.compared && r.findings.length === 0 ? [] : [`${side.file}: ${r.findings.map((f) => f.code)}`];
      });
    });
    expect(nonEmpty).toEqual([]);
  });

  it("diff — the examples against themselves are empty", () => {
    for (const example of ["shop", "ledger", "pipeline", "scheduler"]) {
      const path = fileURLToPath(new URL(`../../examples/${example}/${example}.catga`, import.meta.url));
      const source = readFileSync(path, "utf8");
      expect(checkSource(source, path).value).toBeDefined();
      expect(diffSources({ source, file: "a" }, { source, file: "b" }).findings).toEqual([]);
    }
  });

  it("diff — the diff the other way round reports the mirrored rule", () => {
    const wrong = folders.flatMap((folder) => {
      const code = folder.slice(0, 5) as DiffCode;
      const mirrored = REVERSE_VARIANT[folder] ?? REVERSE[code];
      const { old, next } = load(folder);
      const codes = diffSources(next, old).findings.map((f) => f.code);
      return codes.includes(mirrored) ? [] : [`${folder}: reverse reports ${codes.join(", ") || "nothing"}, not ${mirrored}`];
    });
    expect(wrong).toEqual([]);
  });

  it("diff — every rule is documented under its own heading in docs/diff.md, with its class and golden", () => {
    const markdown = readFileSync(DIFF_MD, "utf8");
    const sections = markdown.split(/^(?=### )/m);
    const wrong = ALL_CODES.flatMap((code) => {
      const { name, class: cls } = DIFF_RULES[code];
      const section = sections.find((s) => s.startsWith(`### ${code} ${name}`));
      if (section === undefined) return [`${code}: no '### ${code} ${name}' heading`];
      const label = cls === "safe" ? "Safe" : cls === "wire" ? "Wire-breaking" : "Behaviour-breaking";
      const problems: string[] = [];
      if (!section.includes(`**${label}.**`)) problems.push(`${code}: does not say **${label}.**`);
      if (!section.includes("```diff")) problems.push(`${code}: no example`);
      if (!/\*\*Safe way\*\*|\*\*Fix\*\*/.test(section)) problems.push(`${code}: no safe way`);
      if (!folders.some((f) => f.startsWith(`${code}-`) && section.includes(`test/golden/diff/${f}`))) {
        problems.push(`${code}: names no golden`);
      }
      return problems;
    });
    expect(wrong).toEqual([]);
  });
});
