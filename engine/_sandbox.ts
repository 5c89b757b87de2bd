/**
 * Starts one UDF process with OS walls around it, and tells how it ended.
 *
 * The walls (measured on Deno 2.9.6, executor-facts §1–3):
 * - Deno's permissions: read of exactly the folders the run needs, write of the caller's data and
 *   cache folders, no env, run, ffi or sys; network only when the run allows it; `--cached-only
 *   --no-remote` because importing an uncached `npm:` module otherwise downloads it even without
 *   `--allow-net`; an empty environment (only `DENO_DIR` and `NO_COLOR`).
 * - Memory: V8's heap cap (`--max-old-space-size`) does not count ArrayBuffers or wasm, so the
 *   process also gets a hard limit: a cgroup (v1 `memory.limit_in_bytes`, or v2 `memory.max`)
 *   where this process may make one, else RLIMIT_DATA (limit + 600 MB, what an idle Deno maps).
 *   RLIMIT_AS cannot be used: Deno does not start under 32 GiB of it.
 * - Threads: a pids cgroup caps the tasks (Workers are threads) where one can be made.
 * - Killing: the process leads its own process group and gets SIGKILL when its host dies
 *   (`setpriv --pdeathsig KILL`; a reparented spinning child otherwise runs on).
 *
 * @module
 */
import { join } from "node:path";

/** Hard limits of one UDF process. */
export interface SandboxLimits {
  /** Memory the process may use, ArrayBuffers and wasm included, in MB. */
  memoryMb: number;
  /** Most tasks (threads) in the process, where a pids cgroup can enforce it. */
  maxTasks: number;
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
}

/** A started UDF process. */
export interface SandboxProcess {
  /** The OS process. */
  child: Deno.ChildProcess;
  /** Its pid (also its process group id). */
  pid: number;
  /** How the memory limit is enforced: "cgroup v1", "cgroup v2" or "rlimit". */
  memoryWall: string;
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
      const owner = /^fused-udf-(\d+)-\d+$/.exec(entry.name)?.[1];
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

let counter = 0;

function makeCgroups(limits: SandboxLimits): CgroupPlan {
  const base = findCgroups()!;
  const name = `fused-udf-${Deno.pid}-${++counter}`;
  const plan: CgroupPlan = {};
  const bytes = String(limits.memoryMb * 2 ** 20);
  if (base.memory) {
    const dir = join(base.memory.dir, name);
    try {
      Deno.mkdirSync(dir);
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
      try {
        Deno.removeSync(dir);
      } catch {
        // never made
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

/** Starts a UDF process. */
export function spawnSandbox(spec: SandboxSpec): SandboxProcess {
  const plan = makeCgroups(spec.limits);
  // Half the limit for V8's heap (a clean "out of memory" from V8 for JS objects); the hard
  // wall takes the rest (ArrayBuffers, wasm, Deno's own memory).
  const heapMb = Math.max(64, Math.floor(spec.limits.memoryMb / 2));
  const deno = [
    Deno.execPath(),
    "run",
    "--no-config",
    "--node-modules-dir=manual",
    ...permissionFlags(spec.permissions),
    `--v8-flags=--max-old-space-size=${heapMb}`,
    spec.script,
    ...spec.args,
  ];
  setprivPath ??= which("setpriv");
  const guarded = setprivPath ? [setprivPath, "--pdeathsig", "KILL", "--", ...deno] : deno;
  let command: string;
  let args: string[];
  let memoryWall: string;
  if (plan.memory || plan.pids) {
    // The shell enters the cgroups, then becomes the process: nothing runs outside them.
    const dirs = [plan.memory?.dir, plan.pids].filter((d): d is string => d !== undefined);
    const enter = dirs.map((_, i) => `echo $$ > "$${i + 1}/cgroup.procs"`).join(" && ");
    command = "/bin/sh";
    args = ["-c", `${enter} && shift ${dirs.length} && exec "$@"`, "sh", ...dirs, ...guarded];
    memoryWall = plan.memory ? `cgroup v${plan.memory.version}` : "rlimit";
  } else {
    command = guarded[0];
    args = guarded.slice(1);
    memoryWall = "rlimit";
  }
  if (!plan.memory) {
    const prlimit = which("prlimit");
    if (prlimit) {
      const data = (spec.limits.memoryMb + 600) * 2 ** 20;
      args = [`--data=${data}:${data}`, "--", command, ...args];
      command = prlimit;
    } else {
      memoryWall = "V8 heap only";
    }
  }
  const child = new Deno.Command(command, {
    args,
    cwd: spec.cwd,
    clearEnv: true,
    env: { DENO_DIR: spec.denoDir, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const pid = child.pid;
  return {
    child,
    pid,
    memoryWall,
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
