/**
 * Starts one UDF process with OS walls around it, and tells how it ended.
 *
 * The walls (measured on Deno 2.9.6, executor-facts §1–3):
 * - Namespaces (the "os" wall, where bubblewrap can make them): the process gets its own user,
 *   mount, pid, ipc, uts and cgroup namespaces, and its own network namespace unless the run
 *   allows a network host (its loopback is empty: 127.0.0.1 of the host is not there; the host's
 *   unix socket is a path, which works across network namespaces). Inside it is uid/gid 65534
 *   (the host's uid outside: what it writes is the host's) and sees its own /proc, a minimal
 *   /dev, an empty /tmp, the system's /usr (and /lib, /lib64, /bin), Deno's binary, Deno's cache
 *   folder read-only, and its permissions' paths at the same paths: read ones read-only, write
 *   ones read-write. Of /etc only the time zone link is there (and resolv.conf, hosts and
 *   nsswitch.conf when the run has a network): no passwd, no hostname, no /home, so a symlink
 *   that points outside leads nowhere. `/`, `/proc` and `/dev` are never bound from the host: a
 *   permission on them reaches only what the wall shows. The UDF's module folder is written
 *   while the process starts, so bubblewrap waits for it (`filesReady`). Where bubblewrap is
 *   missing or cannot make namespaces (checked once per process), the process starts behind
 *   Deno's flags alone and one notice says why; `FUSED_UDF_WALL=deno` chooses that.
 * - Deno's permissions, inside the namespaces too: read of exactly the folders the run needs,
 *   write of the caller's data and cache folders, no env, run, ffi or sys; network only when the
 *   run allows it; `--cached-only --no-remote` because importing an uncached `npm:` module
 *   otherwise downloads it even without `--allow-net`; an empty environment (only `DENO_DIR`,
 *   `NO_COLOR`, and inside the namespaces `DENO_EMIT_CACHE_MODE=disable`: Deno's cache folder is
 *   read-only there).
 * - Memory: V8's heap cap (`--max-old-space-size`) does not count ArrayBuffers or wasm, so the
 *   process also gets a hard limit: a cgroup (v1 `memory.limit_in_bytes`, or v2 `memory.max`)
 *   where this process may make one, else RLIMIT_DATA (limit + 600 MB, what an idle Deno maps).
 *   RLIMIT_AS cannot be used: Deno does not start under 32 GiB of it.
 * - Threads: a pids cgroup caps the tasks (Workers are threads) where one can be made.
 * - Python (engine/python/_runner.py, `spec.python`): the same namespaces, mounts, cgroups and
 *   killing, without Deno's flags, so only inside the namespaces: where they cannot be made (or
 *   the wall chosen is "deno") spawning one throws, saying why. Its interpreter's folder (a
 *   venv's) is bound read-only instead of Deno's binary and cache, and `/etc/alternatives`
 *   (Debian's links to numpy's BLAS); without a memory cgroup the fallback is RLIMIT_AS.
 * - Killing: the process leads its own process group and gets SIGKILL when its host dies
 *   (`setpriv --pdeathsig KILL`; a reparented spinning child otherwise runs on). Inside the
 *   namespaces, bubblewrap's `--die-with-parent` carries that kill to Deno, and the end of the
 *   pid namespace's first process ends every process in it.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";

/** Hard limits of one UDF process. */
export interface SandboxLimits {
  /** Memory the process may use, ArrayBuffers and wasm included, in MB. */
  memoryMb: number;
  /** Most tasks (threads) in the process, where a pids cgroup can enforce it. */
  maxTasks: number;
  /**
   * Largest file the process may write, in bytes (RLIMIT_FSIZE, through `prlimit`): a write past
   * it stops the process with SIGXFSZ. None: no cap.
   */
  maxFileBytes?: number;
}

/** Deno permissions of one UDF process. */
export interface SandboxPermissions {
  /** Paths it may read. */
  read: string[];
  /** Paths it may write. */
  write: string[];
  /** Network: false, true (any host) or `host[:port]` / `unix:PATH` entries. */
  net: boolean | string[];
}

/** What the host needs to spawn the process. */
export interface SandboxSpec {
  /** The runner module (a file path). */
  script: string;
  /** Arguments of the runner. */
  args: string[];
  /** Working folder (where Deno finds `node_modules`). */
  cwd: string;
  /** Deno's cache folder (npm packages, the code cache). */
  denoDir: string;
  /** Permissions. */
  permissions: SandboxPermissions;
  /** Limits. */
  limits: SandboxLimits;
  /**
   * `"os"`: namespaces where bubblewrap can make them, else Deno's flags alone; `"deno"`: Deno's
   * flags alone. Default: the `FUSED_UDF_WALL` environment variable, else `"os"`.
   */
  wall?: WallChoice;
  /**
   * Settles when the files the process reads are in place (the UDF's module folder, written while
   * the process starts). Inside namespaces a folder is bound as the process starts, so it waits
   * for this; if this rejects, the process ends before Deno starts.
   */
  filesReady?: Promise<unknown>;
  /**
   * Runs `script` with this Python interpreter (`-E -s -B`) instead of Deno. Deno's flags do not
   * apply to Python, so it starts only inside the namespaces: where they cannot be made (or the
   * wall chosen is "deno") spawning throws, saying why. Its folder (a venv's, when it is one) is
   * bound read-only; Deno's binary and cache are not bound. The memory fallback without a cgroup
   * is RLIMIT_AS.
   */
  python?: string;
  /**
   * A folder of the process's own (its temp folder) that is, inside the namespaces, a tmpfs of
   * at most `maxBytes` (full: "No space left on device") instead of the host's folder; behind
   * Deno's flags alone it stays the host's folder, uncapped.
   */
  scratch?: { path: string; maxBytes: number };
}

/** Which wall a UDF process should get besides Deno's flags (see the module doc). */
export type WallChoice = "os" | "deno";

/** A started UDF process. */
export interface SandboxProcess {
  /** The OS process. */
  child: Deno.ChildProcess;
  /** Its pid (also its process group id). */
  pid: number;
  /** How the memory limit is enforced: "cgroup v1", "cgroup v2" or "rlimit". */
  memoryWall: string;
  /** What walls its files, processes and network in: namespaces, or Deno's flags alone. */
  wall: "namespaces" | "deno flags";
  /**
   * How it ended. Inside the namespaces Deno is bubblewrap's child, and bubblewrap exits with
   * 128 + N when Deno is killed by signal N: this reports that as the signal.
   */
  status: Promise<Deno.CommandStatus>;
  /** Whether the hard memory limit killed it (after it ended). */
  oomKilled(): boolean;
  /** SIGKILLs the whole process group. */
  kill(): void;
  /** Removes the process's cgroups; call after it ended. */
  cleanup(): void;
}

interface CgroupPlan {
  memory?: { dir: string; version: 1 | 2 };
  pids?: string;
}

let cgroupBase: { memory?: { dir: string; version: 1 | 2 }; pids?: string } | undefined;

/** This process's own cgroup folders where children may be created, found once. */
function findCgroups(): typeof cgroupBase {
  if (cgroupBase) return cgroupBase;
  cgroupBase = {};
  let lines: string[];
  try {
    lines = Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n");
  } catch {
    return cgroupBase;
  }
  for (const line of lines) {
    const [, controllers, path] = line.split(":");
    const probe = (dir: string): boolean => {
      try {
        const test = join(dir, `fused-probe-${Deno.pid}`);
        Deno.mkdirSync(test);
        Deno.removeSync(test);
        return true;
      } catch {
        return false;
      }
    };
    if (controllers.split(",").includes("memory")) {
      const dir = join("/sys/fs/cgroup/memory", path);
      if (probe(dir)) cgroupBase.memory = { dir, version: 1 };
    } else if (controllers.split(",").includes("pids")) {
      const dir = join("/sys/fs/cgroup/pids", path);
      if (probe(dir)) cgroupBase.pids = dir;
    } else if (controllers === "" && !cgroupBase.memory) {
      // cgroup v2: usable only when the memory controller is enabled for children.
      for (const root of ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]) {
        const dir = join(root, path);
        try {
          const enabled = Deno.readTextFileSync(join(dir, "cgroup.subtree_control"));
          if (/\bmemory\b/.test(enabled) && probe(dir)) {
            cgroupBase.memory = { dir, version: 2 };
            break;
          }
        } catch {
          // not a v2 mount, or not ours to write
        }
      }
    }
  }
  for (const dir of [cgroupBase.memory?.dir, cgroupBase.pids]) if (dir) removeStale(dir);
  return cgroupBase;
}

/** Removes the cgroups of UDF processes whose host died (SIGKILLed hosts leave them behind). */
function removeStale(base: string): void {
  try {
    for (const entry of Deno.readDirSync(base)) {
      const owner = /^fused-udf-(\d+)-[0-9a-f]+$/.exec(entry.name)?.[1];
      if (!owner || owner === String(Deno.pid)) continue;
      try {
        Deno.statSync(`/proc/${owner}`);
      } catch {
        try {
          Deno.removeSync(join(base, entry.name)); // only an empty cgroup can be removed
        } catch {
          // a process of it still runs, or another host removed it first
        }
      }
    }
  } catch {
    // the folder cannot be listed: nothing to clean
  }
}

function makeCgroups(limits: SandboxLimits): CgroupPlan {
  const base = findCgroups()!;
  // Unique per call, not a module counter: this module may be loaded more than once in a process
  // (each test file, each Worker), and a name taken by another load must not fail the limit.
  const name = `fused-udf-${Deno.pid}-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const plan: CgroupPlan = {};
  const bytes = String(limits.memoryMb * 2 ** 20);
  if (base.memory) {
    const dir = join(base.memory.dir, name);
    let made = false;
    try {
      Deno.mkdirSync(dir);
      made = true;
      if (base.memory.version === 1) {
        Deno.writeTextFileSync(join(dir, "memory.limit_in_bytes"), bytes);
        // No swap, so the limit is the limit (where swap accounting exists).
        try {
          Deno.writeTextFileSync(join(dir, "memory.memsw.limit_in_bytes"), bytes);
        } catch {
          // no swap accounting on this kernel
        }
      } else {
        Deno.writeTextFileSync(join(dir, "memory.max"), bytes);
        try {
          Deno.writeTextFileSync(join(dir, "memory.swap.max"), "0");
        } catch {
          // no swap controller
        }
      }
      plan.memory = { dir, version: base.memory.version };
    } catch {
      if (made) {
        try {
          Deno.removeSync(dir);
        } catch {
          // removed meanwhile
        }
      }
    }
  }
  if (base.pids) {
    const dir = join(base.pids, name);
    try {
      Deno.mkdirSync(dir);
      Deno.writeTextFileSync(join(dir, "pids.max"), String(limits.maxTasks));
      plan.pids = dir;
    } catch {
      // no pids wall: Deno's permissions already refuse process spawning
    }
  }
  return plan;
}

let setprivPath: string | null | undefined;

function which(name: string): string | null {
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    try {
      if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
    } catch {
      // not there
    }
  }
  return null;
}

function permissionFlags(p: SandboxPermissions): string[] {
  const flags = ["--no-prompt", "--cached-only", "--no-remote"];
  if (p.read.length) flags.push(`--allow-read=${p.read.join(",")}`);
  if (p.write.length) flags.push(`--allow-write=${p.write.join(",")}`);
  if (p.net === true) flags.push("--allow-net");
  else if (Array.isArray(p.net) && p.net.length) flags.push(`--allow-net=${p.net.join(",")}`);
  return flags;
}

const WALL_ENV = "FUSED_UDF_WALL";

/** The wall a spec asks for, else the one `FUSED_UDF_WALL` names, else "os". */
function chosenWall(wall: string | undefined): WallChoice {
  let name = "wall";
  if (wall === undefined) {
    name = WALL_ENV;
    try {
      wall = Deno.env.get(WALL_ENV);
    } catch {
      // the host runs without --allow-env: the default
    }
  }
  if (wall === undefined || wall === "os" || wall === "deno") return wall ?? "os";
  throw new TypeError(`${name} must be "os" or "deno", got ${JSON.stringify(wall)}`);
}

/** What exists of the host's system folders in the namespaces (on merged /usr, symlinks). */
const SYSTEM_FOLDERS = ["/usr", "/lib", "/lib64", "/bin"];
/**
 * Debian's links to the chosen implementation of a library (numpy's libblas.so.3 leads through
 * /etc/alternatives): bound read-only for Python processes, which load such libraries.
 */
const PYTHON_SYSTEM_READS = ["/etc/alternatives"];
/** What the C library reads to find a host by name, bound only when the run has a network. */
const RESOLVER_FILES = ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"];
/** The wall's own mounts: never bound from the host, whatever a permission says. */
const WALL_OWN = ["/proc", "/dev"];

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch {
    return null;
  }
}

function isWithin(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder === "/" ? "/" : `${folder}/`);
}

/** Whether the run may reach a network host (a `unix:` socket needs no network namespace). */
function usesNetwork(net: SandboxPermissions["net"]): boolean {
  return net === true || (Array.isArray(net) && net.some((entry) => !entry.startsWith("unix:")));
}

/**
 * bubblewrap's arguments: the namespaces, then every mount at the same path as on the host,
 * parents before children (a mount hides what an earlier one put below it: `/tmp`'s tmpfs comes
 * before the binds under /tmp). A read path that does not exist when bubblewrap starts is
 * skipped; a write path that does not exist now is made (as a folder, as the executor makes
 * them) or, if it cannot be, skipped.
 */
function namespaceArgs(
  spec: Pick<SandboxSpec, "cwd" | "permissions" | "scratch">,
  programReads: string[],
): string[] {
  const network = usesNetwork(spec.permissions.net);
  const mounts: { path: string; args: string[] }[] = [
    { path: "/proc", args: ["--proc", "/proc"] },
    { path: "/dev", args: ["--dev", "/dev"] },
    { path: "/tmp", args: ["--tmpfs", "/tmp"] },
  ];
  const scratch = spec.scratch && resolve(spec.cwd, spec.scratch.path);
  if (scratch) {
    mounts.push({
      path: scratch,
      args: ["--size", String(spec.scratch!.maxBytes), "--tmpfs", scratch],
    });
  }
  const access = new Map<string, "ro" | "rw">();
  const read = [...programReads, ...spec.permissions.read];
  if (network) read.push(...RESOLVER_FILES);
  for (const path of [...SYSTEM_FOLDERS, "/etc/localtime"]) {
    const info = lstatOrNull(path);
    // The time zone is a symlink into /usr/share/zoneinfo: as a symlink it names the zone.
    if (info?.isSymlink) {
      mounts.push({ path, args: ["--symlink", Deno.readLinkSync(path), path] });
    } else if (info?.isDirectory) access.set(path, "ro");
  }
  for (const path of read) access.set(resolve(spec.cwd, path), "ro");
  for (const path of spec.permissions.write.map((p) => resolve(spec.cwd, p))) {
    if (path === scratch) continue;
    try {
      if (!lstatOrNull(path)) Deno.mkdirSync(path, { recursive: true });
      access.set(path, "rw");
    } catch {
      // cannot be made: Deno's flag allows it, the wall has nothing there
    }
  }
  const kept: [string, "ro" | "rw"][] = [];
  for (const path of [...access.keys()].sort()) {
    const mode = access.get(path)!;
    if (path === "/" || WALL_OWN.some((own) => isWithin(path, own))) continue;
    // A bind of a folder already bound with as much access shows nothing new.
    const parent = kept.findLast(([bound]) => isWithin(path, bound));
    if (parent && (parent[1] === "rw" || mode === "ro")) continue;
    kept.push([path, mode]);
    mounts.push({ path, args: [mode === "rw" ? "--bind" : "--ro-bind-try", path, path] });
  }
  // Stable: at one path, the wall's own mount comes before a bind.
  mounts.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return [
    "--unshare-all",
    "--unshare-user",
    ...(network ? ["--share-net"] : []),
    "--die-with-parent",
    "--new-session",
    "--uid",
    "65534",
    "--gid",
    "65534",
    ...mounts.flatMap((m) => m.args),
    "--dir",
    spec.cwd,
    "--chdir",
    spec.cwd,
    "--",
  ];
}

let bwrapPath: string | null | undefined;
/** Why the namespaces cannot be made here, once {@linkcode namespaces} found they cannot. */
let noNamespacesWhy = "";

/**
 * bubblewrap's path when it can make the namespaces here, else null after one notice saying why
 * (checked once per process: starting Deno inside, as a UDF process starts).
 */
function namespaces(denoBinary: string): string | null {
  if (bwrapPath !== undefined) return bwrapPath;
  const bwrap = which("bwrap");
  let why = "bubblewrap (bwrap) is not installed";
  if (bwrap) {
    const probe = { cwd: "/", permissions: { read: [], write: [], net: false } };
    try {
      const out = new Deno.Command(bwrap, {
        args: [...namespaceArgs(probe, [dirname(denoBinary)]), denoBinary, "--version"],
        clearEnv: true,
        stdout: "null",
        stderr: "piped",
      }).outputSync();
      const said = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
      why = out.success ? "" : `bwrap cannot make them here (${said || `exit code ${out.code}`})`;
    } catch (err) {
      why = `bwrap cannot be started (${(err as Error).message})`;
    }
  }
  bwrapPath = why ? null : bwrap;
  noNamespacesWhy = why;
  if (why) {
    console.error(
      `fused: UDF processes run behind Deno's permission flags only, without their own ` +
        `namespaces: ${why}. For the OS wall install bubblewrap (apt-get install bubblewrap) ` +
        `and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, ` +
        `and on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0); ` +
        `${WALL_ENV}=deno chooses Deno's flags without this notice`,
    );
  }
  return bwrapPath;
}

/** Signals by number, for bubblewrap's 128 + N exit codes. */
const SIGNALS: Record<number, Deno.Signal> = {
  1: "SIGHUP",
  2: "SIGINT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  11: "SIGSEGV",
  13: "SIGPIPE",
  15: "SIGTERM",
  24: "SIGXCPU",
  25: "SIGXFSZ",
};

/**
 * What of a Python interpreter the namespaces show: its venv (the folder above `bin/` holding
 * `pyvenv.cfg`), else its own folder, and the folder its link leads to; system folders are bound
 * anyway.
 */
function interpreterReads(python: string): string[] {
  const path = resolve(python);
  const venv = dirname(dirname(path));
  const own = lstatOrNull(join(venv, "pyvenv.cfg"))?.isFile ? venv : dirname(path);
  let real = path;
  try {
    real = Deno.realPathSync(path);
  } catch {
    throw new Error(`the Python interpreter ${python} does not exist: give the path of python3`);
  }
  return [...new Set([own, dirname(real)])];
}

/** Starts a UDF process. */
export function spawnSandbox(spec: SandboxSpec): SandboxProcess {
  const denoBinary = Deno.realPathSync(Deno.execPath());
  const wall = chosenWall(spec.wall);
  const bwrap = wall === "os" ? namespaces(denoBinary) : null;
  if (spec.python && !bwrap) {
    throw new Error(
      `a Python UDF runs only inside its own namespaces (Deno's permission flags do not apply to Python), and ${
        wall === "deno"
          ? `the wall chosen is "deno" (${WALL_ENV}=deno or wall: "deno"): choose "os"`
          : `they cannot be made here: ${noNamespacesWhy}. Install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)`
      }`,
    );
  }
  const programReads = spec.python
    ? [...interpreterReads(spec.python), ...PYTHON_SYSTEM_READS]
    : [dirname(denoBinary), spec.denoDir];
  const plan = makeCgroups(spec.limits);
  // Half the limit for V8's heap (a clean "out of memory" from V8 for JS objects); the hard
  // wall takes the rest (ArrayBuffers, wasm, Deno's own memory).
  const heapMb = Math.max(64, Math.floor(spec.limits.memoryMb / 2));
  const deno = [
    denoBinary,
    "run",
    "--no-config",
    "--node-modules-dir=manual",
    ...permissionFlags(spec.permissions),
    `--v8-flags=--max-old-space-size=${heapMb}`,
    spec.script,
    ...spec.args,
  ];
  const program = spec.python ? [spec.python, "-E", "-s", "-B", spec.script, ...spec.args] : deno;
  const walled = bwrap ? [bwrap, ...namespaceArgs(spec, programReads), ...program] : program;
  setprivPath ??= which("setpriv");
  const guarded = setprivPath ? [setprivPath, "--pdeathsig", "KILL", "--", ...walled] : walled;
  // Inside namespaces the folders are bound as bubblewrap starts: it waits for files being written.
  const gate = bwrap ? spec.filesReady : undefined;
  const dirs = [plan.memory?.dir, plan.pids].filter((d): d is string => d !== undefined);
  // The shell enters the cgroups (nothing runs outside them), waits, then becomes the process.
  const steps = dirs.map((_, i) => `echo $$ > "$${i + 1}/cgroup.procs"`);
  if (gate) steps.push("read -r _");
  let command = guarded[0];
  let args = guarded.slice(1);
  if (steps.length > 0) {
    const exec = `exec "$@"${gate ? " </dev/null" : ""}`;
    command = "/bin/sh";
    args = [
      "-c",
      `${steps.join(" && ")} && shift ${dirs.length} && ${exec}`,
      "sh",
      ...dirs,
      ...guarded,
    ];
  }
  let memoryWall = plan.memory ? `cgroup v${plan.memory.version}` : "rlimit";
  const rlimits: string[] = [];
  if (!plan.memory) {
    // Python starts under RLIMIT_AS (Deno does not start under 32 GiB of it).
    const [flag, bytes] = spec.python
      ? ["--as", spec.limits.memoryMb * 2 ** 20]
      : ["--data", (spec.limits.memoryMb + 600) * 2 ** 20];
    rlimits.push(`${flag}=${bytes}:${bytes}`);
  }
  const fileBytes = spec.limits.maxFileBytes;
  if (fileBytes !== undefined) rlimits.push(`--fsize=${fileBytes}:${fileBytes}`);
  const prlimit = rlimits.length > 0 ? which("prlimit") : null;
  if (!prlimit && fileBytes !== undefined) {
    throw new Error(
      "the files of a UDF process cannot be capped at its caller's disk quota: prlimit is not installed (apt-get install util-linux)",
    );
  }
  if (prlimit) {
    args = [...rlimits, "--", command, ...args];
    command = prlimit;
  } else if (!plan.memory) {
    memoryWall = "V8 heap only";
  }
  const child = new Deno.Command(command, {
    args,
    cwd: spec.cwd,
    clearEnv: true,
    // DENO_DIR is read-only inside the namespaces, and Deno retries a failed write of a module's
    // transpiled code 5 times, 10–50 ms apart: 150 ms per new TypeScript file. Not caching
    // transpiled code costs ~10 ms per start (the child's SDK modules; ~60 ms for all of `fused`).
    env: spec.python
      // HOME is the wall's empty /tmp: libraries that keep a cache under ~ find somewhere to write.
      ? { HOME: "/tmp", LANG: "C.UTF-8", NO_COLOR: "1" }
      : {
        DENO_DIR: spec.denoDir,
        NO_COLOR: "1",
        ...(bwrap && { DENO_EMIT_CACHE_MODE: "disable" }),
      },
    stdin: gate ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  if (gate) {
    // A newline lets the shell go on; closing stdin without one ends it before Deno starts.
    const stdin = child.stdin.getWriter();
    gate.then(() => stdin.write(new Uint8Array([10])), () => {})
      .finally(() => stdin.close())
      .catch(() => {}); // the process ended first
  }
  const pid = child.pid;
  return {
    child,
    pid,
    memoryWall,
    wall: bwrap ? "namespaces" : "deno flags",
    status: child.status.then((status) => {
      const signal = bwrap && status.code > 128 ? SIGNALS[status.code - 128] : undefined;
      return signal && !status.signal ? { ...status, signal } : status;
    }),
    oomKilled(): boolean {
      if (!plan.memory) return false;
      try {
        if (plan.memory.version === 1) {
          const control = Deno.readTextFileSync(join(plan.memory.dir, "memory.oom_control"));
          return /oom_kill [1-9]/.test(control);
        }
        const events = Deno.readTextFileSync(join(plan.memory.dir, "memory.events"));
        return /oom_kill [1-9]/.test(events);
      } catch {
        return false;
      }
    },
    kill(): void {
      try {
        Deno.kill(-pid, "SIGKILL");
      } catch {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    },
    cleanup(): void {
      for (const dir of [plan.memory?.dir, plan.pids]) {
        if (!dir) continue;
        try {
          Deno.removeSync(dir);
        } catch {
          // still has tasks for a moment, or already gone
        }
      }
    },
  };
}
