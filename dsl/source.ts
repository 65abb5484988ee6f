import type { CatgaFile } from "./ast.js";
import { diagnostic, type Result } from "./diagnostics.js";
import { parseSource } from "./parser.js";

/**
 * Largest accepted source: 16 MiB. The 5,000-service topology of bench/compiler is about 4 MiB; anything
 * far beyond is not a topology, and refusing it keeps a stray `catgac check` on a log file fast.
 */
export const MAX_SOURCE_BYTES = 16 * 1024 * 1024;

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a .catga file from its text or its raw bytes. Bytes are decoded as strict UTF-8 so that a
 * binary or Latin-1 file is reported (C1005) rather than read as replacement characters. Never throws.
 */
export function parse(source: string | Uint8Array, file: string): Result<CatgaFile> {
  const empty: CatgaFile = {
    kind: "File",
    declarations: [],
    comments: [],
    span: { file, start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } },
  };
  const size = typeof source === "string" ? Buffer.byteLength(source) : source.byteLength;
  if (size > MAX_SOURCE_BYTES) {
    return {
      value: empty,
      diagnostics: [
        diagnostic(
          "C1006",
          empty.span,
          `file is too large (${size} bytes; the limit is ${MAX_SOURCE_BYTES})`,
          {
            hint: "a topology file is normally a few kilobytes: check that this is the right file",
          },
        ),
      ],
    };
  }
  let text: string;
  if (typeof source === "string") {
    text = source;
  } else {
    try {
      text = decoder.decode(source);
    } catch {
      const at = firstInvalidUtf8(source);
      const prefix = Buffer.from(source.subarray(0, at)).toString("utf8");
      const lines = prefix.split(/\r\n|\r|\n/);
      const position = {
        line: lines.length,
        column: (lines[lines.length - 1]?.length ?? 0) + 1,
        offset: prefix.length,
      };
      return {
        value: empty,
        diagnostics: [
          diagnostic(
            "C1005",
            {
              file,
              start: position,
              end: { ...position, column: position.column + 1, offset: position.offset + 1 },
            },
            `file is not valid UTF-8 (byte 0x${(source[at] ?? 0).toString(16).padStart(2, "0")} at byte offset ${at})`,
            { hint: "save the file as UTF-8; binary files cannot be topologies" },
          ),
        ],
      };
    }
  }
  return parseSource(text, file);
}

/** Byte index of the first byte that breaks UTF-8 decoding. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need =
      b < 0x80
        ? 0
        : b >= 0xc2 && b <= 0xdf
          ? 1
          : b >= 0xe0 && b <= 0xef
            ? 2
            : b >= 0xf0 && b <= 0xf4
              ? 3
              : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    i += need + 1;
  }
  return bytes.length;
}
