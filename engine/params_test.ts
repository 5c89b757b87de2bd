import assert from "node:assert/strict";
import { z } from "zod";
import { ValidationError } from "../client/errors.ts";
import {
  buildArguments,
  coerceValue,
  signatureFromFunction,
  signatureFromSchema,
  type UdfSignature,
} from "./params.ts";

Deno.test("booleans follow the documented words, in any case", () => {
  for (const word of ["true", "TRUE", "1", "yes", "On"]) {
    assert.equal(coerceValue("f", "boolean", word), true);
  }
  for (const word of ["false", "False", "0", "no", "off", ""]) {
    assert.equal(coerceValue("f", "boolean", word), false);
  }
  assert.throws(() => coerceValue("f", "boolean", "maybe"), /Parameter "f" must be a boolean/);
});

Deno.test("numbers refuse empty text and NaN, naming the parameter", () => {
  assert.equal(coerceValue("n", "number", " 12 "), 12);
  assert.equal(coerceValue("n", "number", "-1e3"), -1000);
  assert.throws(() => coerceValue("n", "number", ""), /Parameter "n" must be a number, got ""/);
  assert.throws(() => coerceValue("n", "number", "NaN"), ValidationError);
  assert.equal(coerceValue("n", "number", 5), 5);
});

Deno.test("arrays and objects come from JSON of the right kind", () => {
  assert.deepEqual(coerceValue("t", "array", "[1, 2]"), [1, 2]);
  assert.deepEqual(coerceValue("o", "object", '{"a": [1]}'), { a: [1] });
  assert.throws(
    () => coerceValue("t", "array", "a,b"),
    /must be a JSON array such as \["a", "b"\]/,
  );
  assert.throws(() => coerceValue("o", "object", "[1]"), /must be a JSON object/);
});

Deno.test("bounds accept JSON or comma-separated text of four numbers", () => {
  assert.deepEqual(coerceValue("bounds", "bounds", "[1, 2, 3, 4]"), [1, 2, 3, 4]);
  assert.deepEqual(coerceValue("bounds", "bounds", "-1,-2.5,3,4"), [-1, -2.5, 3, 4]);
  assert.deepEqual(coerceValue("bounds", "bounds", [0, 0, 1, 1]), [0, 0, 1, 1]);
  assert.throws(
    () => coerceValue("bounds", "bounds", "1,2,3"),
    /bounds \[west, south, east, north\]/,
  );
  assert.throws(() => coerceValue("bounds", "bounds", "1,,3,4"), ValidationError);
});

Deno.test("the signature of a function comes from its destructured defaults", async () => {
  const sig = await signatureFromFunction(
    (
      {
        n = 10,
        neg = -2,
        s = `x`,
        tags = [1],
        opts = { a: 1 },
        call = Math.random(),
        bounds,
        ...rest
      }: Record<string, unknown>,
    ) => [n, neg, s, tags, opts, call, bounds, rest],
  );
  assert.deepEqual(sig, {
    parameters: [
      { name: "n", default: 10, type: "number" },
      { name: "neg", default: -2, type: "number" },
      { name: "s", default: "x", type: "string" },
      { name: "tags", default: [1], type: "array" },
      { name: "opts", default: { a: 1 }, type: "object" },
      { name: "call" },
      { name: "bounds", type: "bounds" },
    ],
    hasRest: true,
    schema: false,
  });
});

Deno.test("functions without a destructured parameter accept any names or none", async () => {
  assert.deepEqual(await signatureFromFunction(() => 1), {
    parameters: [],
    hasRest: false,
    schema: false,
  });
  assert.equal((await signatureFromFunction((args: unknown) => args)).hasRest, true);
  const methods = {
    udf({ a = 1 }) {
      return a;
    },
  };
  assert.deepEqual((await signatureFromFunction(methods.udf)).parameters, [{
    name: "a",
    default: 1,
    type: "number",
  }]);
});

Deno.test("a zod schema gives names, types, defaults and whether extra names pass", () => {
  const sig = signatureFromSchema(
    z.object({ n: z.number().default(2), t: z.array(z.string()).optional() }),
  );
  assert.deepEqual(sig.parameters, [{ name: "n", default: 2, type: "number" }, {
    name: "t",
    type: "array",
  }]);
  assert.equal(sig.hasRest, false);
  assert.equal(signatureFromSchema(z.looseObject({})).hasRest, true);
  assert.throws(() => signatureFromSchema(z.string()), /not a zod object schema/);
});

Deno.test("arguments: defaults under the call, tile values only where taken, unknown names refused", () => {
  const sig: UdfSignature = {
    parameters: [{ name: "n", type: "number" }, { name: "bounds", type: "bounds" }],
    hasRest: false,
    schema: false,
  };
  const args = buildArguments(sig, undefined, {
    given: { n: "3" },
    defaults: { n: 1, other: 2 },
    injected: { bounds: [0, 0, 1, 1], tile: { x: 0, y: 0, z: 0 } },
  });
  assert.deepEqual(args, { n: 3, bounds: [0, 0, 1, 1] });
  assert.throws(
    () => buildArguments(sig, undefined, { given: { foo: 1 } }),
    /^ValidationError: udf\(\) got an unexpected parameter "foo": known parameters are n, bounds$/,
  );
  const none: UdfSignature = { parameters: [], hasRest: false, schema: false };
  assert.throws(
    () => buildArguments(none, undefined, { given: { a: 1 } }),
    /the UDF takes no parameters/,
  );
});
