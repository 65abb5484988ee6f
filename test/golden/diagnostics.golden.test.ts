import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { DIAGNOSTIC_CODES, type Diagnostic, type DiagnosticCode, MAX_SOURCE_BYTES } from "../../dsl/index.js";

/**
 * Diagnostic goldens: each folder of test/golden/diagnostics holds an `input.catga` and an
 * `expected.json` listing the `{ code, line }` of every diagnostic, in output order. Goldens pin
 * codes and lines, not wording, so messages can improve without churn. Folders are named
 * `<code>-<name>[-variant]` after the code they demonstrate.
 *
 * Inputs are read as bytes, as the CLI reads them, so the invalid-UTF-8 golden reaches the decoder.
 * `UPDATE_GOLDENS=1 npx vitest run test/golden` rewrites the expected files; review the diff.
 */

const ROOT = fileURLToPath(new URL("./diagnostics", import.meta.url));
const DIAGNOSTICS_MD = fileURLToPath(new URL("../../docs/diagnostics.md", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDENS === "1";
const ALL_CODES = Object.keys(DIAGNOSTIC_CODES) as DiagnosticCode[];

interface Pinned {
  code: string;
  line: number;
}

function pin(diagnostics: readonly Diagnostic[]): Pinned[] {
  return diagnostics.map((d) => ({ code: d.code, line: d.span.start.line }));
}

/** One `{ code, line }` per line: the files read like the output they pin. */
function serialise(pinned: readonly Pinned[]): string {
  if (pinned.length === 0) return "[]\n";
  return `[\n${pinned.map((p) => `  { "code": "${p.code}", "line": ${p.line} }`).join(",\n")}\n]\n`;
}

const folders = readdirSync(ROOT, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

/**
 * Cases too large or too repetitive to store: a file over the size limit (C1006) and a file with
 * more syntax errors than are reported (C1008). Built in memory, pinned the same way.
 */
const generated: { name: string; source: () => string | Uint8Array; expected: Pinned[] }[] = [
  {
    name: "C1006-file-too-large",
    source: () => {
      const head = Buffer.from("topology big\n");
      const bytes = Buffer.alloc(MAX_SOURCE_BYTES + 1, 0x20);
      head.copy(bytes);
      return bytes;
    },
    expected: [{ code: "C1006", line: 1 }],
  },
  {
    name: "C1008-too-many-errors",
    source: () => `topology garbage\n${"@ # $\n".repeat(200)}`,
    // The first 100 errors are kept (line 2 onwards, 3 per line); C1008 sits at the first dropped one.
    expected: [
      ...Array.from({ length: 100 }, (_, i) => ({ code: "C1001", line: 2 + Math.floor(i / 3) })),
      { code: "C1008", line: 35 },
    ],
  },
];

describe("diagnostics goldens", () => {
  for (const folder of folders) {
    it(`diagnostics — ${folder} reports the pinned codes and lines`, () => {
      const dir = join(ROOT, folder);
      const input = readFileSync(join(dir, "input.catga"));
      const actual = pin(checkSource(input, `${folder}/input.catga`).diagnostics);
      const expectedPath = join(dir, "expected.json");
      if (UPDATE) writeFileSync(expectedPath, serialise(actual));
      const expected: unknown = JSON.parse(readFileSync(expectedPath, "utf8"));
      expect(actual).toEqual(expected);
    });
  }

  for (const { name, source, expected } of generated) {
    it(`diagnostics — ${name} (generated in memory) reports the pinned codes and lines`, () => {
      expect(pin(checkSource(source(), `${name}.catga`).diagnostics)).toEqual(expected);
    });
  }

  it("diagnostics — every folder is named after a code and its name", () => {
    const misnamed = folders.filter((folder) => {
      const code = folder.slice(0, 5) as DiagnosticCode;
      const entry = DIAGNOSTIC_CODES[code];
      return entry === undefined || !`${folder}-`.startsWith(`${code}-${entry.name}-`);
    });
    expect(misnamed).toEqual([]);
  });

  it("diagnostics — every code has a golden that reports it", () => {
    const covered = new Set<string>();
    for (const folder of folders) {
      const expected = JSON.parse(readFileSync(join(ROOT, folder, "expected.json"), "utf8")) as Pinned[];
      if (expected.some((p) => p.code === folder.slice(0, 5))) covered.add(folder.slice(0, 5));
    }
    for (const { name, expected } of generated) {
      if (expected.some((p) => p.code === name.slice(0, 5))) covered.add(name.slice(0, 5));
    }
    expect(ALL_CODES.filter((code) => !covered.has(code))).toEqual([]);
  });

  it("diagnostics — every code is documented under its own heading in docs/diagnostics.md", () => {
    const headings = readFileSync(DIAGNOSTICS_MD, "utf8")
      .split("\n")
      .filter((line) => /^#{2,4} /.test(line));
    const undocumented = ALL_CODES.filter(
      (code) => !headings.some((h) => h.includes(code) && h.includes(DIAGNOSTIC_CODES[code].name)),
    );
    expect(undocumented).toEqual([]);
  });

  it("diagnostics — the example of every code in docs/diagnostics.md reports that code", () => {
    const examples = documentedExamples(readFileSync(DIAGNOSTICS_MD, "utf8"));
    // Invalid bytes and a 16 MiB file cannot be shown in markdown; their goldens cover them.
    const inexpressible = new Set<string>(["C1005", "C1006"]);
    expect(ALL_CODES.filter((code) => !inexpressible.has(code) && !examples.has(code))).toEqual([]);
    const wrong = [...examples].flatMap(([code, source]) => {
      const reported = checkSource(source, `diagnostics.md#${code}`).diagnostics.map((d) => d.code);
      return reported.includes(code as DiagnosticCode)
        ? []
        : [`${code}: reports ${reported.join(", ") || "nothing"}`];
    });
    expect(wrong).toEqual([]);
  });
});

/** The first ```catga block under each `### Cxxxx name` heading, by code. */
function documentedExamples(markdown: string): Map<string, string> {
  const examples = new Map<string, string>();
  let code: string | undefined;
  let body: string[] | undefined;
  for (const line of markdown.split("\n")) {
    if (body !== undefined) {
      if (/^```\s*$/.test(line)) {
        if (code !== undefined && !examples.has(code)) examples.set(code, `${body.join("\n")}\n`);
        body = undefined;
      } else body.push(line);
      continue;
    }
    const heading = /^#{2,4} (C\d{4}) /.exec(line);
    if (heading) code = heading[1];
    else if (/^#{1,4} /.test(line)) code = undefined;
    else if (/^```catga\s*$/.test(line)) body = [];
  }
  return examples;
}
