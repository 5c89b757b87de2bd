/**
 * The kernel's protocol loop: decodes requests from the shell, control and stdin channels,
 * dispatches them through a table of small handlers, and publishes output on iopub. It knows
 * nothing about sockets (a {@linkcode KernelTransport} carries frames) nor about how code runs
 * (an {@linkcode Evaluator} does).
 *
 * Concurrency, on purpose: only execute_requests queue behind each other. Every other shell
 * request (complete, inspect, comm_msg, kernel_info, ...) is handled as soon as it arrives, also
 * while a cell awaits, and control is never blocked by shell. Stock `deno jupyter` serialises
 * the whole shell channel behind a running cell (measured: a kernel_info sent 0.2 s into a 2 s
 * cell was answered after 1.9 s), which makes widget buttons deaf while a job runs.
 *
 * @module
 */

import type {
  Evaluator,
  EvaluatorEvent,
  ExecuteOutcome,
  FrontendCommMessage,
  MimeBundle,
} from "./evaluator_types.ts";
import type { HistoryEntry, HistoryStore } from "./history.ts";
import {
  type JupyterMessage,
  type MessageCodec,
  type MessageHeader,
  PROTOCOL_VERSION,
  WireError,
} from "./wire.ts";

/** The channels a kernel speaks on. */
export type Channel = "shell" | "control" | "stdin" | "iopub";

/** Carries encoded frames to the frontend; `send` must not block. */
export interface KernelTransport {
  /** Sends one multipart message on a channel (for ROUTER channels, identities come first). */
  send(channel: Channel, frames: Uint8Array[]): void;
}

/** Options of {@linkcode Kernel}. */
export interface KernelOptions {
  /** Signs and builds messages with the connection's key. */
  codec: MessageCodec;
  /** Where frames go. */
  transport: KernelTransport;
  /**
   * The evaluator, a promise of it, or a function that starts it. The kernel calls a function
   * once the first reply went out, or earlier when a request needs the evaluator: loading the
   * TypeScript stripper and the Worker on the main thread would otherwise hold back the
   * kernel_info reply a frontend waits for.
   */
  evaluator: Evaluator | Promise<Evaluator> | (() => Promise<Evaluator>);
  /**
   * Where cell history is kept; without it history_request answers with no entries. A promise
   * or a function (called like `evaluator`'s) lets the store load after the sockets answer
   * (SQLite and node:path cost the first reply tens of milliseconds); cells run meanwhile are
   * written once it is there.
   */
  history?:
    | HistoryStore
    | Promise<HistoryStore | undefined>
    | (() => Promise<HistoryStore | undefined>);
  /**
   * Called after a shutdown_request was answered and idle was published; it owns the teardown
   * (flush the sockets, exit the process). Without it the kernel shuts the evaluator down itself.
   */
  onShutdown?: (restart: boolean) => void | Promise<void>;
  /** Where protocol problems are reported; default `console.error`. */
  log?: (message: string) => void;
  /** Version reported as implementation_version. */
  version?: string;
}

/** A request being handled, with the channel it came on. */
export interface KernelRequest {
  /** The channel the request came on (its reply goes back there). */
  channel: Channel;
  /** The decoded request. */
  msg: JupyterMessage;
}

/** A pending execute_request; `aborted` is set when an earlier cell failed with stop_on_error. */
interface QueuedExecute extends KernelRequest {
  aborted: boolean;
}

/** What the loop remembers of a cell, so late output still finds its parent header. */
interface CellInfo {
  parent: MessageHeader;
  silent: boolean;
}

/** Content of a reply or of an iopub message. */
export type ReplyContent = Record<string, unknown>;
type Handler = (kernel: Kernel, req: KernelRequest) => Promise<ReplyContent | undefined>;

/** `name?` or `name??` alone on a line: a request for help on `name`. */
const HELP_REQUEST = /^\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*(\?\??)\s*$/;

/** Cells remembered for late output; a header is ~300 bytes, so this bounds memory to a few MB. */
const MAX_CELLS = 10_000;

/**
 * KernelRequest type → handler. A handler returns the reply content (sent as `<type>_reply`, with
 * `_request` replaced) or undefined when the message has no reply (comm messages).
 */
const HANDLERS: Record<string, Handler> = {
  kernel_info_request: (k) => Promise.resolve(k.kernelInfo()),
  execute_request: (k, req) => k.execute(req),
  complete_request: (k, req) => k.complete(req),
  inspect_request: (k, req) => k.inspect(req),
  is_complete_request: (k, req) => k.isComplete(req),
  history_request: (k, req) => k.history(req),
  comm_info_request: (k, req) => k.commInfo(req),
  comm_open: (k, req) => k.commFromFrontend(req, "comm_open"),
  comm_msg: (k, req) => k.commFromFrontend(req, "comm_msg"),
  comm_close: (k, req) => k.commFromFrontend(req, "comm_close"),
  interrupt_request: (k) => k.interrupt(),
  shutdown_request: (k, req) => Promise.resolve(k.shutdown(req)),
};

/**
 * The Jupyter protocol loop of one kernel process.
 *
 * @example
 * ```ts ignore
 * const kernel = new Kernel({ codec, transport, evaluator: startEvaluator() });
 * shellSocket.onMessage = (frames) => kernel.receive("shell", frames);
 * ```
 */
export class Kernel {
  readonly #codec: MessageCodec;
  readonly #transport: KernelTransport;
  readonly #startEvaluator: () => Promise<Evaluator>;
  #evaluatorStarted?: Promise<Evaluator>;
  #history?: HistoryStore;
  #loadHistory?: () => Promise<HistoryStore | undefined>;
  #historyLoading?: Promise<void>;
  #answeredOnce = false;
  #historyQueue: ((h: HistoryStore) => void)[] = [];
  #historyTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #log: (message: string) => void;
  readonly #onShutdown?: (restart: boolean) => void | Promise<void>;
  readonly #version: string;
  #executionCount = 0;
  #queue: QueuedExecute[] = [];
  #executing = false;
  #cells = new Map<string, CellInfo>();
  #currentCell: string | null = null;
  #lastCell: string | null = null;
  #pendingInput: { resolve(v: string): void; reject(e: Error): void } | null = null;
  #afterIdle: (() => Promise<void>) | null = null;
  #shuttingDown = false;

  /** Creates the loop; call {@linkcode Kernel.start} once the sockets are bound. */
  constructor(options: KernelOptions) {
    this.#codec = options.codec;
    this.#transport = options.transport;
    const history = options.history;
    if (typeof history === "function") {
      this.#loadHistory = history;
    } else if (history instanceof Promise) {
      this.#loadHistory = () => history;
      this.#startHistory();
    } else {
      this.#history = history;
    }
    this.#log = options.log ?? ((m) => console.error(m));
    this.#onShutdown = options.onShutdown;
    this.#version = options.version ?? "0.1.0";
    const evaluator = options.evaluator;
    this.#startEvaluator = typeof evaluator === "function"
      ? evaluator
      : () => Promise.resolve(evaluator);
    if (typeof evaluator !== "function") this.#evaluator();
  }

  /** The evaluator, started on the first call. */
  #evaluator(): Promise<Evaluator> {
    if (!this.#evaluatorStarted) {
      this.#evaluatorStarted = this.#startEvaluator();
      this.#evaluatorStarted.then(
        (ev) => ev.onEvent((e) => this.#onEvent(e)),
        (err) => this.#log(`fused kernel: the evaluator failed to start: ${err?.stack ?? err}`),
      );
    }
    return this.#evaluatorStarted;
  }

  /** Starts loading the history store, once; cells queued meanwhile are written when it is. */
  #startHistory(): void {
    const load = this.#loadHistory;
    if (!load) return;
    this.#loadHistory = undefined;
    this.#historyLoading = load().then((store) => {
      this.#history = store;
      this.#historyLoading = undefined;
      if (store) this.#flushHistory();
      else this.#historyQueue = [];
    });
  }

  /** Announces the kernel on iopub (`status: starting`, as ipykernel does). */
  start(): void {
    this.#publish("status", { execution_state: "starting" }, {});
  }

  /** Number of the last cell that stored history. */
  get executionCount(): number {
    return this.#executionCount;
  }

  /** Takes frames received on a channel; bad or unsigned messages are dropped with a log line. */
  receive(channel: Channel, frames: Uint8Array[]): void {
    let msg: JupyterMessage;
    try {
      msg = this.#codec.decode(frames);
    } catch (err) {
      const why = err instanceof WireError ? err.message : String(err);
      this.#log(`fused kernel: dropped a message on ${channel}: ${why}`);
      return;
    }
    const type = msg.header.msg_type;
    if (channel === "stdin") {
      if (type === "input_reply") this.#onInputReply(msg);
      else this.#log(`fused kernel: unexpected ${type} on stdin ignored`);
      return;
    }
    if (!(type in HANDLERS) || (type === "execute_request" && channel !== "shell")) {
      this.#log(`fused kernel: unknown message type ${type} on ${channel} ignored`);
      return;
    }
    if (this.#shuttingDown) return;
    if (type === "execute_request") {
      this.#queue.push({ channel, msg, aborted: false });
      if (!this.#executing) this.#runQueue();
    } else {
      this.#handle({ channel, msg });
    }
  }

  /** The one place that wraps every request in busy/idle and sends its reply. */
  async #handle(req: KernelRequest, aborted = false): Promise<void> {
    const { msg } = req;
    const type = msg.header.msg_type;
    this.#publish("status", { execution_state: "busy" }, msg.header);
    let reply: ReplyContent | undefined;
    try {
      reply = aborted ? { status: "aborted" } : await HANDLERS[type](this, req);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.#log(`fused kernel: ${type} failed: ${e.stack ?? e.message}`);
      reply = { status: "error", ename: e.name, evalue: e.message, traceback: [] };
    }
    if (reply) this.#send(req.channel, req.msg, type.replace(/_request$/, "_reply"), reply);
    this.#publish("status", { execution_state: "idle" }, msg.header);
    if (!this.#answeredOnce && !this.#shuttingDown) {
      this.#answeredOnce = true;
      // A macrotask later, so the reply's bytes are written before the loading starts.
      setTimeout(() => {
        if (this.#shuttingDown) return;
        this.#evaluator();
        this.#startHistory();
        this.#codec.loadNativeHmac().catch((err) =>
          this.#log(`fused kernel: signing stays in TypeScript: node:crypto failed: ${err}`)
        );
      }, 0);
    }
    const after = this.#afterIdle;
    this.#afterIdle = null;
    if (after) await after();
  }

  async #runQueue(): Promise<void> {
    this.#executing = true;
    try {
      while (this.#queue.length) {
        const next = this.#queue.shift()!;
        await this.#handle(next, next.aborted);
      }
    } finally {
      this.#executing = false;
    }
  }

  // ---- handlers -------------------------------------------------------------------------------

  /** kernel_info_reply content. */
  kernelInfo(): ReplyContent {
    return {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: "fused-ts",
      implementation_version: this.#version,
      language_info: {
        name: "typescript",
        version: Deno.version.typescript,
        // VS Code picks its language by `name`, nbconvert by `file_extension`, JupyterLab by
        // `codemirror_mode`, then `mimetype`.
        mimetype: "text/typescript",
        file_extension: ".ts",
        pygments_lexer: "typescript",
        // Classic Notebook 6 gives cells added after load this value as their CodeMirror 5 mode
        // as is: a name such as "typescript" is no CM5 mode ("null", no highlighting), while
        // CM5's javascript mode with its typescript option is (what text/typescript maps to).
        codemirror_mode: { name: "javascript", typescript: true },
        nbconvert_exporter: "script",
      },
      banner: `Deno (Fused) ${this.#version}: TypeScript on Deno ${Deno.version.deno}, ` +
        `V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript}\n` +
        "%%fused cells define UDFs; %lsmagic lists the magics.",
      help_links: [
        { text: "Deno manual", url: "https://docs.deno.com/runtime/" },
        { text: "TypeScript handbook", url: "https://www.typescriptlang.org/docs/handbook/" },
        { text: "Fused documentation", url: "https://docs.fused.io/" },
      ],
      debugger: false,
    };
  }

  /** Runs one cell (called in queue order). */
  async execute(req: KernelRequest): Promise<ReplyContent> {
    const c = req.msg.content;
    const code = String(c.code ?? "");
    const silent = c.silent === true;
    const storeHistory = !silent && c.store_history !== false;
    const stopOnError = c.stop_on_error !== false;
    if (storeHistory) this.#executionCount++;
    const count = this.#executionCount;
    const tag = req.msg.header.msg_id;
    this.#rememberCell(tag, { parent: req.msg.header, silent });
    if (!silent) this.#publish("execute_input", { code, execution_count: count }, req.msg.header);
    if (storeHistory) this.#historyCall((h) => h.add(count, code));

    const evaluator = await this.#evaluator();
    const help = HELP_REQUEST.exec(code);
    if (help) return await this.#pageHelp(evaluator, help[1], help[2].length - 1, count);
    this.#currentCell = tag;
    this.#lastCell = tag;
    let outcome: ExecuteOutcome;
    try {
      outcome = await evaluator.execute(code, {
        cell: tag,
        silent,
        allowStdin: c.allow_stdin === true,
        requestInput: (prompt, password) => this.#requestInput(req, prompt, password),
      });
    } finally {
      this.#currentCell = null;
      this.#pendingInput?.reject(new Error("The cell finished before the input arrived"));
      this.#pendingInput = null;
    }

    if (outcome.status === "ok") {
      if (outcome.result && !silent) {
        this.#publish("execute_result", {
          execution_count: count,
          data: outcome.result.data,
          metadata: outcome.result.metadata ?? {},
        }, req.msg.header);
        const text = outcome.result.data["text/plain"];
        if (storeHistory && typeof text === "string") {
          this.#historyCall((h) => h.setOutput(count, text));
        }
      }
      return {
        status: "ok",
        execution_count: count,
        payload: [],
        user_expressions: await this.#userExpressions(evaluator, req),
      };
    }
    if (outcome.status === "aborted") return { status: "aborted", execution_count: count };
    if (!silent) {
      this.#publish("error", {
        ename: outcome.ename,
        evalue: outcome.evalue,
        traceback: outcome.traceback,
      }, req.msg.header);
    }
    if (stopOnError) { for (const q of this.#queue) q.aborted = true; }
    return {
      status: "error",
      execution_count: count,
      ename: outcome.ename,
      evalue: outcome.evalue,
      traceback: outcome.traceback,
    };
  }

  /**
   * IPython's `name?` / `name??`: the inspection of `name` goes to the frontend's pager (an
   * execute_reply `page` payload). Such a line is not valid TypeScript, so nothing is lost.
   */
  async #pageHelp(
    evaluator: Evaluator,
    name: string,
    detail: number,
    count: number,
  ): Promise<ReplyContent> {
    const r = await evaluator.inspect(name, name.length, detail);
    const data = r.found ? r.data : { "text/plain": `No documentation found for ${name}` };
    return {
      status: "ok",
      execution_count: count,
      payload: [{ source: "page", data, start: 0 }],
      user_expressions: {},
    };
  }

  /** Evaluates `user_expressions` silently, each to a MIME bundle or an error. */
  async #userExpressions(evaluator: Evaluator, req: KernelRequest): Promise<ReplyContent> {
    const exprs = req.msg.content.user_expressions;
    if (!exprs || typeof exprs !== "object") return {};
    const out: ReplyContent = {};
    for (const [name, expr] of Object.entries(exprs as Record<string, unknown>)) {
      const r = await evaluator.execute(String(expr), {
        cell: req.msg.header.msg_id,
        silent: true,
        allowStdin: false,
        requestInput: () => Promise.reject(new Error("No input in user_expressions")),
      });
      out[name] = r.status === "ok"
        ? { status: "ok", data: r.result?.data ?? {}, metadata: r.result?.metadata ?? {} }
        : r.status === "error"
        ? { status: "error", ename: r.ename, evalue: r.evalue, traceback: r.traceback }
        : { status: "aborted" };
    }
    return out;
  }

  /** complete_reply content; Jupyter counts cursor positions in code points, JS in UTF-16. */
  async complete(req: KernelRequest): Promise<ReplyContent> {
    const code = String(req.msg.content.code ?? "");
    const pos = toUtf16(code, cursorPos(req.msg.content.cursor_pos, code));
    const r = await (await this.#evaluator()).complete(code, pos);
    return {
      status: "ok",
      matches: r.matches,
      cursor_start: toCodePoints(code, r.cursorStart),
      cursor_end: toCodePoints(code, r.cursorEnd),
      metadata: r.metadata ?? {},
    };
  }

  /** inspect_reply content. */
  async inspect(req: KernelRequest): Promise<ReplyContent> {
    const code = String(req.msg.content.code ?? "");
    const pos = toUtf16(code, cursorPos(req.msg.content.cursor_pos, code));
    const detail = Number(req.msg.content.detail_level ?? 0);
    const r = await (await this.#evaluator()).inspect(code, pos, detail);
    return { status: "ok", found: r.found, data: r.found ? r.data : {}, metadata: {} };
  }

  /** is_complete_reply content. */
  async isComplete(req: KernelRequest): Promise<ReplyContent> {
    const r = await (await this.#evaluator()).isComplete(String(req.msg.content.code ?? ""));
    return r.status === "incomplete"
      ? { status: r.status, indent: r.indent ?? "" }
      : { status: r.status };
  }

  /** history_reply content. */
  async history(req: KernelRequest): Promise<ReplyContent> {
    this.#startHistory();
    await this.#historyLoading;
    this.#flushHistory(); // answer with every cell so far
    const c = req.msg.content;
    const h = this.#history;
    const output = c.output === true;
    let history: HistoryEntry[] = [];
    if (h) {
      switch (c.hist_access_type) {
        case "tail":
          history = h.tail(Number(c.n ?? 10), { output });
          break;
        case "range":
          history = h.range(Number(c.session ?? 0), Number(c.start ?? 1), Number(c.stop ?? 0), {
            output,
          });
          break;
        case "search":
          history = h.search(String(c.pattern ?? "*"), {
            output,
            n: c.n == null ? undefined : Number(c.n),
            unique: c.unique === true,
          });
          break;
        default:
          throw new Error(
            `Unknown hist_access_type "${c.hist_access_type}": use tail, range or search`,
          );
      }
    }
    return { status: "ok", history };
  }

  /** comm_info_reply content, from the evaluator's registry of open comms. */
  async commInfo(req: KernelRequest): Promise<ReplyContent> {
    const target = req.msg.content.target_name;
    const comms = await (await this.#evaluator()).commInfo(
      typeof target === "string" ? target : undefined,
    );
    return { status: "ok", comms };
  }

  /** Hands a frontend comm message to the evaluator; comm messages have no reply. */
  async commFromFrontend(
    req: KernelRequest,
    type: FrontendCommMessage["type"],
  ): Promise<undefined> {
    const c = req.msg.content;
    const message: FrontendCommMessage = {
      type,
      commId: String(c.comm_id ?? ""),
      data: c.data ?? {},
      metadata: req.msg.metadata,
      buffers: req.msg.buffers,
      header: req.msg.header as unknown as Record<string, unknown>,
    };
    if (type === "comm_open") message.targetName = String(c.target_name ?? "");
    (await this.#evaluator()).commFromFrontend(message);
    return undefined;
  }

  /** interrupt_reply content; an input prompt waiting for the frontend is abandoned too. */
  async interrupt(): Promise<ReplyContent> {
    this.#pendingInput?.reject(new Error("Interrupted while waiting for input"));
    this.#pendingInput = null;
    // An evaluator that never started runs nothing: nothing to interrupt.
    if (this.#evaluatorStarted) await (await this.#evaluatorStarted).interrupt();
    return { status: "ok" };
  }

  /** Interrupts the running cell without a request (SIGINT sent from a terminal). */
  interruptFromSignal(): void {
    this.interrupt().catch((err) => this.#log(`fused kernel: interrupt failed: ${err}`));
  }

  /** shutdown_reply content; the process ends after the reply and idle went out. */
  shutdown(req: KernelRequest): ReplyContent {
    const restart = req.msg.content.restart === true;
    this.#shuttingDown = true;
    this.#afterIdle = async () => {
      // jupyter_client restarts by waiting for this process to exit and launching a new one, so
      // restart: true ends the process as well. With an onShutdown hook (main.ts) ending the
      // process is what stops the Worker: in Deno 2.9.6, worker.terminate() after an interrupted
      // never-settling await aborts the whole process ("Cannot create a handle without a
      // HandleScope"), while exiting is clean.
      // A store that never started loading has nothing to close.
      if (!this.#loadHistory) this.#historyCall((h) => h.close());
      this.#flushHistory();
      if (this.#onShutdown) return await this.#onShutdown(restart);
      const started = this.#evaluatorStarted;
      if (!started) return; // the evaluator never started: nothing to stop
      try {
        const ev = await Promise.race([
          started,
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), 1000)),
        ]);
        await ev.shutdown();
      } catch { /* the evaluator failed to start, or not within 1 s: nothing to stop */ }
    };
    return { status: "ok", restart };
  }

  // ---- stdin ----------------------------------------------------------------------------------

  #requestInput(req: KernelRequest, prompt: string, password: boolean): Promise<string> {
    this.#pendingInput?.reject(new Error("A newer input request replaced this one"));
    return new Promise<string>((resolve, reject) => {
      this.#pendingInput = { resolve, reject };
      this.#send("stdin", req.msg, "input_request", { prompt, password });
    });
  }

  #onInputReply(msg: JupyterMessage): void {
    const pending = this.#pendingInput;
    this.#pendingInput = null;
    if (!pending) return this.#log("fused kernel: input_reply without a pending input_request");
    pending.resolve(String(msg.content.value ?? ""));
  }

  // ---- output ---------------------------------------------------------------------------------

  #onEvent(e: EvaluatorEvent): void {
    if (e.kind === "restarted") {
      const cell = this.#currentCell ?? this.#lastCell;
      const parent = cell ? this.#cells.get(cell)?.parent ?? {} : {};
      this.#publish("stream", {
        name: "stderr",
        text: `The kernel's state was reset (${e.reason}): variables, functions and imports ` +
          "from earlier cells are gone; run those cells again.\n",
      }, parent);
      return;
    }
    const cell = this.#cells.get(e.cell);
    const parent = cell?.parent ?? {};
    const quiet = cell?.silent ?? false;
    switch (e.kind) {
      case "stream":
        if (!quiet) this.#publish("stream", { name: e.name, text: e.text }, parent);
        return;
      case "display":
        if (!quiet) this.#publishDisplay(e.bundle, e.update, parent);
        return;
      case "clear_output":
        if (!quiet) this.#publish("clear_output", { wait: e.wait }, parent);
        return;
      case "error":
        if (!quiet) {
          this.#publish(
            "error",
            { ename: e.ename, evalue: e.evalue, traceback: e.traceback },
            parent,
          );
        }
        return;
      case "comm_open":
        this.#publish(
          "comm_open",
          {
            comm_id: e.commId,
            target_name: e.targetName,
            data: e.data ?? {},
          },
          parent,
          { metadata: asObject(e.metadata), buffers: e.buffers },
        );
        return;
      case "comm_msg":
        this.#publish("comm_msg", { comm_id: e.commId, data: e.data ?? {} }, e.replyTo ?? parent, {
          metadata: asObject(e.metadata),
          buffers: e.buffers,
        });
        return;
      case "comm_close":
        this.#publish("comm_close", { comm_id: e.commId, data: e.data ?? {} }, parent, {
          buffers: e.buffers,
        });
        return;
    }
  }

  #publishDisplay(bundle: MimeBundle, update: boolean, parent: Partial<MessageHeader>): void {
    this.#publish(update ? "update_display_data" : "display_data", {
      data: bundle.data,
      metadata: bundle.metadata ?? {},
      transient: bundle.transient ?? {},
    }, parent);
  }

  #rememberCell(tag: string, info: CellInfo): void {
    this.#cells.set(tag, info);
    if (this.#cells.size > MAX_CELLS) this.#cells.delete(this.#cells.keys().next().value!);
  }

  #publish(
    type: string,
    content: ReplyContent,
    parent: Partial<MessageHeader>,
    extra: { metadata?: Record<string, unknown>; buffers?: Uint8Array[] } = {},
  ): void {
    const topic = new TextEncoder().encode(`kernel.${this.#codec.session}.${type}`);
    const msg = this.#codec.message(type, content, {
      parent,
      identities: [topic],
      metadata: extra.metadata,
      buffers: extra.buffers,
    });
    this.#transport.send("iopub", this.#codec.encode(msg));
  }

  #send(channel: Channel, request: JupyterMessage, type: string, content: ReplyContent): void {
    const msg = this.#codec.message(type, content, {
      parent: request.header,
      identities: request.identities,
    });
    this.#transport.send(channel, this.#codec.encode(msg));
  }

  /**
   * Queues a history write. Writes run in order on a later tick, off the path of the reply: a
   * synchronous SQLite insert per cell was a measurable part of a trivial cell's round trip.
   */
  #historyCall(fn: (h: HistoryStore) => void): void {
    this.#startHistory();
    if (!this.#history && !this.#historyLoading) return;
    this.#historyQueue.push(fn);
    // While the store loads, the queue waits for it (it flushes when it is there).
    if (this.#history) this.#historyTimer ??= setTimeout(() => this.#flushHistory(), 0);
  }

  #flushHistory(): void {
    if (!this.#history) return;
    clearTimeout(this.#historyTimer);
    this.#historyTimer = undefined;
    for (const fn of this.#historyQueue.splice(0)) {
      try {
        fn(this.#history!);
      } catch (err) {
        // History is a convenience; a locked or broken database must never fail a cell.
        this.#log(`fused kernel: history not saved: ${err}`);
      }
    }
  }
}

function asObject(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

function cursorPos(raw: unknown, code: string): number {
  const n = Number(raw);
  return Number.isFinite(n) && raw != null ? n : [...code].length;
}

/** A code point offset as a UTF-16 offset. */
function toUtf16(code: string, codePoints: number): number {
  let units = 0;
  let points = 0;
  for (const ch of code) {
    if (points >= codePoints) break;
    units += ch.length;
    points++;
  }
  return units;
}

/** A UTF-16 offset as a code point offset. */
function toCodePoints(code: string, units: number): number {
  let u = 0;
  let points = 0;
  for (const ch of code) {
    if (u >= units) break;
    u += ch.length;
    points++;
  }
  return points;
}
