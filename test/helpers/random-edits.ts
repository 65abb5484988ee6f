/**
 * Random edits of the kinds people make while typing a `.catga` file, from a seeded generator: the
 * fuzz tests of the language server's incremental parsing and checking replay them and compare with
 * doing everything from scratch.
 */

/** mulberry32: seeded, so a failing sequence of edits reproduces. */
export function generator(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One edit of the kinds people make: mostly valid (inside names, whole lines), sometimes not. */
export function edit(text: string, random: () => number): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const lineStarts = [0, ...[...text.matchAll(/\n/g)].map((m) => m.index! + 1)];
  const names = [...text.matchAll(/[A-Za-z_]\w*/g)];
  const at = Math.floor(random() * (text.length + 1));
  switch (Math.floor(random() * 9)) {
    case 0:
    case 1: {
      const name = pick(names);
      const i = name.index! + Math.floor(random() * name[0].length);
      return text.slice(0, i) + pick(["x", "Q", "_", "7"]) + text.slice(i);
    }
    case 2: {
      const name = pick(names);
      const i = name.index! + Math.floor(random() * name[0].length);
      return text.slice(0, i) + text.slice(i + 1);
    }
    case 3: {
      const i = pick(lineStarts);
      return (
        text.slice(0, i) +
        pick([
          "command Zz {}\n",
          "/// A doc.\n",
          "// note\n",
          "\n",
          "service zz { on OrderCreated }\n",
          "/// dangling\n\n",
        ]) +
        text.slice(i)
      );
    }
    case 4: {
      const i = pick(lineStarts);
      const j = text.indexOf("\n", i);
      return text.slice(0, i) + (j < 0 ? "" : text.slice(j + 1));
    }
    case 5:
      return text.slice(0, at) + pick(["{", "}", "/*", "*/", '"', "///", "\r\n", "é", " "]) + text.slice(at);
    case 6:
      return text.slice(0, at) + text.slice(Math.min(text.length, at + 1 + Math.floor(random() * 20)));
    default: {
      const i = pick(lineStarts);
      return text.slice(0, i) + "  " + text.slice(i);
    }
  }
}
