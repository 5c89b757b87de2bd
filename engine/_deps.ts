/**
 * The npm packages of a UDF: found in its code, checked against its caller's policy, resolved and
 * installed by its host before the UDF first runs there, and pinned with the UDF.
 *
 * How (each step measured on Deno 2.9.6):
 * - Found: every `npm:` specifier of the UDF and its headers (static, dynamic and type imports
 *   written as literals). The SDK's own packages (the bare names of this project's import map,
 *   and `npm:` specifiers at exactly the SDK's version) are not the UDF's: they load the SDK's
 *   copy, so an Arrow table or a zod schema is the class the SDK checks. `jsr:` and `http(s):`
 *   imports are refused here, naming the specifier (the process runs `--no-remote` anyway).
 * - Checked: the caller's `policy.npm` (the operator's `--npm-allow` / `--npm-deny`): `deny`
 *   (names, `@scope/*`, `*`) wins and covers every package installed, dependencies included;
 *   `allow`, when given, covers the packages the UDF imports itself (a dependency of an allowed
 *   package is allowed: an allow list of every transitive name would be unusable). Names are
 *   checked before anything is fetched; dependencies and the size cap (the unpacked size of all
 *   installed packages, 200 MB by default: `@turf/turf` with its 150 dependencies is 34 MB) once
 *   resolved, and a refused install is deleted before anything runs. A refusal is a
 *   ValidationError naming the package, the rule and the fix. The policy is hygiene and a disk
 *   bound, not a wall: the sandbox's permissions are the wall, and a UDF could inline any code.
 * - Installed: `deno install --no-config --node-modules-dir=auto --lock --entrypoint` on a
 *   one-line-per-package module, run with the UDF process's own `DENO_DIR`, from the npm registry
 *   only, without lifecycle scripts (Deno runs none without `--allow-scripts`), into a
 *   `node_modules` folder inside the UDF's module folder: hard links into `DENO_DIR` (copies when
 *   on another file system), 0.15 s for turf + proj4 with a lock and everything cached (no
 *   network: strace counts no connect); a first run whose package is new to the cache took
 *   0.34-0.41 s against 0.12 s for a UDF without packages (`bench/deps_bench.ts`,
 *   `@turf/helpers`). Why a folder of its own, not only Deno's global cache: the UDF process runs
 *   `--node-modules-dir=manual`, which the SDK's bare imports (`"apache-arrow"` from client/)
 *   need, and in that mode an `npm:` import resolves only through a `node_modules` folder above
 *   the importing file; without the flag the SDK's own imports fail ("Import "apache-arrow" not a
 *   dependency"). So the process's flags stay as they are, `--cached-only` included.
 * - Pinned: the lock Deno writes (`deno.lock` v5: each `npm:` requirement's version, and every
 *   package with its integrity hash and dependencies) is stored in the UDF's metadata under
 *   `fused:npm` on its first run (in memory), and travels with it wherever its JSON goes: saved
 *   to a folder (`meta.json`), a zip, the service's registry. A UDF with a lock installs exactly
 *   it, dependencies included, so every worker runs the same versions; an import added since
 *   extends the lock. The module folder's name carries the lock's hash: what a folder holds
 *   follows from its name, and two versions of the pins never share one. A range without a lock
 *   resolves as Deno does: against the registry metadata in its cache, fetched again when nothing
 *   cached satisfies it. A UDF saved before any run has no lock yet, and each host that runs it
 *   pins it for itself: `LocalEngine.pin(udf)` before saving gives it one.
 * - Once: per (UDF version, policy, pins) an engine prepares a module once and shares the promise
 *   with concurrent runs, and once known hands it back synchronously (the run is queued at once,
 *   in call order); a pinned UDF whose folder is already on disk starts no subprocess.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { z } from "zod";
import { exists, removeStaleTemps, tempSibling } from "../client/atomic_write.ts";
import { FusedError, ValidationError } from "../client/errors.ts";
import { canonicalJson, NPM_LOCK_METADATA_KEY, type Udf } from "../client/udf.ts";
import type { CallerPolicy } from "../client/engine_types.ts";
import {
  isSdkPackage,
  mainModuleFile,
  moduleFolderName,
  udfModuleFiles,
  writeUdfModule,
} from "./_module_files.ts";
import { denoDir } from "./_roots.ts";
import { findSpecifiers } from "./specifiers.ts";

/** Which npm packages a caller's UDFs may import: the operator's lists. */
export type NpmPolicy = CallerPolicy["npm"];

/** The lock of a UDF's npm packages, as Deno writes it (`deno.lock`). */
export const NpmLockSchema = z.looseObject({
  version: z.string(),
  specifiers: z.record(z.string(), z.string()).default({}),
  npm: z.record(z.string(), z.looseObject({ dependencies: z.array(z.string()).optional() }))
    .default({}),
});

/** A lock of npm packages. */
export type NpmLock = z.infer<typeof NpmLockSchema>;

/** An npm package a UDF imports. */
export interface NpmImport {
  /** The specifier as written (after the import map): `npm:h3-js@4/dist/x.js`. */
  specifier: string;
  /** The package's name: `h3-js`, `@turf/turf`. */
  name: string;
  /** The package and its version range, as installed: `npm:h3-js@4`. */
  requirement: string;
}

/** A UDF's module folder, ready to be read by its process. */
export interface UdfModule {
  /** The folder (under `<dataDir>/udfs`). */
  folder: string;
  /** The URL of the main module. */
  url: string;
  /** Resolves to the main module's path once its files are on disk. */
  written: Promise<string>;
  /** The lock of the packages installed in the folder, when the UDF imports any. */
  lock?: NpmLock;
}

/** Options of {@linkcode UdfModules}. */
export interface UdfModulesOptions {
  /** The engine's data folder; module folders go to `<dataDir>/udfs`. */
  dataDir: string;
  /** Largest unpacked size of a UDF's npm packages, dependencies included (default 200 MB). */
  maxBytes?: number;
  /** An install that takes longer is stopped (default 5 minutes). */
  timeoutMs?: number;
}

const DEPS_FILE = ".npm-imports.ts";
const LOCK_FILE = "deno.lock";
const MB = 1024 ** 2;
/** `npm:name`, `npm:@scope/name@range/sub/path` (Deno also reads `npm:/name`). */
const NPM_SPECIFIER = /^npm:\/?((?:@[^/@\s]+\/)?[^/@\s]+)(?:@([^/\s]+))?(?:\/.*)?$/;
/** A key of a lock's `npm` section: `name@version`, then `_peer@version` suffixes. */
const LOCK_PACKAGE = /^(@?[^@]+)@([^_]+)/;

/**
 * The npm packages a UDF's module files import, in order, without the SDK's own; a `jsr:` or
 * `http(s):` import is refused.
 *
 * @example
 * ```ts
 * import { npmImports } from "./_deps.ts";
 * const found = npmImports("t", { "t.ts": `import { latLngToCell } from "npm:h3-js@4";` });
 * if (found[0].name !== "h3-js" || found[0].requirement !== "npm:h3-js@4") throw new Error();
 * ```
 */
export function npmImports(udfName: string, files: Record<string, string>): NpmImport[] {
  const found: NpmImport[] = [];
  for (const code of Object.values(files)) {
    for (const { specifier } of findSpecifiers(code)) {
      if (/^(jsr|https?):/i.test(specifier)) {
        throw new ValidationError(
          `Cannot run UDF "${udfName}": it imports ${specifier}, but a UDF's modules come from the npm registry only (its host fetches no jsr: or http(s): modules): import an npm: package instead`,
        );
      }
      if (!specifier.startsWith("npm:") || isSdkPackage(specifier)) continue;
      const match = NPM_SPECIFIER.exec(specifier);
      if (!match) {
        throw new ValidationError(
          `Cannot run UDF "${udfName}": "${specifier}" is not an npm package specifier: write npm:NAME or npm:NAME@VERSION (e.g. npm:h3-js@4)`,
        );
      }
      const [, name, range] = match;
      found.push({ specifier, name, requirement: range ? `npm:${name}@${range}` : `npm:${name}` });
    }
  }
  return found;
}

function matching(name: string, patterns: readonly string[]): string | undefined {
  return patterns.find((p) =>
    p === name || p === "*" || (p.endsWith("/*") && name.startsWith(p.slice(0, -1)))
  );
}

/** Why the policy refuses a package, or undefined when it allows it. */
function refusal(name: string, policy: NpmPolicy, imported: boolean): string | undefined {
  const denied = matching(name, policy.deny ?? []);
  if (denied) return `its operator denies ${denied}`;
  if (imported && policy.allow && !matching(name, policy.allow)) {
    return policy.allow.length
      ? `its operator allows only ${policy.allow.join(", ")}`
      : "its operator allows no npm packages";
  }
  return undefined;
}

/**
 * Refuses the packages a UDF imports that the policy does not allow (before anything is fetched).
 *
 * @example
 * ```ts
 * import { checkNpmImports, npmImports } from "./_deps.ts";
 * const imports = npmImports("t", { "t.ts": `import "npm:left-pad@1";` });
 * let refused = "";
 * try {
 *   checkNpmImports("t", imports, { deny: ["left-pad"] });
 * } catch (err) {
 *   refused = (err as Error).message;
 * }
 * if (!refused.includes("npm:left-pad@1 is not allowed")) throw new Error(refused);
 * ```
 */
export function checkNpmImports(udfName: string, imports: NpmImport[], policy: NpmPolicy): void {
  for (const { specifier, name } of imports) {
    const why = refusal(name, policy, true);
    if (why) {
      throw new ValidationError(
        `Cannot run UDF "${udfName}": ${specifier} is not allowed on this service (${why}): remove the import, or ask the operator to allow ${name}`,
      );
    }
  }
}

function packageOf(lockKey: string): { name: string; version: string } | undefined {
  const match = LOCK_PACKAGE.exec(lockKey);
  return match ? { name: match[1], version: match[2] } : undefined;
}

/** Which package the UDF imports brings `target` in (a lock key), for error messages. */
function broughtBy(lock: NpmLock, imports: NpmImport[], target: string): string | undefined {
  const keyOf = (dep: string): string | undefined =>
    dep in lock.npm ? dep : Object.keys(lock.npm).find((k) => packageOf(k)?.name === dep);
  for (const imported of imports) {
    const version = Object.entries(lock.specifiers)
      .find(([spec]) => NPM_SPECIFIER.exec(spec)?.[1] === imported.name)?.[1];
    const seen = new Set<string>();
    const queue = version ? [`${imported.name}@${version}`] : [];
    while (queue.length) {
      const key = queue.shift()!;
      if (key === target) return imported.specifier;
      if (seen.has(key)) continue;
      seen.add(key);
      for (const dep of lock.npm[key]?.dependencies ?? []) {
        const next = keyOf(dep);
        if (next) queue.push(next);
      }
    }
  }
  return undefined;
}

/** Total size of the regular files under `dir`, symlinks not followed. */
async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) total += await sizeOf(path);
    else if (entry.isFile) total += (await Deno.lstat(path)).size;
  }
  return total;
}

/**
 * Refuses an installed lock the policy or the size cap does not allow: a denied dependency, two
 * versions of one imported package, more than `maxBytes` unpacked in `folder`'s node_modules.
 */
async function checkInstalled(
  udfName: string,
  imports: NpmImport[],
  lock: NpmLock,
  folder: string,
  policy: NpmPolicy,
  maxBytes: number,
): Promise<void> {
  for (const key of Object.keys(lock.npm)) {
    const pkg = packageOf(key);
    const why = pkg && refusal(pkg.name, policy, false);
    if (!pkg || !why) continue;
    const via = broughtBy(lock, imports, key);
    throw new ValidationError(
      `Cannot run UDF "${udfName}": ${
        via ?? "its npm imports"
      } depends on ${pkg.name}@${pkg.version}, which is not allowed on this service (${why}): import a package that does not depend on it, or ask the operator to allow ${pkg.name}`,
    );
  }
  const versions = new Map<string, Set<string>>();
  for (const [spec, version] of Object.entries(lock.specifiers)) {
    const name = NPM_SPECIFIER.exec(spec)?.[1];
    if (name && imports.some((i) => i.name === name)) {
      versions.set(name, (versions.get(name) ?? new Set()).add(version));
    }
  }
  for (const [name, set] of versions) {
    if (set.size > 1) {
      throw new ValidationError(
        `Cannot run UDF "${udfName}": it imports ${name} at ${set.size} versions (${
          [...set].join(", ")
        }): import one version of a package in a UDF and its headers`,
      );
    }
  }
  const store = join(folder, "node_modules", ".deno");
  const sizes: [string, number][] = [];
  for await (const entry of Deno.readDir(store)) {
    if (entry.isDirectory && entry.name !== "node_modules") {
      sizes.push([entry.name.replace(/\+/g, "/"), await sizeOf(join(store, entry.name))]);
    }
  }
  const total = sizes.reduce((sum, [, bytes]) => sum + bytes, 0);
  if (total > maxBytes) {
    const largest = sizes.sort((a, b) => b[1] - a[1]).slice(0, 3)
      .map(([name, bytes]) => `${name} ${(bytes / MB).toFixed(1)} MB`).join(", ");
    throw new ValidationError(
      `Cannot run UDF "${udfName}": its npm packages take ${
        (total / MB).toFixed(1)
      } MB unpacked (${sizes.length} package${
        sizes.length === 1 ? "" : "s"
      }; largest ${largest}), over this host's cap of ${
        (maxBytes / MB).toFixed(0)
      } MB: import fewer or smaller packages, or ask the operator to raise the cap`,
    );
  }
}

async function readLock(folder: string): Promise<NpmLock> {
  return NpmLockSchema.parse(JSON.parse(await Deno.readTextFile(join(folder, LOCK_FILE))));
}

/** The pins stored with a UDF, checked; undefined when it has none. */
function pinsOf(udf: Udf): NpmLock | undefined {
  const stored = udf.metadata?.[NPM_LOCK_METADATA_KEY];
  if (stored === undefined || stored === null) return undefined;
  const parsed = NpmLockSchema.safeParse(stored);
  if (!parsed.success) {
    throw new ValidationError(
      `UDF "${udf.name}" has an invalid "${NPM_LOCK_METADATA_KEY}" in its metadata (${
        parsed.error.issues[0]?.message
      }): it holds the lock of its npm packages; remove it to resolve them again`,
    );
  }
  return parsed.data;
}

const hashes = new WeakMap<object, string>();

/** A hash of a lock (of its canonical JSON), remembered per lock object. */
function lockHash(lock: unknown): string {
  if (lock === null || typeof lock !== "object") return "";
  let hash = hashes.get(lock);
  if (hash === undefined) {
    hash = createHash("sha256").update(canonicalJson(lock)).digest("hex");
    hashes.set(lock, hash);
  }
  return hash;
}

/**
 * A prepared module's key: its version, pins, policy and name, joined without JSON (it is made
 * each run). Only the name, last, may hold any character: the key reads back one way.
 */
function moduleKey(udf: Udf, policyKey: string, lock: unknown): string {
  return `${udf.codeVersion}\0${lockHash(lock)}\0${policyKey}\0${udf.name}`;
}

/** What {@linkcode UdfModules.prepare} last returned for a UDF object, and what it was asked. */
interface LastModule {
  policy: NpmPolicy;
  /** Copies of the policy's lists as they were. */
  allow?: string[];
  deny?: string[];
  pins: unknown;
  name: string;
  key: string;
  module: UdfModule;
}

/** Whether a list is as its copy was (both absent, or the same names in the same order). */
function sameList(copy: string[] | undefined, list: readonly string[] | undefined): boolean {
  if (copy === undefined || list === undefined) return copy === list;
  if (copy.length !== list.length) return false;
  for (let i = 0; i < copy.length; i++) if (copy[i] !== list[i]) return false;
  return true;
}

/** The first `error:` line of Deno's output, without its prefix, trailing period or colors. */
function denoError(output: string): string {
  const line = output.split("\n").find((l) => l.startsWith("error: ")) ??
    output.split("\n").find((l) => l.trim()) ?? "";
  return line.replace(/^error: /, "").replace(/\.$/, "").trim();
}

/**
 * Prepares UDF module folders: writes their files and installs their npm packages, once per UDF
 * version, policy and pins.
 *
 * @example
 * ```ts ignore
 * import { udf } from "../client/udf.ts";
 * import { UdfModules } from "./_deps.ts";
 * const modules = new UdfModules({ dataDir: await Deno.makeTempDir() });
 * const h3 = udf(`import { latLngToCell } from "npm:h3-js@4";
 * export default () => latLngToCell(37.7749, -122.4194, 7);`);
 * const { folder } = await modules.prepare(h3, {});
 * console.log(folder, h3.metadata?.["fused:npm"]); // .../udfs/<version>-<tag>-<lock>, the lock
 * ```
 */
export class UdfModules {
  #dataDir: string;
  #maxBytes: number;
  #timeoutMs: number;
  #prepared = new Map<string, UdfModule | Promise<UdfModule>>();
  /**
   * The module `prepare` last returned for a UDF object, with what it was asked: a warm run of
   * the same object, name, pins and policy (its lists compared by value) gets it without making
   * its key again (a third of a warm run's own JavaScript in the host).
   */
  #last = new WeakMap<Udf, LastModule>();
  #installs = 0;

  /** Creates the preparer of one engine. */
  constructor(options: UdfModulesOptions) {
    this.#dataDir = options.dataDir;
    this.#maxBytes = options.maxBytes ?? 200 * MB;
    this.#timeoutMs = options.timeoutMs ?? 5 * 60_000;
    if (!(this.#maxBytes > 0)) {
      throw new ValidationError(`The npm size cap must be above 0 bytes, got ${this.#maxBytes}`);
    }
  }

  /** How many `deno install` processes this preparer has started. */
  get installs(): number {
    return this.#installs;
  }

  /**
   * The UDF's module folder, ready: its files written (or being written) and its npm packages
   * installed and allowed by `policy`. A UDF without pins is pinned (in its metadata). Returned
   * as it is, not as a promise, once known (every run after a version's first, and the first of
   * a UDF without npm packages): the engine then queues the run at once, in call order.
   */
  prepare(udf: Udf, policy: NpmPolicy): UdfModule | Promise<UdfModule> {
    const pins = udf.metadata?.[NPM_LOCK_METADATA_KEY];
    const last = this.#last.get(udf);
    if (
      last && last.policy === policy && last.pins === pins && last.name === udf.name &&
      sameList(last.allow, policy.allow) && sameList(last.deny, policy.deny) &&
      this.#prepared.get(last.key) === last.module
    ) return last.module;
    const policyKey = JSON.stringify([policy.allow?.toSorted() ?? null, policy.deny?.toSorted()]);
    const key = moduleKey(udf, policyKey, pins);
    const known = this.#prepared.get(key) ?? this.#start(key, udf, policy);
    const pin = (module: UdfModule): UdfModule => {
      if (module.lock && lockHash(pins) !== lockHash(module.lock)) {
        udf.metadata = { ...udf.metadata, [NPM_LOCK_METADATA_KEY]: module.lock };
        const pinned = moduleKey(udf, policyKey, module.lock);
        if (!this.#prepared.has(pinned)) {
          this.#prepared.set(pinned, module);
          module.written.catch(() => this.#prepared.delete(pinned));
        }
      }
      return module;
    };
    if (known instanceof Promise) return known.then(pin);
    const module = pin(known);
    // Remembered once its pins are settled (pinning changes them, and so the key).
    if (udf.metadata?.[NPM_LOCK_METADATA_KEY] === pins) {
      this.#last.set(udf, {
        policy,
        allow: policy.allow && [...policy.allow],
        deny: policy.deny && [...policy.deny],
        pins,
        name: udf.name,
        key,
        module,
      });
    }
    return module;
  }

  /** Starts preparing a module and remembers it under `key`; a failure is tried again later. */
  #start(key: string, udf: Udf, policy: NpmPolicy): UdfModule | Promise<UdfModule> {
    const files = udfModuleFiles(udf);
    // Python code imports no npm packages: its modules come from the interpreter's environment.
    const imports = udf.language === "python" ? [] : npmImports(udf.name, files);
    if (imports.length === 0) {
      const folder = join(this.#dataDir, "udfs", moduleFolderName(udf));
      const module = this.#module(udf, folder);
      this.#prepared.set(key, module);
      module.written.catch(() => this.#prepared.delete(key));
      return module;
    }
    checkNpmImports(udf.name, imports, policy);
    const installing = this.#installed(udf, files, imports, policy);
    this.#prepared.set(key, installing);
    installing.then(
      (module) => {
        this.#prepared.set(key, module);
        module.written.catch(() => this.#prepared.delete(key));
      },
      () => this.#prepared.delete(key),
    );
    return installing;
  }

  #module(udf: Udf, folder: string, lock?: NpmLock): UdfModule {
    const url = new URL(`file://${join(folder, mainModuleFile(udf))}`).href;
    return { folder, url, written: writeUdfModule(udf, folder), lock };
  }

  /** The module of a UDF with npm packages: its pinned folder if on disk, else installed. */
  async #installed(
    udf: Udf,
    files: Record<string, string>,
    imports: NpmImport[],
    policy: NpmPolicy,
  ): Promise<UdfModule> {
    const pins = pinsOf(udf);
    let folder = pins && join(this.#dataDir, "udfs", moduleFolderName(udf, lockHash(pins)));
    let lock: NpmLock;
    if (folder && await exists(join(folder, LOCK_FILE))) {
      lock = await readLock(folder);
      await checkInstalled(udf.name, imports, lock, folder, policy, this.#maxBytes);
    } else {
      ({ folder, lock } = await this.#install(udf, files, imports, pins, policy));
    }
    return this.#module(udf, folder, lock);
  }

  /** Installs the packages in a folder built aside, checks them, and moves it into place. */
  async #install(
    udf: Udf,
    files: Record<string, string>,
    imports: NpmImport[],
    pins: NpmLock | undefined,
    policy: NpmPolicy,
  ): Promise<{ folder: string; lock: NpmLock }> {
    const udfs = join(this.#dataDir, "udfs");
    const aside = join(udfs, `${moduleFolderName(udf)}-npm`);
    await Deno.mkdir(udfs, { recursive: true });
    await removeStaleTemps(udfs, basename(aside));
    const tmp = tempSibling(aside);
    await Deno.mkdir(tmp);
    try {
      for (const [name, text] of Object.entries(files)) {
        await Deno.writeTextFile(join(tmp, name), text);
      }
      const requirements = [...new Set(imports.map((i) => i.requirement))];
      await Deno.writeTextFile(
        join(tmp, DEPS_FILE),
        requirements.map((r) => `import "${r}";\n`).join(""),
      );
      if (pins) await Deno.writeTextFile(join(tmp, LOCK_FILE), JSON.stringify(pins));
      await this.#denoInstall(udf.name, tmp, requirements);
      const lock = await readLock(tmp);
      await checkInstalled(udf.name, imports, lock, tmp, policy, this.#maxBytes);
      const folder = join(udfs, moduleFolderName(udf, lockHash(lock)));
      try {
        await Deno.rename(tmp, folder);
      } catch (err) {
        // Another run or process installed the same lock first: its folder is the same.
        if (!(await exists(join(folder, LOCK_FILE)))) throw err;
        await Deno.remove(tmp, { recursive: true });
      }
      return { folder, lock };
    } catch (err) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  async #denoInstall(udfName: string, folder: string, requirements: string[]): Promise<void> {
    this.#installs++;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "install",
        "--quiet",
        "--no-config",
        "--node-modules-dir=auto",
        `--lock=${LOCK_FILE}`,
        "--entrypoint",
        DEPS_FILE,
      ],
      cwd: folder,
      // The UDF process's cache, so that it finds what is installed here; no package.json of a
      // folder above may add packages.
      env: { DENO_DIR: denoDir(), NO_COLOR: "1", DENO_NO_PACKAGE_JSON: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, this.#timeoutMs);
    const output = await child.output().finally(() => clearTimeout(timer));
    if (output.success) return;
    const packages = requirements.join(", ");
    if (timedOut) {
      throw new FusedError(
        `Installing the npm packages of UDF "${udfName}" (${packages}) took longer than ${
          this.#timeoutMs / 1000
        } s: try again, or import fewer packages`,
      );
    }
    const said = denoError(new TextDecoder().decode(output.stderr)) ||
      `deno install exited with code ${output.code}`;
    // A name or version that does not exist is the UDF's mistake; anything else (the registry
    // unreachable) may pass on the next run.
    const ErrorClass = /does not exist|Could not find npm package|Invalid package|integrity/i
        .test(said)
      ? ValidationError
      : FusedError;
    throw new ErrorClass(
      `Cannot install the npm packages of UDF "${udfName}" (${packages}): ${said}`,
    );
  }
}
