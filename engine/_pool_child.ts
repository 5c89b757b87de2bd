/**
 * One UDF process of the pool, seen from the host: starting it behind the walls of a run
 * (engine/_sandbox.ts), accepting its one connection and reading its frames, keeping what it
 * writes around `console`, writing frames to it in order, and saying why it ended. What the pool
 * does with a process (engine/_pool.ts) is not here; the process's own side is engine/_child.ts
 * (engine/python/_runner.py for a Python UDF's process, which speaks the same frames).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { FusedError, QuotaExceededError } from "../client/errors.ts";
import type { QuotaUsage, UdfLogs } from "../client/errors.ts";
import type { Udf } from "../client/udf.ts";
import type { CallerContext } from "../client/engine_types.ts";
import type { ChildConfig, ChildMessage, HostMessage, RunMessage } from "./_protocol.ts";
import { FrameError, FrameWriter, readFrames } from "./_frames.ts";
import type { Deadline } from "./_deadlines.ts";
import { type SandboxProcess, spawnSandbox } from "./_sandbox.ts";
import { denoDir } from "./_roots.ts";

/** What a UDF process may reach: fixed when it starts (Deno's permissions are). */
export interface Permissions {
  read: string[];
  write: string[];
  net: boolean | string[];
}

/** A caller's disk quota as it stood when a run was asked for. */
export interface FileQuota {
  /** Bytes the caller may hold. */
  limitBytes: number;
  /** What it held. */
  usage: QuotaUsage;
}

/**
 * The largest file a UDF process may write under a quota (RLIMIT_FSIZE): the quota, or 0 while
 * its caller holds the quota or more (then the process may read and delete, not write).
 */
export function fileCap(quota: FileQuota): number {
  return quota.usage.store + quota.usage.folders >= quota.limitBytes ? 0 : quota.limitBytes;
}

/** One run (or describe) of a UDF, from the call that makes it to its answer. */
export interface Job {
  id: number;
  udf: Udf;
  key: string;
  permissions: Permissions;
  /** What the run's host calls may reach: its allowNet, else its caller's policy's. */
  hostNet: boolean | string[];
  caller: CallerContext;
  cacheDir: string;
  memoryLimitMb: number;
  /** Its caller's disk quota, which caps the files its process writes; none: no cap. */
  fileQuota?: FileQuota;
  message: Exclude<HostMessage, { type: "reply" | "skip" | "again" }>;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Its answer, with when it came (`performance.now()`). */
  resolve: (message: ChildMessage, body: Uint8Array, now: number) => void;
  reject: (err: Error) => void;
  child?: Child;
  startedAt?: number;
  /** Its timeout, watched while it runs. */
  timeout?: Deadline;
  onAbort?: () => void;
  onOutput?: (output: UdfLogs) => void;
  /** Made at the run's first SDK call; aborted when the run ends, stopping those calls. */
  calls?: AbortController;
  /** The writing of the UDF's module files. */
  written: Promise<string>;
  /** Output the UDF wrote straight to fd 1 or 2, around `console`. */
  raw: { stdout: string; stderr: string };
  /** The Python interpreter of a Python UDF's process (engine/python/_runner.py). */
  python?: string;
  /**
   * A Python run's key without its UDF version: what its process is made with (permissions,
   * caller, memory, interpreter). A spare process made so may take over any version of it.
   */
  image?: string;
}

/** A UDF process of the pool. */
export interface Child {
  proc: SandboxProcess;
  key: string;
  conn?: Deno.Conn;
  ready: Promise<void>;
  job?: Job;
  lastUsed: number;
  /** Set once it is being stopped or has died: no new work. */
  dead: boolean;
  /** Why the host stopped it, if it did (the exit is then expected). */
  stopped?: string;
  /** Last bytes of its raw stderr: Deno's fatal messages land there. */
  stderrTail: string;
  /** Nested runs it waits for: each lends its slot to the runs it waits for. */
  waiting: number;
  folder: string;
  memoryLimitMb: number;
  /** Open until the process connects; closed when it ends first. */
  listener?: Deno.Listener;
  /**
   * A run already sent, waiting in the process behind `job` (pipelining: the process never
   * sleeps between runs while others wait). It starts, timer and all, when `job` answers.
   */
  next?: Job;
  /** Writes frames to it in order, once it connected. */
  writer?: FrameWriter;
  /** Whether its connection keeps the host's event loop alive (engine/_pool.ts). */
  connRef?: boolean;
  /**
   * The last run message written to it: a run asking the same, with primitive values only, goes
   * as an `again` message (engine/_protocol.ts). TypeScript processes only.
   */
  lastRun?: RunMessage;
  /** Moving average of its runs' times, ms: only processes of short runs get a queued run. */
  averageMs?: number;
  /** A Python process's image (its job's): what a spare of it is made with. */
  image?: string;
  /** The name of the UDF it serves (unset for a spare not taken over yet). */
  udfName?: string;
  /** A spare Python process: the image it serves until a new UDF version takes it over. */
  spareOf?: string;
  /** Set when it said "ready" (a spare: its libraries are imported). */
  warm?: boolean;
}

/** Options of {@linkcode spawnChild}: the process's limits, and where its events go. */
export interface SpawnChildOptions {
  /** Most threads the process may have, where a pids cgroup enforces it. */
  maxTasks: number;
  /** Which wall (engine/_sandbox.ts); undefined for the default. */
  wall: "os" | "deno" | undefined;
  /** Python modules the process imports before it is ready (a spare). */
  preload?: string[];
  /** The largest result now, in bytes: its frames' bodies may be 1 MiB more. */
  resultLimit: () => number;
  /** A frame from the process. */
  onMessage: (child: Child, message: ChildMessage, body: Uint8Array) => void;
  /** The process sent a frame over the caps or malformed: it is not trusted any longer. */
  onMalformed: (child: Child, why: string) => void;
  /** A frame could not be written to the process. */
  onUnreachable: (child: Child) => void;
  /** The process ended (its folder is removed by then); `oomKilled` if the OS limit ended it. */
  onExit: (child: Child, status: Deno.CommandStatus, oomKilled: boolean) => void;
}

const CHILD_SCRIPT = new URL("./_child.ts", import.meta.url).pathname;
const PYTHON_RUNNER = new URL("./python/_runner.py", import.meta.url).pathname;
/** The project's folder: the processes' working directory, and the SDK they read from. */
export const PROJECT_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Raw fd output kept per run and stream: the UDF's `console` output is capped in the child. */
const RAW_CAP = 256 * 1024;
/** A process must connect within this long, or it is taken as failed to start. */
const CONNECT_TIMEOUT_MS = 60_000;

/** How a UDF process's folder is named: `fused-udf-<pid of its host>-<random>`. */
const FOLDER_NAME = /^fused-udf-(\d+)-[0-9a-f]+$/;
/** Temp folders this load of the module has swept (once each is enough). */
const swept = new Set<string>();

/**
 * Removes from `dir` the folders of UDF processes whose host is no longer running (a SIGKILLed
 * host leaves its socket and empty `tmp` behind), as engine/_sandbox.ts removes their cgroups.
 * The host's pid in the name decides: a folder of this process or of a running pid stays. Linux
 * only, where `/proc` tells a running pid; elsewhere nothing is removed. A host in another pid
 * namespace that shares the folder would look dead: keep such hosts' temp folders apart.
 */
function removeDeadHostFolders(dir: string): void {
  try {
    Deno.statSync("/proc/self");
  } catch {
    return;
  }
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const owner = FOLDER_NAME.exec(entry.name)?.[1];
      if (!owner || !entry.isDirectory || owner === String(Deno.pid)) continue;
      try {
        Deno.statSync(`/proc/${owner}`);
      } catch {
        try {
          Deno.removeSync(join(dir, entry.name), { recursive: true });
        } catch {
          // another host removed it first, or it is not ours to remove
        }
      }
    }
  } catch {
    // the folder cannot be listed: nothing to clean
  }
}

/** Starts a UDF process for `job`'s key, in its own folder, listening for its connection. */
export function spawnChild(job: Job, options: SpawnChildOptions): Child {
  const folder = Deno.makeTempDirSync({ prefix: `fused-udf-${Deno.pid}-` });
  // The first folder tells where they go (TMPDIR): the folders killed hosts left there go.
  if (!swept.has(dirname(folder))) {
    swept.add(dirname(folder));
    removeDeadHostFolders(dirname(folder));
  }
  const socket = join(folder, "s");
  const tempDir = join(folder, "tmp");
  Deno.mkdirSync(tempDir);
  for (const dir of job.permissions.write) Deno.mkdirSync(dir, { recursive: true });
  const listener = Deno.listen({ transport: "unix", path: socket });
  const net = job.permissions.net === true
    ? true
    : [`unix:${socket}`, ...(job.permissions.net || [])];
  const config: ChildConfig = {
    socket,
    dataDir: job.caller.dataDir,
    cacheDir: job.cacheDir,
    tempDir,
    ...(options.preload && { preload: options.preload }),
  };
  const maxFileBytes = job.fileQuota && fileCap(job.fileQuota);
  let proc: SandboxProcess;
  try {
    proc = spawnSandbox({
      script: job.python ? PYTHON_RUNNER : CHILD_SCRIPT,
      python: job.python,
      args: [JSON.stringify(config)],
      cwd: PROJECT_ROOT,
      denoDir: denoDir(),
      permissions: {
        read: [...job.permissions.read, folder],
        write: [...job.permissions.write, tempDir, socket],
        net,
      },
      limits: { memoryMb: job.memoryLimitMb, maxTasks: options.maxTasks, maxFileBytes },
      wall: options.wall,
      filesReady: job.written,
      // Under a quota the temp folder is memory, not the host's disk: its memory limit caps it.
      ...(job.fileQuota && {
        scratch: {
          path: tempDir,
          maxBytes: Math.min(job.fileQuota.limitBytes, job.memoryLimitMb * 2 ** 20),
        },
      }),
    });
  } catch (err) {
    listener.close();
    Deno.removeSync(folder, { recursive: true });
    throw new FusedError(`Cannot start a UDF process: ${(err as Error).message}`);
  }
  const child: Child = {
    proc,
    key: job.key,
    ready: Promise.resolve(),
    lastUsed: performance.now(),
    dead: false,
    stderrTail: "",
    waiting: 0,
    folder,
    memoryLimitMb: job.memoryLimitMb,
    listener,
  };
  child.ready = connect(child, listener, options);
  child.ready.catch(() => {}); // a failed start is reported through the exit
  drain(child, proc.child.stdout, "stdout");
  drain(child, proc.child.stderr, "stderr");
  proc.status.then((status) => {
    closeListener(child);
    const oomKilled = child.proc.oomKilled();
    child.proc.cleanup();
    try {
      Deno.removeSync(child.folder, { recursive: true });
    } catch {
      // already removed
    }
    options.onExit(child, status, oomKilled);
  });
  return child;
}

/** Accepts the process's one connection, then reads its frames until it closes. */
async function connect(
  child: Child,
  listener: Deno.Listener,
  options: SpawnChildOptions,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const conn = await Promise.race([
      listener.accept() as Promise<Deno.Conn>,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("the process did not connect")),
          CONNECT_TIMEOUT_MS,
        );
      }),
    ]);
    child.conn = conn as Deno.Conn;
    child.writer = new FrameWriter(child.conn, () => options.onUnreachable(child));
  } finally {
    clearTimeout(timer);
    // One connection only: nothing else in the process (the UDF) can connect after it.
    closeListener(child);
  }
  // From now on the connection alone keeps the host's event loop alive while the process has
  // work (engine/_pool.ts refs it per run): one handle to ref and unref a run, not two.
  child.proc.child.unref();
  child.connRef = child.job !== undefined;
  if (!child.connRef) child.conn.unref();
  void read(child, child.conn, options);
}

async function read(child: Child, conn: Deno.Conn, options: SpawnChildOptions): Promise<void> {
  const limit = options.resultLimit;
  // The body cap is read per frame: options.maxResultBytes may change while a process lives.
  const limits = {
    maxHeaderBytes: 64 * 2 ** 20,
    get maxBodyBytes(): number {
      return limit() + 2 ** 20;
    },
  };
  const onFrame = (header: Record<string, unknown>, body: Uint8Array): void =>
    options.onMessage(child, header as unknown as ChildMessage, body);
  try {
    await readFrames(conn, limits, onFrame);
  } catch (err) {
    // A frame over the caps or malformed: the process is not trusted any longer.
    const why = err instanceof FrameError ? err.message : (err as Error).message;
    options.onMalformed(child, why);
  }
  // The channel is closed: the process's exit (and its run's failure, if it dies) is awaited.
  child.proc.child.ref();
}

/** Keeps what the UDF wrote around `console` (to its job) and the tail of stderr. */
async function drain(
  child: Child,
  stream: ReadableStream<Uint8Array>,
  which: "stdout" | "stderr",
): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      if (which === "stderr") child.stderrTail = (child.stderrTail + text).slice(-4096);
      const job = child.job;
      if (job && job.raw[which].length < RAW_CAP) {
        job.raw[which] += text.slice(0, RAW_CAP - job.raw[which].length);
      }
    }
  } catch {
    // the pipe closed with the process
  }
}

/** Stops accepting connections for the process, if it still did. */
export function closeListener(child: Child): void {
  try {
    child.listener?.close();
  } catch {
    // closed already
  }
  child.listener = undefined;
}

/** Why a process ended that was not stopped on purpose: its run's error class and message. */
export function exitReason(
  child: Child,
  status: Deno.CommandStatus,
  oomKilled: boolean,
  quota?: FileQuota,
): { exceptionClass: string; reason: string } {
  const oom = oomKilled || /out of memory|heap limit|allocation failed/i.test(child.stderrTail);
  if (status.signal === "SIGXFSZ" && quota) {
    const what = fileCap(quota) === 0
      ? "Writing to a file while the user holds their whole disk quota (a run may still read and delete files)"
      : "Writing a file larger than the user's disk quota";
    const refusal = new QuotaExceededError(what, quota.limitBytes, quota.usage);
    return { exceptionClass: refusal.name, reason: `its process was stopped: ${refusal.message}` };
  }
  const cause = oom
    ? `its process ran out of memory (limit ${child.memoryLimitMb} MB)`
    : status.signal
    ? `its process was killed by ${status.signal}`
    : `its process exited with code ${status.code}`;
  const hint = oom
    ? ": process the data in smaller pieces, or raise memoryLimitMb"
    : status.code === 0 && !status.signal
    ? " (a UDF must return, not end its process: remove Deno.exit or self.close)"
    : "";
  return { exceptionClass: oom ? "MemoryLimitError" : "ProcessExit", reason: `${cause}${hint}` };
}

/** A run's logs: what its `console` captured, then what it wrote around `console`. */
export function joinLogs(logs: UdfLogs, raw: { stdout: string; stderr: string }): UdfLogs {
  return {
    stdout: String(logs.stdout ?? "") + raw.stdout,
    stderr: String(logs.stderr ?? "") + raw.stderr,
  };
}
