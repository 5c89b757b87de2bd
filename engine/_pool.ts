/**
 * The scheduling of the local engine's processes: a FIFO queue of runs (nested runs first), handed
 * to an idle process of the run's key, else to a new process (stopping the least recently used
 * idle one when the pool is full), else queued inside a busy process of short runs (pipelining).
 * It routes each process's answers and SDK calls to its run, and stops processes that time out,
 * are cancelled, misbehave or sit idle. Starting and reading a process is engine/_pool_child.ts.
 *
 * Python processes also have spares: once a Python UDF's process starts, a spare is made for the
 * same image (caller, permissions, memory, interpreter; not the UDF nor its version) in a free
 * slot, or in the slot of an idle older version of the same UDF, with numpy, pandas, shapely and
 * geopandas imported before any UDF is known. The next new UDF or version of that image takes the
 * spare over (its files and cache folder come in its messages: no module folder is mounted, and
 * the caller's folder of UDF cache folders is), so its cold start skips those imports. A spare is a whole process in its own wall
 * (its own namespaces, cgroups and process group: limits, killing and cleanup as any process's),
 * holds its memory while it waits, and goes when idle or when its slot is needed.
 *
 * @module
 */
import { UdfCancelledError, UdfProcessError, UdfTimeoutError } from "../client/errors.ts";
import type { Udf } from "../client/udf.ts";
import type { CallerContext } from "../client/engine_types.ts";
import type { ChildMessage, RunMessage } from "./_protocol.ts";
import { Deadlines } from "./_deadlines.ts";
import { answerHostCall } from "./_host_calls.ts";
import type { UdfSignature } from "./params.ts";
import {
  type Child,
  closeListener,
  exitReason,
  type Job,
  joinLogs,
  spawnChild,
} from "./_pool_child.ts";
import { runError } from "./_run_errors.ts";

/** Options of {@linkcode Pool}. */
export interface PoolOptions {
  /** Most processes alive at once, besides those that lend their slot to nested runs. */
  maxWorkers: number;
  /** An idle process is stopped after this long. */
  idleTimeoutMs: number;
  /** Most threads a process may have, where a pids cgroup enforces it. */
  maxTasks: number;
  /** Which wall (engine/_sandbox.ts); undefined for the default. */
  wall: "os" | "deno" | undefined;
  /** The largest result now, in bytes. */
  resultLimit: () => number;
  /** Keep spare Python processes (see the module doc). */
  pythonSpares: boolean;
  /** Describes a UDF for a nested `describe` call of a running UDF, as `caller`. */
  describe: (udf: Udf, caller: CallerContext) => Promise<UdfSignature>;
}

/**
 * A run is queued inside a busy process only behind runs this short (average and so far), so a
 * run never waits behind a long one while another process frees up.
 */
const PIPELINE_MAX_MS = 10;

/**
 * How long an idle process's connection still keeps the host's event loop alive: a script
 * exits this much later after its last run, and back-to-back runs ref nothing.
 */
const UNREF_AFTER_MS = 5;

/** What a spare Python process imports before it knows its UDF: fused-py UDFs' usual libraries. */
const PYTHON_PRELOAD = ["numpy", "pandas", "shapely", "geopandas"];

/** The processes of one engine and the runs waiting for them. */
export class Pool {
  #options: PoolOptions;
  #children = new Set<Child>();
  #queue: Job[] = [];
  #started = 0;
  #closed = false;
  #sweeper?: ReturnType<typeof setInterval>;
  /** Armed while an idle process's connection still keeps the loop alive. */
  #unrefSoon?: ReturnType<typeof setTimeout>;
  /** The timeouts of running runs: one timer for all of them. */
  #deadlines = new Deadlines();
  /** Module files seen written (their `written` promises): their runs send without waiting. */
  #written = new WeakSet<Promise<string>>();
  /** Images a spare is wanted for, with a run of each to make it like; oldest first. */
  #wanted = new Map<string, Job>();

  /** Creates an empty pool. */
  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Whether {@linkcode Pool.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Processes alive and busy, runs waiting, processes started. */
  stats(): { workers: number; busy: number; queued: number; started: number; spares: number } {
    let busy = 0;
    let sent = 0;
    let spares = 0;
    for (const c of this.#children) {
      if (c.job) busy++;
      if (c.next) sent++;
      if (c.spareOf !== undefined && c.warm) spares++;
    }
    return {
      workers: this.#children.size,
      busy,
      queued: this.#queue.length + sent,
      started: this.#started,
      spares,
    };
  }

  /** Queues a run; it starts as soon as a process is free for it. */
  enqueue(job: Job): void {
    // Nested runs go first: their parents hold slots while they wait for them.
    if (job.caller.depth > 0) this.#queue.unshift(job);
    else this.#queue.push(job);
    this.#pump();
  }

  /** Stops every process; runs still waiting or running reject with UdfCancelledError. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#unrefSoon);
    this.#unrefSoon = undefined;
    for (const job of this.#queue.splice(0)) {
      this.#finish(job);
      job.reject(new UdfCancelledError(job.udf.name, "the local engine was closed"));
    }
    for (const c of [...this.#children]) {
      const jobs = [c.job, c.next];
      this.#stop(c, "the engine was closed");
      for (const job of jobs) {
        if (!job) continue;
        this.#finish(job);
        job.reject(new UdfCancelledError(job.udf.name, "the local engine was closed"));
      }
    }
  }

  /** Cancels a run: out of the queue, or its process killed, or skipped where it was sent. */
  abort(job: Job): void {
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) this.#queue.splice(queued, 1);
    else if (job.child && job.child.job === job) this.#stop(job.child, "cancelled");
    else if (job.child && job.child.next === job) {
      // Sent but not started: the process skips it when it comes to it.
      job.child.next = undefined;
      job.child.writer?.send({ type: "skip", id: job.message.id });
    } else return; // already answered
    this.#finish(job);
    job.reject(new UdfCancelledError(job.udf.name, job.signal?.reason));
    this.#pump();
  }

  /** Slots: the pool size, plus one for each process waiting on nested runs. */
  #capacity(): number {
    let lent = 0;
    for (const c of this.#children) if (c.waiting > 0) lent++;
    return this.#options.maxWorkers + lent;
  }

  /** Hands waiting runs to processes, in order, while there is room. */
  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const job = this.#queue[0];
      let target: Child | undefined;
      let lru: Child | undefined;
      for (const c of this.#children) {
        if (c.job || c.dead) continue;
        if (c.key === job.key && (!target || c.lastUsed > target.lastUsed)) target = c;
        if (!lru || c.lastUsed < lru.lastUsed) lru = c;
      }
      target ??= this.#takeSpare(job);
      if (!target) {
        if (this.#children.size >= this.#capacity()) {
          if (!lru) {
            // Every process is busy: queue the run in one of its own that has room, else wait.
            const busy = this.#pipelineTarget(job);
            if (!busy) return;
            this.#queue.shift();
            busy.next = job;
            job.child = busy;
            this.#send(busy, job);
            continue;
          }
          this.#stop(lru, "its slot went to another UDF");
        }
        try {
          target = this.#spawn(job);
        } catch (err) {
          this.#queue.shift();
          this.#finish(job);
          job.reject(err as Error);
          continue;
        }
      }
      this.#queue.shift();
      this.#assign(target, job);
    }
    if (this.#queue.length === 0) this.#makeSpares();
  }

  /** An idle spare of the job's image, now the job's UDF's; another spare is wanted for it. */
  #takeSpare(job: Job): Child | undefined {
    if (job.image === undefined) return undefined;
    for (const c of this.#children) {
      if (c.spareOf !== job.image || c.dead) continue;
      c.spareOf = undefined;
      c.key = job.key;
      c.udfName = job.udf.name;
      this.#want(job);
      return c;
    }
    return undefined;
  }

  /** Asks for a spare of a Python run's image, made when a slot is free. */
  #want(job: Job): void {
    if (!this.#options.pythonSpares || job.image === undefined) return;
    this.#wanted.delete(job.image);
    this.#wanted.set(job.image, job);
    // The newest images only: a service sees many callers.
    while (this.#wanted.size > this.#options.maxWorkers) {
      this.#wanted.delete(this.#wanted.keys().next().value!);
    }
  }

  /**
   * Starts the spares wanted, newest first, in free slots, or in the slot of the least recently
   * used idle process of an older version of the same UDF and image (a UDF being edited makes one
   * per edit); never in the slot of the newest version's process or of another UDF's.
   */
  #makeSpares(): void {
    if (this.#wanted.size === 0) return; // every TypeScript run: no copy of an empty map
    for (const [image, like] of [...this.#wanted].reverse()) {
      if (this.#closed) return;
      if ([...this.#children].some((c) => c.spareOf === image)) {
        this.#wanted.delete(image);
        continue;
      }
      if (this.#children.size >= this.#capacity()) {
        let oldest: Child | undefined;
        for (const c of this.#children) {
          if (c.image !== image || c.udfName !== like.udf.name || c.key === like.key) continue;
          if (c.job || c.dead) continue;
          if (c.spareOf !== undefined) continue;
          if (!oldest || c.lastUsed < oldest.lastUsed) oldest = c;
        }
        if (!oldest) continue; // wanted still, for when a slot frees
        this.#stop(oldest, "a spare of its image took its slot");
      }
      this.#wanted.delete(image);
      let spare: Child;
      try {
        spare = this.#spawnChild(like, PYTHON_PRELOAD);
      } catch {
        continue; // its run's own start said why; a spare is only a head start
      }
      spare.spareOf = image;
      spare.key = `spare ${image}`;
      this.#release(spare);
    }
  }

  /**
   * A busy process of the job's key with no run queued behind it. Never for nested runs or
   * behind a run that waits on nested runs: a run queued behind its own parent would wait
   * forever.
   */
  #pipelineTarget(job: Job): Child | undefined {
    if (job.caller.depth > 0) return undefined;
    const now = performance.now();
    for (const c of this.#children) {
      if (c.dead || c.next || !c.job || c.key !== job.key) continue;
      if (c.waiting > 0 || c.job.caller.depth > 0) continue;
      if (!(c.averageMs! <= PIPELINE_MAX_MS) || now - c.job.startedAt! > PIPELINE_MAX_MS) continue;
      return c;
    }
    return undefined;
  }

  #spawn(job: Job): Child {
    const child = this.#spawnChild(job);
    child.udfName = job.udf.name;
    this.#want(job);
    return child;
  }

  #spawnChild(job: Job, preload?: string[]): Child {
    const child = spawnChild(job, {
      maxTasks: this.#options.maxTasks,
      wall: this.#options.wall,
      preload,
      resultLimit: this.#options.resultLimit,
      onMessage: (child, message, body) => this.#answer(child, message, body),
      onMalformed: (child, why) =>
        this.#fail(child, `sent a malformed message (${why})`, "ProcessExit"),
      onUnreachable: (child) => this.#fail(child, "could not be reached", "ProcessExit"),
      onExit: (child, status, oomKilled) => this.#exited(child, status, oomKilled),
    });
    child.image = job.image;
    this.#started++;
    this.#children.add(child);
    return child;
  }

  #assign(child: Child, job: Job): void {
    this.#start(child, job);
    this.#send(child, job);
  }

  /** Makes `job` the process's running run: its time and timeout start now. */
  #start(child: Child, job: Job): void {
    child.job = job;
    job.child = child;
    // What keeps the host's event loop alive while it runs: the connection once there is one
    // (still ref'd when the process ran something in the last UNREF_AFTER_MS: no op then).
    if (!child.conn) child.proc.child.ref();
    else if (!child.connRef) {
      child.conn.ref();
      child.connRef = true;
    }
    job.startedAt = performance.now();
    if (job.timeoutMs !== undefined) {
      job.timeout = {
        deadline: job.startedAt + job.timeoutMs,
        expire: () => {
          this.#stop(child, "timeout");
          this.#finish(job);
          job.reject(new UdfTimeoutError(job.udf.name, job.timeoutMs!));
          this.#pump();
        },
      };
      this.#deadlines.watch(job.timeout);
    }
  }

  /** Sends a run to its process once the module files are written and the process is ready. */
  #send(child: Child, job: Job): void {
    // Known written and connected (every warm run): written at once, no promise to wait on.
    if (child.writer && this.#written.has(job.written)) {
      this.#write(child, job);
      return;
    }
    const mine = () => child.job === job || child.next === job;
    job.written.then(
      () =>
        child.ready.then(() => {
          this.#written.add(job.written);
          if (mine()) return this.#write(child, job);
        }).catch(() => this.#fail(child, "could not be reached", "ProcessExit")),
      (err) => {
        // The module files could not be written (a bad name, a full disk): the process is fine.
        if (child.next === job) child.next = undefined;
        else if (child.job === job) this.#done(child, performance.now());
        else return;
        this.#finish(job);
        job.reject(err);
        this.#pump();
      },
    );
  }

  /**
   * Writes a run's message to its process: as `again` when it asks what the last run message to
   * that (TypeScript) process asked, with primitive values only (engine/_protocol.ts).
   */
  #write(child: Child, job: Job): void {
    const message = job.message;
    const writer = child.writer!;
    if (message.type !== "run" || job.python !== undefined) writer.send(message);
    else if (child.lastRun && sameRun(child.lastRun, message)) {
      writer.sendJson(`{"type":"again","id":${message.id}}`);
    } else {
      writer.send(message);
      child.lastRun = message;
    }
  }

  /** The running run answered at `now`: start the one queued behind it, or mark it idle. */
  #done(child: Child, now: number): void {
    const took = now - child.job!.startedAt!;
    child.averageMs = child.averageMs === undefined ? took : 0.8 * child.averageMs + 0.2 * took;
    child.job = undefined;
    const next = child.next;
    child.next = undefined;
    if (next) this.#start(child, next);
    else this.#release(child, now);
  }

  #answer(child: Child, message: ChildMessage, body: Uint8Array): void {
    if (message.type === "ready") {
      child.warm = true;
      return;
    }
    if (message.type === "crash") {
      // An error the UDF did not await (a rejected promise, a throw in a timer): the process's
      // state is unknown, so it is stopped; the run it was doing, if any, fails with that error.
      const running = child.job;
      this.#stop(child, "an error nobody awaited");
      if (running) {
        this.#finish(running);
        running.reject(runError(running.udf, message.failure, message.logs));
      }
      this.#pump();
      return;
    }
    const job = child.job;
    if (!job || job.id !== message.id) return; // an answer to a run that was abandoned
    if (message.type === "call") {
      void this.#hostCall(child, job, message, body);
      return;
    }
    if (message.type === "output") {
      job.onOutput?.({ stdout: String(message.stdout), stderr: String(message.stderr) });
      return;
    }
    this.#finish(job);
    const now = performance.now();
    // A process its run left unclean (processes still running) serves no other run.
    if (message.retire) this.#stop(child, message.retire);
    else this.#done(child, now);
    if (message.type === "failure") {
      job.reject(runError(job.udf, message.failure, joinLogs(message.logs, job.raw)));
    } else job.resolve(message, body, now);
    if (this.#queue.length > 0 || this.#wanted.size > 0) this.#pump();
  }

  /** Carries out an SDK call of a running UDF, as its caller, and answers it. */
  async #hostCall(
    child: Child,
    job: Job,
    message: Extract<ChildMessage, { type: "call" }>,
    body: Uint8Array,
  ): Promise<void> {
    const nested = message.method === "run" || message.method === "describe";
    if (nested) {
      child.waiting++;
      this.#pump(); // its slot is lent to the runs it waits for
    }
    let reply: { header: unknown; parts?: Uint8Array[] };
    try {
      const answer = await answerHostCall(message.method, message.args, body, {
        caller: job.caller,
        net: job.hostNet,
        signal: (job.calls ??= new AbortController()).signal,
        describe: (udf) =>
          this.#options.describe(udf, { ...job.caller, depth: job.caller.depth + 1 }),
      });
      reply = {
        header: { type: "reply", call: message.call, ok: true, value: answer.value },
        parts: answer.parts,
      };
    } catch (err) {
      const error = err instanceof Error
        ? { name: err.name, message: err.message }
        : { name: "Error", message: String(err) };
      reply = { header: { type: "reply", call: message.call, ok: false, error } };
    } finally {
      if (nested) child.waiting--;
    }
    if (child.job !== job || !child.writer) return; // the run ended meanwhile
    child.writer.send(reply.header, reply.parts);
  }

  /** Clears a job's timer and abort listener, and stops the SDK calls it made. */
  #finish(job: Job): void {
    if (job.timeout) this.#deadlines.unwatch(job.timeout);
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
    // A string reason: an AbortController's default DOMException costs a stack trace each run.
    job.calls?.abort("the run ended");
  }

  /**
   * Marks a process idle; the sweep stops it once idle for `idleTimeoutMs`. Its connection is
   * unref'd (the host may exit) UNREF_AFTER_MS later unless it runs again by then: a ref and an
   * unref a run were two ops of a warm run's few (about 2 us of the host's 15 between an answer
   * and the next run's write, measured with timestamps).
   */
  #release(child: Child, now = performance.now()): void {
    child.lastUsed = now;
    if (!child.conn) child.proc.child.unref();
    else this.#unrefSoon ??= this.#armUnref();
    this.#sweeper ??= this.#startSweep();
  }

  /** One timer (not holding the loop itself) that unrefs the connections of idle processes. */
  #armUnref(): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.#unrefSoon = undefined;
      for (const child of this.#children) {
        if (child.job || !child.connRef || !child.conn) continue;
        child.conn.unref();
        child.connRef = false;
      }
    }, UNREF_AFTER_MS);
    Deno.unrefTimer(timer as unknown as number);
    return timer;
  }

  // One sweep for the pool, not a timer per run: a timer each run was ~5% of a busy service's
  // CPU (measured with the inspector's profiler under wrk).
  #startSweep(): ReturnType<typeof setInterval> {
    const idleTimeoutMs = this.#options.idleTimeoutMs;
    const every = Math.max(50, Math.min(10_000, idleTimeoutMs / 4));
    const timer = setInterval(() => {
      const now = performance.now();
      for (const child of [...this.#children]) {
        if (!child.job && now - child.lastUsed >= idleTimeoutMs) this.#stop(child, "idle");
      }
      if (this.#children.size === 0) {
        clearInterval(timer);
        this.#sweeper = undefined;
      }
    }, every);
    Deno.unrefTimer(timer as unknown as number);
    return timer;
  }

  /** Kills a process on purpose: its exit is then no failure of its own. */
  #stop(child: Child, why: string): void {
    if (child.dead) return;
    child.dead = true;
    child.stopped = why;
    child.job = undefined;
    this.#requeue(child);
    this.#children.delete(child);
    closeListener(child);
    child.conn?.close();
    child.proc.kill();
  }

  /** A run queued in a process that ends never started: it goes back to the front of the queue. */
  #requeue(child: Child): void {
    const next = child.next;
    child.next = undefined;
    if (next && !this.#closed) {
      next.child = undefined;
      this.#queue.unshift(next);
    }
  }

  /** The process misbehaved or died: fail its run with `cause`, kill it, free its slot. */
  #fail(child: Child, cause: string, exceptionClass: string): void {
    const job = child.job;
    if (!child.dead) this.#stop(child, cause);
    if (job) {
      this.#finish(job);
      job.reject(
        new UdfProcessError(job.udf.name, exceptionClass, `its process ${cause}`, job.raw),
      );
    }
    this.#pump();
  }

  /** A process ended (its folder already removed): if not on purpose, its run fails with why. */
  #exited(child: Child, status: Deno.CommandStatus, oomKilled: boolean): void {
    if (child.stopped) return; // killed on purpose; its run was answered already
    const job = child.job;
    child.dead = true;
    child.job = undefined;
    this.#requeue(child);
    this.#children.delete(child);
    if (job) {
      this.#finish(job);
      const { exceptionClass, reason } = exitReason(child, status, oomKilled, job.fileQuota);
      job.reject(new UdfProcessError(job.udf.name, exceptionClass, reason, job.raw));
    }
    this.#pump();
  }
}

/**
 * Whether run message `b` asks what `a` did (all but its id) with primitive values only: then
 * `b` can go as `again`, and the process's copy of `a` holds nothing a run could have changed.
 * Checked field by field, not by serialising `b`.
 */
function sameRun(a: RunMessage, b: RunMessage): boolean {
  return a.url === b.url && a.entrypoint === b.entrypoint && a.streamOutput === b.streamOutput &&
    a.maxResultBytes === b.maxResultBytes && a.injected === undefined &&
    b.injected === undefined && b.files === undefined && b.cacheDir === undefined &&
    samePrimitives(a.given, b.given) && samePrimitives(a.defaults, b.defaults) &&
    samePrimitives(a.env, b.env);
}

/**
 * Same own keys and the same primitive values (no object or array in `b`); false for an
 * inherited key (what JSON leaves out), so true only when both serialise alike.
 */
function samePrimitives(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  let keys = 0;
  for (const key in b) {
    const value = b[key];
    if (typeof value === "object" && value !== null) return false;
    if (!Object.hasOwn(b, key) || !Object.hasOwn(a, key) || a[key] !== value) return false;
    keys++;
  }
  for (const key in a) {
    if (!Object.hasOwn(a, key)) return false;
    keys--;
  }
  return keys === 0;
}
