/**
 * A harness for tests that drive classic Notebook 6 (Debian's `jupyter-notebook`) in headless
 * Chromium with playwright-core, as a user would: the server is started on 127.0.0.1 in a temp
 * folder with token auth, the `fused` kernelspec installed into a temp prefix, and every Jupyter
 * config, data (trust database) and runtime folder kept inside that temp folder.
 *
 * One server and one browser are meant to be shared by the steps of a test file:
 *
 * ```ts ignore
 * const nb = await startNotebook6();
 * const browser = await launchBrowser();
 * try {
 *   await nb.copyIn("/path/to/quickstart.ipynb", "quickstart.ipynb");
 *   const page = await openNotebook(browser, nb, "quickstart.ipynb");
 *   await runAll(page.page);
 *   await saveNotebook(page.page);
 * } finally {
 *   await browser.close();
 *   await nb.close();
 * }
 * ```
 *
 * Nothing here adds anything to what the frontend or the kernel send: pages see exactly what a
 * user's browser sees. Requests that would leave 127.0.0.1 are aborted and recorded.
 *
 * @module
 */
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../display/browser.ts";
import { installedKernelEnv, PYTHON } from "./_jupyter.ts";

/** A running Notebook 6 server. */
export interface Notebook6Server {
  /** Base URL, e.g. `http://127.0.0.1:PORT/` (no token). */
  url: string;
  /** The token of the server (`?token=` on page URLs). */
  token: string;
  /** The folder the server serves notebooks from. */
  root: string;
  /** The temp folder of everything (root, kernelspec prefix, Jupyter config and data). */
  dir: string;
  /** The environment the server (and so the kernel) runs with. */
  env: Record<string, string>;
  /** Copies a file into the served folder under `name`. */
  copyIn(source: string, name: string): Promise<string>;
  /** Reads a served notebook from disk as JSON. */
  read(name: string): Promise<NotebookJson>;
  /** Signs a served notebook with this server's trust database (`jupyter trust`). */
  trust(name: string): Promise<void>;
  /**
   * Makes a served notebook untrusted as an edit outside the notebook app does: the file is
   * rewritten with one changed metadata key, so its signature no longer matches.
   */
  untrust(name: string): Promise<void>;
  /** The server's log so far (stdout and stderr). */
  log(): string;
  /** Stops the server (and its kernels) and removes the temp folder. */
  close(): Promise<void>;
}

/** The parts of an `.ipynb` the tests read. */
export interface NotebookJson {
  /** Cells with their outputs. */
  cells: {
    cell_type: string;
    id?: string;
    source: string | string[];
    metadata?: Record<string, unknown>;
    outputs?: {
      output_type: string;
      data?: Record<string, unknown>;
      metadata?: Record<string, unknown>;
      text?: string | string[];
      name?: string;
      ename?: string;
      evalue?: string;
    }[];
  }[];
  /** Notebook metadata. */
  metadata: Record<string, unknown>;
  /** Format version fields and anything else. */
  [key: string]: unknown;
}

/** Options of {@linkcode startNotebook6}. */
export interface Notebook6Options {
  /** Prefix of the temp folder's name. */
  prefix?: string;
  /** Extra environment for the server and its kernels. */
  env?: Record<string, string>;
  /** How long to wait for the server to answer (ms); 60 s by default. */
  timeoutMs?: number;
  /** Extra command-line arguments of the server (e.g. `--NotebookApp.extra_static_paths=DIR`). */
  args?: string[];
}

/** A free port on 127.0.0.1 (listened on, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const dec = new TextDecoder();

/**
 * Starts Debian's `jupyter-notebook` on 127.0.0.1 with a random token, in a new temp folder with
 * the `fused` kernelspec installed into a prefix inside it.
 */
export async function startNotebook6(options: Notebook6Options = {}): Promise<Notebook6Server> {
  const dir = await Deno.makeTempDir({ prefix: options.prefix ?? "fused-nb6-" });
  const root = join(dir, "notebooks");
  const config = join(dir, "config");
  await Deno.mkdir(root);
  await Deno.mkdir(config);
  const kernelEnv = await installedKernelEnv(join(dir, "prefix"));
  const token = crypto.randomUUID().replaceAll("-", "");
  const port = freePort();
  const env: Record<string, string> = {
    ...kernelEnv,
    JUPYTER_CONFIG_DIR: config,
    IPYTHONDIR: join(dir, "ipython"),
    FUSED_HOME: join(dir, "fused-home"),
    TMPDIR: dir,
    ...options.env,
  };
  const child = new Deno.Command(PYTHON, {
    args: [
      "-m",
      "notebook",
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      `--NotebookApp.token=${token}`,
      `--notebook-dir=${root}`,
      "--NotebookApp.open_browser=False",
      // No "Do you want to leave?" prompts or update checks in a headless browser.
      "--NotebookApp.quit_button=False",
      // CI and this machine run as root; Notebook refuses to start as root without this.
      ...(Deno.uid() === 0 ? ["--allow-root"] : []),
      ...options.args ?? [],
    ],
    cwd: root,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let logText = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) logText += dec.decode(chunk);
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).catch(() => {});
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let exited = false;
  child.status.then(() => exited = true);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      child.kill("SIGTERM");
    } catch {
      // already ended
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already ended
      }
    }, 10_000);
    await child.status;
    clearTimeout(timer);
    await pumps;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (;;) {
      if (exited || Date.now() > deadline) {
        throw new Error(
          `Notebook 6 did not answer on ${url} (${
            exited ? "it exited" : "timed out"
          }); its log:\n${logText}`,
        );
      }
      try {
        const r = await fetch(`${url}api/status?token=${token}`, {
          signal: AbortSignal.timeout(2_000),
        });
        await r.body?.cancel();
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    await close();
    throw e;
  }
  const path = (name: string) => join(root, name);
  return {
    url,
    token,
    root,
    dir,
    env,
    async copyIn(source, name) {
      await Deno.copyFile(source, path(name));
      return path(name);
    },
    async read(name) {
      return JSON.parse(await Deno.readTextFile(path(name)));
    },
    async trust(name) {
      const out = await new Deno.Command(PYTHON, {
        args: ["-m", "nbformat.sign", path(name)],
        env,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      if (out.code !== 0) throw new Error(`jupyter trust failed: ${dec.decode(out.stderr)}`);
    },
    async untrust(name) {
      const nb = JSON.parse(await Deno.readTextFile(path(name)));
      nb.metadata = { ...nb.metadata, "fused-test-edited": new Date().toISOString() };
      const tmp = `${path(name)}.tmp`;
      await Deno.writeTextFile(tmp, JSON.stringify(nb, null, 1));
      await Deno.rename(tmp, path(name));
    },
    log: () => logText,
    close,
  };
}

/** A Chromium with the project's flags (software WebGL, no background network). */
export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 60_000,
  });
}

/** A notebook page and what it saw. */
export interface NotebookPage {
  /** The page, with the notebook loaded and its kernel connected. */
  page: Page;
  /** Requests aborted because they would have left 127.0.0.1. */
  blocked: string[];
  /** Console errors and uncaught page errors, in order. */
  errors: string[];
  /** Every console message, `type: text`. */
  console: string[];
}

/** Options of {@linkcode openNotebook}. */
export interface OpenOptions {
  /** Viewport; 1200 × 900 by default. */
  viewport?: { width: number; height: number };
  /** How long to wait for the notebook and its kernel (ms); 90 s by default. */
  timeoutMs?: number;
}

/**
 * Opens a served notebook in a new page of `browser` and waits until the notebook is loaded and
 * its kernel has answered `kernel_info`.
 */
export async function openNotebook(
  browser: Browser,
  server: Notebook6Server,
  name: string,
  options: OpenOptions = {},
): Promise<NotebookPage> {
  const timeout = options.timeoutMs ?? 90_000;
  const page = await browser.newPage({
    viewport: options.viewport ?? { width: 1200, height: 900 },
  });
  page.setDefaultTimeout(timeout);
  const blocked: string[] = [];
  const errors: string[] = [];
  const consoleLines: string[] = [];
  page.on("console", (m) => {
    consoleLines.push(`${m.type()}: ${m.text()}`);
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  // Leaving the page (reloads) must not stop on Notebook's "unsaved changes" prompt.
  page.on("dialog", (d) => d.accept().catch(() => {}));
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (/^(data:|blob:)/.test(url) || /^(http|ws)s?:\/\/127\.0\.0\.1[:/]/.test(url)) {
      return route.continue();
    }
    blocked.push(url);
    return route.abort();
  });
  await page.goto(`${server.url}notebooks/${encodeURIComponent(name)}?token=${server.token}`, {
    timeout,
  });
  await waitForKernel(page, timeout);
  return { page, blocked, errors, console: consoleLines };
}

/** Reloads the page (as a user pressing F5) and waits for the notebook and kernel again. */
export async function reloadNotebook(page: Page, timeoutMs = 90_000): Promise<void> {
  await page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const J = (globalThis as any).Jupyter;
    // Saved state is what is on disk; do not ask whether to leave.
    if (J?.notebook) J.notebook.set_dirty(false);
    globalThis.onbeforeunload = null;
  });
  await page.reload({ timeout: timeoutMs });
  await waitForKernel(page, timeoutMs);
}

/** Waits until `Jupyter.notebook` is loaded and its kernel has answered `kernel_info`. */
export async function waitForKernel(page: Page, timeoutMs = 90_000): Promise<void> {
  await page.waitForFunction(
    () => {
      // deno-lint-ignore no-explicit-any
      const J = (globalThis as any).Jupyter;
      const nb = J?.notebook;
      return !!(nb && nb._fully_loaded && nb.kernel && nb.kernel.is_connected() &&
        nb.kernel.info_reply && nb.kernel.info_reply.status === "ok");
    },
    null,
    { timeout: timeoutMs, polling: 200 },
  );
}

/** What {@linkcode runCells} saw. */
export interface RunReport {
  /** Cells executed (execute requests sent). */
  executed: number;
  /** Milliseconds from the first execute request to the last reply. */
  ms: number;
  /** Index and error name/value of cells whose output has an error. */
  errors: { index: number; ename: string; evalue: string }[];
}

/**
 * Executes the code cells `indices` (all with `"all"`) as Run All or Shift-Enter would, and waits
 * for every execute reply.
 */
export async function runCells(
  page: Page,
  indices: number[] | "all",
  timeoutMs = 240_000,
): Promise<RunReport> {
  await page.evaluate((which: number[] | "all") => {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    const nb = g.Jupyter.notebook;
    const track = (g.__fusedRun = { sent: 0, done: 0, started: performance.now(), ended: 0 });
    const onExec = () => track.sent++;
    const onDone = () => {
      track.done++;
      track.ended = performance.now();
    };
    nb.events.off("execute.CodeCell.fusedtest");
    nb.events.off("finished_execute.CodeCell.fusedtest");
    nb.events.on("execute.CodeCell.fusedtest", onExec);
    nb.events.on("finished_execute.CodeCell.fusedtest", onDone);
    if (which === "all") nb.execute_all_cells();
    else nb.execute_cells(which);
  }, indices);
  await page.waitForFunction(
    () => {
      // deno-lint-ignore no-explicit-any
      const g = globalThis as any;
      const t = g.__fusedRun;
      return t.sent > 0 && t.done >= t.sent && !g.Jupyter.notebook.kernel_busy;
    },
    null,
    { timeout: timeoutMs, polling: 250 },
  );
  return await page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    const t = g.__fusedRun;
    const errors: { index: number; ename: string; evalue: string }[] = [];
    // deno-lint-ignore no-explicit-any
    g.Jupyter.notebook.get_cells().forEach((c: any, index: number) => {
      for (const o of c.output_area?.outputs ?? []) {
        if (o.output_type === "error") errors.push({ index, ename: o.ename, evalue: o.evalue });
      }
    });
    return { executed: t.sent, ms: t.ended - t.started, errors };
  });
}

/** Saves the notebook through the frontend (as Ctrl-S) and waits for the server's answer. */
export async function saveNotebook(page: Page): Promise<void> {
  await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    await (globalThis as any).Jupyter.notebook.save_notebook();
  });
}

/** Whether the frontend considers the loaded notebook trusted. */
export async function isTrusted(page: Page): Promise<boolean> {
  // deno-lint-ignore no-explicit-any
  return await page.evaluate(() => !!(globalThis as any).Jupyter.notebook.trusted);
}

/** Index of the first code cell whose `metadata.id`/`id` or source matches. */
export async function cellIndex(
  page: Page,
  match: { id?: string; source?: string },
): Promise<number> {
  return await page.evaluate((m: { id?: string; source?: string }) => {
    // deno-lint-ignore no-explicit-any
    const cells = (globalThis as any).Jupyter.notebook.get_cells();
    // deno-lint-ignore no-explicit-any
    return cells.findIndex((c: any) =>
      c.cell_type === "code" && (
        (m.id !== undefined && (c.id === m.id || c.metadata?.id === m.id)) ||
        (m.source !== undefined && c.get_text().includes(m.source))
      )
    );
  }, match);
}

/** The DOM element (CSS selector) of the output area of cell `index`. */
export function outputSelector(index: number): string {
  return `#notebook-container > .cell:nth-child(${index + 1}) .output_area`;
}
