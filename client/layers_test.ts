/**
 * The SDK's modules import one way: no cycle among `client/`'s files, counting type-only and
 * dynamic imports (README, design notes, lists the layers).
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = dirname(new URL(import.meta.url).pathname);

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await sources(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) out.push(path);
  }
  return out;
}

/** Relative imports of a module: `import`/`export ... from`, `import type`, `import("...")`. */
function importsOf(path: string, code: string): string[] {
  // Comments hold examples (`import ... from "./x.ts"` in doc blocks): drop them first.
  const bare = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found = [
    ...bare.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;"']*?from\s*"(\.[^"]+)"/g),
    ...bare.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g),
  ];
  return found.map((match) => normalize(join(dirname(path), match[1])));
}

/** A cycle of the graph as a list of files, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    if (!state.has(node)) {
      const cycle = visit(node);
      if (cycle) return cycle;
    }
  }
  return undefined;
}

Deno.test("client/ has no import cycle, type and dynamic imports included", async () => {
  const graph = new Map<string, string[]>();
  for (const path of await sources(ROOT)) {
    graph.set(path, importsOf(path, await Deno.readTextFile(path)));
  }
  assert.ok(graph.size > 40, `only ${graph.size} modules found under ${ROOT}`);
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `cycle: ${cycle?.map((p) => relative(ROOT, p)).join(" -> ")}`);
});

Deno.test("findCycle finds a cycle made only of type imports", () => {
  const a = "/x/a.ts";
  const b = "/x/b.ts";
  const graph = new Map([
    [a, importsOf(a, 'import type { B } from "./b.ts";')],
    [b, importsOf(b, 'export { type A } from "./a.ts";\nconst m = () => import("./a.ts");')],
  ]);
  assert.deepEqual(findCycle(graph), [a, b, a]);
  assert.deepEqual(importsOf(a, '/** import { x } from "./doc.ts"; */'), []);
});
