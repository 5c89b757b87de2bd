/**
 * A UDF's parameters: its signature (from an exported zod schema `params`, or from the default
 * values of the entrypoint's destructured first parameter) and the coercion of raw values, such
 * as the strings of a URL query, to the types the UDF expects.
 *
 * Coercion of a string, by the parameter's type (Fused's rules, `fused/_udf/args.py`, except
 * booleans):
 * - number: `Number(text)`; empty or not a number is an error.
 * - boolean: `true`, `1`, `yes`, `on` → true; `false`, `0`, `no`, `off`, empty → false (any case);
 *   anything else is an error. Fused's Python makes `"0"` true (truthiness of a non-empty string);
 *   here it is false, as a query string `?flag=0` means.
 * - array / object: JSON text of that kind.
 * - `bounds` (by name, whatever its default): `[w,s,e,n]` as JSON or `w,s,e,n`: four numbers.
 * - string or unknown type (no default, or a default that is not a literal): the value as given.
 * Values that are not strings are passed as they are (and checked by the schema, if any).
 *
 * This module runs inside the UDF Worker: it must stay free of static imports of npm packages
 * (acorn is imported on first use, zod comes from the UDF's own module).
 *
 * @module
 */
import { ValidationError } from "../client/errors.ts";

/** One parameter of a UDF. */
export interface UdfParameter {
  /** The parameter's name. */
  name: string;
  /** Its default value, when it is a literal (or the zod default). */
  default?: unknown;
  /** `number`, `boolean`, `string`, `array`, `object` or `bounds`; absent when unknown. */
  type?: string;
  /** The zod description, when the schema gives one. */
  description?: string;
}

/** The parameters a UDF accepts. */
export interface UdfSignature {
  /** Named parameters, in declaration order. */
  parameters: UdfParameter[];
  /** Whether the UDF accepts any other names too (`...rest`, a non-destructured parameter, a loose schema). */
  hasRest: boolean;
  /** Whether the signature comes from an exported zod schema `params`. */
  schema: boolean;
}

/** The subset of a zod schema this module reads (zod v4 internals: `_zod.def`). */
interface ZodLike {
  _zod: { def: Record<string, unknown> & { type: string } };
  description?: string;
  safeParse(value: unknown): {
    success: boolean;
    data?: unknown;
    error?: { issues: { path: PropertyKey[]; message: string }[] };
  };
}

/** Whether a value is a zod schema (any copy of zod v4). */
export function isZodSchema(value: unknown): value is ZodLike {
  return typeof value === "object" && value !== null &&
    typeof (value as { _zod?: { def?: unknown } })._zod?.def === "object" &&
    typeof (value as { safeParse?: unknown }).safeParse === "function";
}

const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "catch", "readonly"]);

function zodTypeName(schema: ZodLike, name: string): { type?: string; default?: unknown } {
  let s = schema;
  let defaultValue: unknown;
  while (WRAPPERS.has(s._zod.def.type) && isZodSchema(s._zod.def.innerType)) {
    if (s._zod.def.type === "default" && defaultValue === undefined) {
      defaultValue = s._zod.def.defaultValue;
    }
    s = s._zod.def.innerType;
  }
  const t = s._zod.def.type;
  const type = name === "bounds"
    ? "bounds"
    : t === "number" || t === "int" || t === "float"
    ? "number"
    : t === "boolean"
    ? "boolean"
    : t === "array" || t === "tuple"
    ? "array"
    : t === "object" || t === "record"
    ? "object"
    : t === "string" || t === "enum"
    ? "string"
    : undefined;
  return { type, default: defaultValue };
}

/**
 * The signature described by a zod object schema.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { signatureFromSchema } from "./params.ts";
 * const sig = signatureFromSchema(z.object({ n: z.number().default(3) }));
 * if (sig.parameters[0].type !== "number" || sig.parameters[0].default !== 3) throw new Error();
 * ```
 */
export function signatureFromSchema(schema: unknown): UdfSignature {
  if (!isZodSchema(schema) || schema._zod.def.type !== "object") {
    throw new ValidationError(
      'The UDF exports `params` but it is not a zod object schema: write `export const params = z.object({ ... })` with `import { z } from "zod"`',
    );
  }
  const shape = schema._zod.def.shape as Record<string, ZodLike>;
  const catchall = schema._zod.def.catchall as ZodLike | undefined;
  return {
    parameters: Object.entries(shape).map(([name, field]) => {
      const { type, default: def } = zodTypeName(field, name);
      const p: UdfParameter = { name };
      if (def !== undefined) p.default = def;
      if (type) p.type = type;
      if (field.description) p.description = field.description;
      return p;
    }),
    hasRest: catchall !== undefined && catchall._zod.def.type !== "never",
    schema: true,
  };
}

/** An acorn AST node, loosely typed (only the fields read here). */
interface Node {
  type: string;
  [key: string]: unknown;
}

class NotLiteral extends Error {}

function literalValue(node: Node): unknown {
  switch (node.type) {
    case "Literal":
      if ((node as { regex?: unknown }).regex || typeof node.value === "bigint") {
        throw new NotLiteral();
      }
      return node.value;
    case "TemplateLiteral": {
      const quasis = node.quasis as { value: { cooked: string } }[];
      if ((node.expressions as Node[]).length > 0) throw new NotLiteral();
      return quasis[0].value.cooked;
    }
    case "ArrayExpression":
      return (node.elements as (Node | null)[]).map((e) => {
        if (e === null || e.type === "SpreadElement") throw new NotLiteral();
        return literalValue(e);
      });
    case "ObjectExpression": {
      const out: Record<string, unknown> = {};
      for (const p of node.properties as Node[]) {
        if (p.type !== "Property" || p.computed || p.kind !== "init") throw new NotLiteral();
        const key = p.key as Node;
        out[String(key.type === "Identifier" ? key.name : key.value)] = literalValue(
          p.value as Node,
        );
      }
      return out;
    }
    case "UnaryExpression": {
      const v = literalValue(node.argument as Node);
      if (typeof v !== "number") throw new NotLiteral();
      if (node.operator === "-") return -v;
      if (node.operator === "+") return v;
      throw new NotLiteral();
    }
    case "Identifier":
      if (node.name === "undefined") return undefined;
      if (node.name === "Infinity") return Infinity;
      if (node.name === "NaN") return NaN;
      throw new NotLiteral();
    default:
      throw new NotLiteral();
  }
}

function typeOfValue(value: unknown): string | undefined {
  if (Array.isArray(value)) return "array";
  if (value === null || value === undefined) return undefined;
  const t = typeof value;
  return t === "number" || t === "boolean" || t === "string" || t === "object" ? t : undefined;
}

function typeOfNode(node: Node): string | undefined {
  if (node.type === "ArrayExpression") return "array";
  if (node.type === "ObjectExpression") return "object";
  if (node.type === "TemplateLiteral") return "string";
  return undefined;
}

/** Parses the source of a function and returns its parameter nodes. */
async function functionParams(source: string): Promise<Node[]> {
  const acorn = await import("acorn");
  const options = { ecmaVersion: "latest" } as const;
  try {
    const fn = acorn.parseExpressionAt(`(${source})`, 0, options) as unknown as Node;
    return fn.params as Node[];
  } catch {
    // Method shorthand (`udf({ n }) {}`, from an object literal) is not an expression on its own.
    const obj = acorn.parseExpressionAt(`({${source}})`, 0, options) as unknown as Node;
    const prop = (obj.properties as Node[])[0];
    return (prop.value as Node).params as Node[];
  }
}

/**
 * The signature of a function from its first parameter: the names of a destructured object and
 * the types of their default values (`{ n = 10, flag = false, bounds }`). Works on transpiled
 * JavaScript (`fn.toString()`), where TypeScript annotations are gone.
 *
 * @example
 * ```ts
 * import { signatureFromFunction } from "./params.ts";
 * const sig = await signatureFromFunction(function udf({ n = 10, tags = [] as string[] }) { return n + tags.length; });
 * if (sig.parameters.map((p) => p.type).join() !== "number,array") throw new Error();
 * ```
 */
export async function signatureFromFunction(
  fn: (...args: never[]) => unknown,
): Promise<UdfSignature> {
  const params = await functionParams(fn.toString());
  if (params.length === 0) return { parameters: [], hasRest: false, schema: false };
  let first = params[0];
  if (first.type === "AssignmentPattern") first = first.left as Node;
  if (first.type !== "ObjectPattern") return { parameters: [], hasRest: true, schema: false };
  const parameters: UdfParameter[] = [];
  let hasRest = false;
  for (const prop of first.properties as Node[]) {
    if (prop.type === "RestElement") {
      hasRest = true;
      continue;
    }
    const key = prop.key as Node;
    if (prop.computed) {
      hasRest = true; // a computed name is unknown until run time: accept any name
      continue;
    }
    const name = String(key.type === "Identifier" ? key.name : key.value);
    const value = prop.value as Node;
    const p: UdfParameter = { name };
    if (value.type === "AssignmentPattern") {
      const right = value.right as Node;
      try {
        const def = literalValue(right);
        if (def !== undefined) p.default = def;
        const type = typeOfValue(def);
        if (type) p.type = type;
      } catch (err) {
        if (!(err instanceof NotLiteral)) throw err;
        const type = typeOfNode(right);
        if (type) p.type = type;
      }
    } else if (value.type === "ObjectPattern") {
      p.type = "object";
    }
    if (name === "bounds") p.type = "bounds";
    parameters.push(p);
  }
  return { parameters, hasRest, schema: false };
}

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off", ""]);

function shortText(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
}

function parseJson(name: string, text: string, kind: "array" | "object"): unknown {
  const example = kind === "array" ? `["a", "b"]` : `{"key": 1}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError(
      `Parameter "${name}" must be a JSON ${kind} such as ${example}, got ${shortText(text)}`,
    );
  }
  const ok = kind === "array"
    ? Array.isArray(value)
    : typeof value === "object" && value !== null && !Array.isArray(value);
  if (!ok) {
    throw new ValidationError(
      `Parameter "${name}" must be a JSON ${kind} such as ${example}, got ${shortText(text)}`,
    );
  }
  return value;
}

function coerceBounds(name: string, value: unknown): unknown {
  let list = value;
  if (typeof value === "string") {
    const text = value.trim();
    if (text.startsWith("[")) {
      try {
        list = JSON.parse(text);
      } catch {
        list = undefined;
      }
    } else {
      list = text.split(",").map((part) => (part.trim() === "" ? NaN : Number(part)));
    }
  }
  if (!Array.isArray(list) || list.length !== 4 || !list.every((v) => Number.isFinite(v))) {
    const shown = typeof value === "string" ? shortText(value) : JSON.stringify(value);
    throw new ValidationError(
      `Parameter "${name}" must be bounds [west, south, east, north] (four numbers, as JSON or "w,s,e,n"), got ${shown}`,
    );
  }
  return list;
}

/**
 * Converts one raw value to a parameter type (see the module doc for the rules). Only strings are
 * converted, except bounds, which are always checked.
 *
 * @example
 * ```ts
 * import { coerceValue } from "./params.ts";
 * if (coerceValue("n", "number", "2.5") !== 2.5) throw new Error();
 * if (coerceValue("flag", "boolean", "FALSE") !== false) throw new Error();
 * ```
 */
export function coerceValue(name: string, type: string | undefined, value: unknown): unknown {
  if (type === "bounds") {
    return value === undefined || value === null ? value : coerceBounds(name, value);
  }
  if (typeof value !== "string") return value;
  switch (type) {
    case "number": {
      const n = value.trim() === "" ? NaN : Number(value);
      if (Number.isNaN(n)) {
        throw new ValidationError(`Parameter "${name}" must be a number, got ${shortText(value)}`);
      }
      return n;
    }
    case "boolean": {
      const word = value.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
      throw new ValidationError(
        `Parameter "${name}" must be a boolean (true/false, 1/0, yes/no, on/off), got ${
          shortText(value)
        }`,
      );
    }
    case "array":
    case "object":
      return parseJson(name, value, type);
    default:
      return value;
  }
}

/**
 * Values the engine passes besides the caller's: a tile run's `bounds`, `tile` and its `x`, `y`,
 * `z` (fused-py's `fused.types.Tile` habit: a UDF declares whichever it uses).
 */
export interface InjectedArguments {
  /** `[west, south, east, north]` of the tile. */
  bounds?: number[];
  /** The tile itself. */
  tile?: { x: number; y: number; z: number };
  /** The tile's column. */
  x?: number;
  /** The tile's row. */
  y?: number;
  /** The tile's zoom. */
  z?: number;
}

/**
 * Whether a UDF is a tile UDF, which a map requests tile by tile: it declares `bounds`, `tile`,
 * or all of `x`, `y` and `z`.
 *
 * @example
 * ```ts
 * import { isTileSignature } from "./params.ts";
 * const sig = (names: string[]) => ({ parameters: names.map((name) => ({ name })) });
 * if (!isTileSignature(sig(["x", "y", "z"])) || isTileSignature(sig(["x", "n"]))) throw new Error();
 * ```
 */
export function isTileSignature(signature: { parameters: { name: string }[] }): boolean {
  const names = new Set(signature.parameters.map((p) => p.name));
  return names.has("bounds") || names.has("tile") ||
    (names.has("x") && names.has("y") && names.has("z"));
}

/**
 * The values a tile run passes to a UDF that declares them.
 *
 * @example
 * ```ts
 * import { tileArguments } from "./params.ts";
 * const args = tileArguments({ x: 1, y: 2, z: 3 }, [0, 0, 1, 1]);
 * if (args.z !== 3 || args.tile?.x !== 1 || args.bounds?.[2] !== 1) throw new Error();
 * ```
 */
export function tileArguments(
  tile: { x: number; y: number; z: number },
  bounds: number[],
): InjectedArguments {
  const { x, y, z } = tile;
  return { bounds, tile: { x, y, z }, x, y, z };
}

/**
 * Builds the argument object of a UDF call: the UDF's default parameters (names it does not take
 * are dropped), the call's parameters over them (names it does not take are an error), a tile
 * run's `bounds`/`tile`/`x`/`y`/`z` (passed only when the UDF takes them), each value coerced to its type,
 * then validated by the zod schema when there is one.
 *
 * @example
 * ```ts
 * import { buildArguments } from "./params.ts";
 * const sig = { parameters: [{ name: "n", type: "number" }], hasRest: false, schema: false };
 * const args = buildArguments(sig, undefined, { given: { n: "5" }, defaults: { n: 1, old: 2 } });
 * if (args.n !== 5 || "old" in args) throw new Error();
 * ```
 */
export function buildArguments(
  signature: UdfSignature,
  schema: unknown,
  options: {
    given?: Record<string, unknown>;
    defaults?: Record<string, unknown>;
    injected?: InjectedArguments;
  } = {},
): Record<string, unknown> {
  const types = new Map(signature.parameters.map((p) => [p.name, p.type]));
  const accepts = (name: string): boolean => signature.hasRest || types.has(name);
  const args: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options.defaults ?? {})) {
    if (accepts(name)) args[name] = value;
  }
  for (const [name, value] of Object.entries(options.given ?? {})) {
    if (!accepts(name)) {
      const known = signature.parameters.map((p) => p.name);
      throw new ValidationError(
        `udf() got an unexpected parameter "${name}": ${
          known.length ? `known parameters are ${known.join(", ")}` : "the UDF takes no parameters"
        }`,
      );
    }
    args[name] = value;
  }
  for (const [name, value] of Object.entries(options.injected ?? {})) {
    if (value !== undefined && accepts(name)) args[name] = value;
  }
  for (const [name, value] of Object.entries(args)) {
    args[name] = coerceValue(
      name,
      types.get(name) ?? (name === "bounds" ? "bounds" : undefined),
      value,
    );
  }
  if (!signature.schema) return args;
  const result = (schema as ZodLike).safeParse(args);
  if (!result.success) {
    const problems = (result.error?.issues ?? []).map((issue) => {
      const path = issue.path.map(String).join(".");
      return path ? `parameter "${path}": ${issue.message}` : issue.message;
    });
    throw new ValidationError(`Invalid UDF parameters: ${problems.join("; ")}`);
  }
  return result.data as Record<string, unknown>;
}
