/**
 * The longest functions under a folder, by lines from the function's first token to its end, as
 * the TypeScript parser sees them (declarations, expressions, arrows, methods and accessors; a
 * nested function counts in its parent too). Used to show how long the runtime's functions are:
 *
 *     npx tsx bench/code/function-lengths.ts runtime 15
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const [root = "runtime", top = "15"] = process.argv.slice(2);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

function nameOf(node: ts.FunctionLikeDeclaration): string {
  if (node.name !== undefined) return node.name.getText();
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText();
  return "<anonymous>";
}

const found: { lines: number; name: string; at: string }[] = [];
for (const file of files(root)) {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.end).line;
      const fn = node as ts.FunctionLikeDeclaration;
      found.push({ lines: end - start + 1, name: nameOf(fn), at: `${relative(".", file)}:${start + 1}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
found.sort((a, b) => b.lines - a.lines);
for (const f of found.slice(0, Number(top)))
  console.log(`${String(f.lines).padStart(5)}  ${f.name.padEnd(28)} ${f.at}`);
