import assert from "node:assert/strict";
import { formatHelp, usageLine } from "./help.ts";
import { FUSED_CELL, FUSED_LINE } from "./spec.ts";

Deno.test("%fused? lists every subcommand with its summary", () => {
  const help = formatHelp(FUSED_LINE);
  assert.match(help, /^Usage: %fused SUBCOMMAND \[ARGS\] \[FLAGS\]/);
  for (const sub of FUSED_LINE.subcommands ?? []) {
    assert.match(help, new RegExp(`^  ${sub.name} +${sub.summary.replace(/[()]/g, "\\$&")}$`, "m"));
  }
  assert.match(help, /%fused SUBCOMMAND\? \(or %fused help SUBCOMMAND\)/);
});

Deno.test("%fused run? shows its usage line, arguments and every flag with its help", () => {
  const help = formatHelp(FUSED_LINE, "run");
  assert.match(
    help,
    /^Usage: %fused run NAME_OR_PATH \[PARAMS \.\.\.\] \[--engine \{local,remote\}\] \[--tile Z\/X\/Y\] \[--out VAR\]/,
  );
  assert.match(help, /^ {2}NAME_OR_PATH +A Udf variable/m);
  const run = FUSED_LINE.subcommands!.find((c) => c.name === "run")!;
  for (const flag of run.flags ?? []) {
    const lines = help.split("\n");
    const i = lines.findIndex((l) => l.includes(`--${flag.name}`) && !l.startsWith("Usage"));
    assert.ok(i > 0, `--${flag.name} missing`);
    assert.ok(`${lines[i]} ${lines[i + 1]}`.includes(flag.help), `help of --${flag.name} missing`);
  }
  assert.match(help, /^ {2}-e, --engine \{local,remote\}/m);
  assert.match(help, /^ {2}-h, --help +Shows this help$/m);
});

Deno.test("%%fused? describes the cell body and shows examples", () => {
  const help = formatHelp(FUSED_CELL);
  assert.match(help, /^Usage: %%fused NAME \[--run \[key=value \.\.\.\]\]/);
  assert.match(help, /Cell body: TypeScript source of the UDF/);
  assert.match(help, /Examples:\n {2}%%fused double --run n=21/);
});

Deno.test("a subcommand without flags or arguments still has a usage line", () => {
  const jobs = FUSED_LINE.subcommands!.find((c) => c.name === "jobs")!;
  assert.equal(usageLine(FUSED_LINE, jobs), "%fused jobs");
});

Deno.test("help for an unknown subcommand is an error listing the real ones", () => {
  assert.throws(() => formatHelp(FUSED_LINE, "nope"), /subcommands are run, load/);
});
