import assert from "node:assert/strict";
import { completeArgs } from "./complete.ts";
import { completeMagic } from "./mod.ts";
import { FUSED_CELL, FUSED_LINE } from "./spec.ts";

async function at(line: string) {
  return await completeArgs(FUSED_LINE, line, line.length);
}

Deno.test("the first word completes to subcommands", async () => {
  assert.deepEqual((await at("l")).matches, ["load", "ls", "logs", "login"]);
  assert.deepEqual(await at("wh"), { matches: ["whoami"], start: 0, end: 2 });
});

Deno.test("a dash completes to the subcommand's flags", async () => {
  const c = await at("run double --");
  assert.deepEqual(c.matches, [
    "--engine",
    "--tile",
    "--out",
    "--cache-max-age",
    "--no-cache",
    "--time",
    "--help",
  ]);
  assert.equal(c.start, 11);
  assert.deepEqual((await at("run double --c")).matches, ["--cache-max-age"]);
});

Deno.test("enum flags complete their values, after a space or =", async () => {
  assert.deepEqual((await at("run double --engine ")).matches, ["local", "remote"]);
  assert.deepEqual(await at("run double --engine=r"), {
    matches: ["remote"],
    start: 20,
    end: 21,
  });
});

Deno.test("help and options complete subcommand and option names", async () => {
  assert.deepEqual((await at("help ca")).matches, ["cancel"]);
  assert.ok((await at("options run")).matches.includes("runTimeout"));
});

Deno.test("the %%fused line completes its flags", async () => {
  const c = await completeArgs(FUSED_CELL, "double --s", 10);
  assert.deepEqual(c.matches, ["--save", "--share"]);
});

Deno.test("an unclosed quote gives no matches instead of failing", async () => {
  assert.deepEqual((await at('run "my ')).matches, []);
});

Deno.test("completeMagic completes magic names and a magic line's arguments in a cell", async () => {
  const names = await completeMagic("x = 1\n%fu", 9);
  assert.deepEqual(names, { matches: ["fused"], start: 7, end: 9 });
  const code = "const a = 1;\n%fused run a --eng\nconsole.log(a)";
  const cursor = code.indexOf("--eng") + 5;
  assert.deepEqual(await completeMagic(code, cursor), {
    matches: ["--engine"],
    start: code.indexOf("--eng"),
    end: cursor,
  });
  const cell = "%%fused double --ti";
  assert.deepEqual((await completeMagic(cell, cell.length))?.matches, ["--tile", "--time"]);
  assert.equal(await completeMagic("const a = 1", 5), undefined);
});
