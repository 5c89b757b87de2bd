import assert from "node:assert/strict";
import { Udf } from "../client/udf.ts";
import type { RunResponse } from "../client/engine_types.ts";
import { UdfCancelledError } from "../client/errors.ts";
import {
  CANCEL_AFTER_MS,
  DEFAULT_FORMAT,
  normalizeFormat,
  RunService,
  type RunSpec,
  type UdfRunner,
  type UdfRunnerOptions,
} from "./runs.ts";

const udf = Udf.fromJSON({ name: "hangs", code: "export default function udf() { return 1 }" });

function spec(parameters: Record<string, string> = {}): RunSpec {
  return { udf, udfId: null, parameters, format: "json", cacheMaxAge: 0 };
}

Deno.test("runs whose engine never answers are answered 504 past their timeout, each", async () => {
  const signals: AbortSignal[] = [];
  // An engine that hangs: it never settles, whatever its signal says.
  const runner: UdfRunner = (_udf, options: UdfRunnerOptions) => {
    signals.push(options.signal!);
    return new Promise<RunResponse>(() => {});
  };
  const runs = new RunService(runner, { runTimeoutMs: 20 });
  const started = performance.now();
  const first = runs.execute(spec({ i: "1" }));
  await new Promise((r) => setTimeout(r, 300));
  // The second follows a client that stays: its watch moves from the client to the guard.
  const stays = new AbortController();
  let asked = 0;
  const second = runs.execute({ ...spec({ i: "2" }), clientSignal: () => (asked++, stays.signal) });
  const answers = await Promise.all([first, second]);
  for (const answer of answers) {
    assert.equal(answer.status, 504);
    assert.match(JSON.parse(new TextDecoder().decode(answer.body)).detail, /hangs/);
  }
  assert.ok(performance.now() - started >= 5000, "answered before the grace period ran out");
  assert.ok(signals.every((s) => s.aborted), "every hanging run was cancelled");
  assert.equal(asked, 1, "the client's signal is read once, past CANCEL_AFTER_MS");
  // The test's op sanitizer checks that no guard timer outlives the runs.
});

Deno.test("a run that answers leaves no guard timer behind", async () => {
  const runner: UdfRunner = (u) =>
    Promise.resolve({
      data: 7,
      udf: u,
      logs: { stdout: "", stderr: "" },
      cached: false,
      timeTakenMs: 1,
    });
  const runs = new RunService(runner, { runTimeoutMs: 60_000 });
  const answers = await Promise.all([runs.execute(spec()), runs.execute(spec({ n: "2" }))]);
  assert.deepEqual(answers.map((a) => a.status), [200, 200]);
  assert.equal(new TextDecoder().decode(answers[0].body), "7");
});

/** A runner whose runs end when the test says, or with a cancel when their signal aborts. */
function controlledRunner(): { runner: UdfRunner; signals: AbortSignal[]; finish(): void } {
  const signals: AbortSignal[] = [];
  const finishers: (() => void)[] = [];
  const runner: UdfRunner = (u, options) =>
    new Promise<RunResponse>((resolve, reject) => {
      const signal = options.signal!;
      signals.push(signal);
      signal.addEventListener("abort", () => reject(new UdfCancelledError(u.name, "gone")));
      finishers.push(() =>
        resolve({
          data: 1,
          udf: u,
          logs: { stdout: "", stderr: "" },
          cached: false,
          timeTakenMs: 1,
        })
      );
    });
  return { runner, signals, finish: () => finishers.forEach((f) => f()) };
}

Deno.test("a run whose client went away is cancelled once it has run for a while", async () => {
  const { runner, signals } = controlledRunner();
  const runs = new RunService(runner, { runTimeoutMs: 60_000 });
  const client = new AbortController();
  let asked = 0;
  const clientSignal = () => (asked++, client.signal);
  const answer = runs.execute({ ...spec(), clientSignal });
  client.abort();
  assert.equal(signals[0].aborted, false, "not at once");
  assert.equal((await answer).status, 503);
  assert.equal(signals[0].aborted, true);
  assert.equal(asked, 1);
  // A client that leaves later is followed from then on.
  const later = new AbortController();
  const second = runs.execute({ ...spec({ n: "2" }), clientSignal: () => later.signal });
  setTimeout(() => later.abort(), CANCEL_AFTER_MS * 2);
  assert.equal((await second).status, 503);
  assert.equal(signals[1].aborted, true);
});

Deno.test("a run that ends soon after its client went away keeps going, its signal unread", async () => {
  const { runner, signals, finish } = controlledRunner();
  const runs = new RunService(runner, { runTimeoutMs: 60_000 });
  const client = new AbortController();
  let asked = 0;
  const answer = runs.execute({ ...spec(), clientSignal: () => (asked++, client.signal) });
  client.abort();
  // Timers fire in the order of their deadlines: this one before the run starts following.
  setTimeout(finish, CANCEL_AFTER_MS / 5);
  assert.equal((await answer).status, 200);
  assert.equal(signals[0].aborted, false, "its process would have been killed");
  assert.equal(asked, 0, "reading a request's signal costs an operation for as long as it lives");
});

Deno.test("formats are normalized, known ones as given and lists by their parts", () => {
  assert.equal(normalizeFormat("parquet"), "parquet");
  assert.equal(normalizeFormat(DEFAULT_FORMAT), DEFAULT_FORMAT);
  assert.equal(normalizeFormat(" PNG , tif"), "png,tiff");
  assert.equal(normalizeFormat(""), DEFAULT_FORMAT);
  assert.throws(() => normalizeFormat("docx"), /Unknown format "docx"/);
});
