import assert from "node:assert/strict";
import { ValidationError } from "../client/errors.ts";
import { interpolate, parseLine, parseTile, tokenize } from "./args.ts";
import { FUSED_CELL, FUSED_LINE } from "./spec.ts";

/** Evaluates like a notebook would: the expression sees the scope's variables. */
function scopeEvaluator(scope: Record<string, unknown>): (code: string) => Promise<unknown> {
  return (code) =>
    Promise.resolve(new Function("scope", `with (scope) { return ${code}; }`)(scope));
}

function texts(line: string): string[] {
  return tokenize(line).map((t) =>
    t.parts.map((p) => p.kind === "text" ? p.text : `{${p.code}}`).join("")
  );
}

Deno.test("words split on spaces and quotes keep spaces inside", () => {
  assert.deepEqual(texts(`run "my udf" 'a b' c\\ d`), ["run", "my udf", "a b", "c d"]);
});

Deno.test("double quotes allow escaped quotes and single quotes are literal", () => {
  assert.deepEqual(texts(`"say \\"hi\\"" 'it''s' '\\n'`), ['say "hi"', "its", "\\n"]);
});

Deno.test("each word knows where it is in the line", () => {
  const tokens = tokenize(`run  "a b" c`);
  assert.deepEqual(tokens.map((t) => [t.start, t.end]), [[0, 3], [5, 10], [11, 12]]);
});

Deno.test("an unclosed quote is an error that says how to fix it", () => {
  assert.throws(() => tokenize(`run "abc`), /Unclosed " .*close the quote/);
});

Deno.test("a brace expression with spaces stays one word", () => {
  assert.deepEqual(texts(`x={ {a: 1}.a + 2 } y`), ["x={ {a: 1}.a + 2 }", "y"]);
});

Deno.test("double braces are literal braces", async () => {
  const words = await interpolate(tokenize("{{a}}"), scopeEvaluator({ a: 1 }));
  assert.equal(words[0].text, "{a}");
  assert.equal(words[0].value, undefined);
});

Deno.test("{expr} is evaluated in the notebook scope and keeps its value", async () => {
  const scope = { n: 20, bbox: [1, 2, 3, 4], name: "roads" };
  const parsed = await parseLine(FUSED_LINE, "run {name} n={n + 1} bbox={bbox} label=v{n}", {
    evaluate: scopeEvaluator(scope),
  });
  assert.equal(parsed.args.nameOrPath, "roads");
  assert.deepEqual(parsed.args.params, { n: 21, bbox: [1, 2, 3, 4], label: "v20" });
});

Deno.test("a failing {expr} names the expression", async () => {
  await assert.rejects(
    parseLine(FUSED_LINE, "run {missing.x}", { evaluate: scopeEvaluator({}) }),
    /Cannot evaluate \{missing\.x\}/,
  );
});

Deno.test("key=value values are JSON when they parse as JSON, else strings", async () => {
  const parsed = await parseLine(
    FUSED_LINE,
    `run u n=3 f=1.5 ok=true nothing=null list=[1,2] obj='{"a":1}' s=hello q='"7"'`,
  );
  assert.deepEqual(parsed.args.params, {
    n: 3,
    f: 1.5,
    ok: true,
    nothing: null,
    list: [1, 2],
    obj: { a: 1 },
    s: "hello",
    q: "7",
  });
});

Deno.test("--run takes the key=value words that follow it", async () => {
  const parsed = await parseLine(FUSED_CELL, "double --run n=21 m=x --time");
  assert.deepEqual(parsed.flags, { run: { n: 21, m: "x" }, time: true });
  assert.equal(parsed.args.name, "double");
});

Deno.test("--run alone runs with no parameters", async () => {
  const parsed = await parseLine(FUSED_CELL, "double --run");
  assert.deepEqual(parsed.flags.run, {});
});

Deno.test("flags take values with a space or =, and short aliases work", async () => {
  const parsed = await parseLine(
    FUSED_LINE,
    "run u --engine=local -o result --tile 3/2/1 --cache-max-age 2h",
  );
  assert.deepEqual(parsed.flags, {
    engine: "local",
    out: "result",
    tile: { z: 3, x: 2, y: 1 },
    cacheMaxAge: 7200,
  });
});

Deno.test("a bad flag names it, suggests the closest and lists the valid ones", async () => {
  const err = await parseLine(FUSED_LINE, "run u --engin local").then(
    () => assert.fail("expected an error"),
    (e) => e,
  );
  assert.ok(err instanceof ValidationError);
  assert.match(err.message, /^Unknown flag --engin for %fused run: did you mean --engine\?/);
  for (const flag of ["--engine/-e", "--tile/-t", "--out/-o", "--cache-max-age", "--no-cache"]) {
    assert.ok(err.message.includes(flag), `${flag} missing from: ${err.message}`);
  }
});

Deno.test("a flag far from every valid one gets the list without a guess", async () => {
  await assert.rejects(
    parseLine(FUSED_CELL, "f --zzzzzzzz"),
    (e: Error) => !e.message.includes("did you mean") && /valid flags: --run\/-r/.test(e.message),
  );
});

Deno.test("a bad enum value suggests the closest allowed one", async () => {
  await assert.rejects(
    parseLine(FUSED_LINE, "run u --engine remot"),
    /Invalid value "remot" for --engine: did you mean "remote"\? Use one of: local, remote/,
  );
});

Deno.test("an unknown subcommand suggests the closest", async () => {
  await assert.rejects(
    parseLine(FUSED_LINE, "lgos 12"),
    /Unknown subcommand "lgos".*did you mean "logs"/,
  );
});

Deno.test("a missing required argument is named", async () => {
  await assert.rejects(parseLine(FUSED_LINE, "cp fd://a"), /%fused cp needs DST/);
});

Deno.test("an extra argument is reported with the usage", async () => {
  await assert.rejects(
    parseLine(FUSED_LINE, "cancel a b"),
    /Unexpected argument "b": %fused cancel takes JOB_ID/,
  );
});

Deno.test("a flag that needs a value says so", async () => {
  await assert.rejects(parseLine(FUSED_LINE, "run u --out"), /--out needs a value \(VAR\)/);
});

Deno.test("a switch given a value is an error", async () => {
  await assert.rejects(
    parseLine(FUSED_CELL, "f --time=yes"),
    /--time is a switch and takes no value/,
  );
});

Deno.test("a ? after the subcommand or --help asks for help", async () => {
  assert.equal((await parseLine(FUSED_LINE, "run?")).help, true);
  assert.equal((await parseLine(FUSED_LINE, "run --help")).help, true);
  const bare = await parseLine(FUSED_LINE, "");
  assert.equal(bare.help, true);
  assert.equal(bare.command, "");
});

Deno.test("tiles are checked against their zoom", () => {
  assert.deepEqual(parseTile("12/654/1583"), { z: 12, x: 654, y: 1583 });
  assert.throws(() => parseTile("1/2/0"), /at zoom 1, x and y go from 0 to 1/);
  assert.throws(() => parseTile("1-2-0"), /write it as Z\/X\/Y/);
});

Deno.test("a bad cache age is reported", async () => {
  await assert.rejects(
    parseLine(FUSED_CELL, "f --cache-max-age soon"),
    /Cannot parse cache_max_age/i,
  );
});

Deno.test("integer flags reject fractions", async () => {
  await assert.rejects(parseLine(FUSED_LINE, "rm fd://x --max-depth 1.5"), /use a whole number/);
});
