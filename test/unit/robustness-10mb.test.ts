import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generateTopology } from "../../bench/compiler/generate.js";
import { checkSource } from "../../compiler/check/index.js";
import { codes, FILE, parseAndCheck } from "./_robustness.js";

/**
 * Ten-megabyte inputs: a valid topology, one example repeated until every name is declared
 * thousands of times, and random garbage. Each must come back as diagnostics within seconds. The
 * timings are printed so a slowdown shows in the test log (see docs/benchmarks.md for the real
 * benchmark).
 */

const SHOP = readFileSync(fileURLToPath(new URL("../../examples/shop/shop.catga", import.meta.url)), "utf8");

/** A generated valid topology of at least `bytes` UTF-8 bytes. */
function validTopologyOf(bytes: number): { services: number; text: string } {
  const perService = Buffer.byteLength(generateTopology(100)) / 100;
  const services = Math.ceil(bytes / perService) + 10;
  return { services, text: generateTopology(services) };
}

/** `length` characters drawn from `alphabet` by a fixed linear congruential sequence: fast and deterministic. */
function garbage(length: number, alphabet: string): string {
  const chars = [...alphabet];
  let state = 12_345;
  const parts: string[] = [];
  for (let done = 0; done < length; done += 10_000) {
    let chunk = "";
    for (let i = 0; i < 10_000; i++) {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      chunk += chars[state % chars.length];
    }
    parts.push(chunk);
  }
  return parts.join("");
}

const MB = 10_000_000;

describe("robustness — 10 MB input", () => {
  it("robustness — a 10 MB valid topology parses and checks without errors", () => {
    const { services, text } = validTopologyOf(MB);
    const run = parseAndCheck(text);
    expect(run.parsed).toEqual([]);
    expect(run.checked.filter((d) => d.severity === "error")).toEqual([]);
    console.info(
      `10 MB valid topology (${services} services, ${Buffer.byteLength(text)} bytes): ` +
        `parse ${run.parseMs.toFixed(0)} ms, check ${run.checkMs.toFixed(0)} ms`,
    );
  }, 120_000);

  it("robustness — a 10 MB file of one example repeated reports its duplicates", () => {
    const body = SHOP.replace(/^topology \w+$/m, "");
    const text = `topology big\n${body.repeat(Math.ceil(MB / body.length))}`;
    const run = parseAndCheck(text);
    expect(run.parsed).toEqual([]);
    expect(codes(run.checked)).toContain("C2002");
    console.info(
      `10 MB repeated example (${Buffer.byteLength(text)} bytes): parse ${run.parseMs.toFixed(0)} ms, ` +
        `check ${run.checkMs.toFixed(0)} ms, ${run.checked.length} diagnostics`,
    );
  }, 120_000);

  it("robustness — 10 MB of garbage gives 100 errors and one C1008", () => {
    const text = garbage(MB, 'abcXYZ019_ {}[]?:,->"/*\n\t#$%@!~`\u0000é😀');
    const run = parseAndCheck(text);
    expect(run.parsed.length).toBe(101);
    expect(run.parsed[100]!.code).toBe("C1008");
    // checkSource stops after C1008: the reader should fix syntax first.
    expect(codes(checkSource(text.slice(0, 100_000), FILE).diagnostics)).toContain("C1008");
    console.info(
      `10 MB garbage (${Buffer.byteLength(text)} bytes): parse ${run.parseMs.toFixed(0)} ms, ` +
        `check ${run.checkMs.toFixed(0)} ms`,
    );
  }, 120_000);
});
