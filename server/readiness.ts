/**
 * Readiness of the service for `/v1/health`: each shared backend it needs (database, store,
 * queue) is probed with a short deadline, and the answer names every one that is down, so a load
 * balancer stops sending requests to a service that cannot serve them and an operator reads why.
 * Liveness (`/v1/health/live`) asks nothing of the backends: a process that answers is alive.
 *
 * @module
 */
import { shortMessage } from "./backend_errors.ts";

/** One backend the service needs: a name and a check that throws when it cannot be used. */
export interface ReadinessProbe {
  /** What it is: `database`, `store` or `queue`. */
  name: string;
  /** Resolves when the backend answers; throws (with a message naming it) when it does not. */
  check(): Promise<void>;
}

/** What readiness found: ready, or the backends that are down with the reason of each. */
export interface ReadinessReport {
  /** Whether every backend answered. */
  ready: boolean;
  /** Backends that did not answer, by name, each with its reason. */
  down: Record<string, string>;
}

/** Options of `Readiness`. */
export interface ReadinessOptions {
  /** Longest wait for one probe (ms, default 2000): a hung backend counts as down. */
  timeoutMs?: number;
  /** How long a report is reused (ms, default 1000), so frequent probes cost one check. */
  reuseMs?: number;
}

/**
 * Probes the backends, at most once per `reuseMs` however many health requests come.
 *
 * @example
 * ```ts
 * import { Readiness } from "./readiness.ts";
 * const readiness = new Readiness([{ name: "database", check: () => Promise.resolve() }]);
 * const report = await readiness.report();
 * if (!report.ready) throw new Error("the database should answer");
 * ```
 */
export class Readiness {
  readonly #probes: readonly ReadinessProbe[];
  readonly #timeoutMs: number;
  readonly #reuseMs: number;
  #last: { at: number; report: Promise<ReadinessReport> } | undefined;

  /** Readiness over these probes. */
  constructor(probes: readonly ReadinessProbe[], options: ReadinessOptions = {}) {
    this.#probes = probes;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#reuseMs = options.reuseMs ?? 1000;
  }

  /** The current report (reused for `reuseMs` after it was made). */
  report(): Promise<ReadinessReport> {
    const now = Date.now();
    if (!this.#last || now - this.#last.at >= this.#reuseMs) {
      this.#last = { at: now, report: this.#probe() };
    }
    return this.#last.report;
  }

  async #probe(): Promise<ReadinessReport> {
    const results = await Promise.all(this.#probes.map((p) => this.#check(p)));
    const down: Record<string, string> = {};
    for (const [i, reason] of results.entries()) {
      if (reason !== null) down[this.#probes[i].name] = reason;
    }
    return { ready: Object.keys(down).length === 0, down };
  }

  async #check(probe: ReadinessProbe): Promise<string | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(`The ${probe.name} did not answer within ${this.#timeoutMs} ms`),
        this.#timeoutMs,
      );
    });
    try {
      return await Promise.race([probe.check().then(() => null), late]);
    } catch (err) {
      return shortMessage(err);
    } finally {
      clearTimeout(timer);
    }
  }
}
