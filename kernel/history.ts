/**
 * Cell history kept across kernel sessions in SQLite (`node:sqlite`), answering Jupyter's
 * history_request kinds: tail, range and search (glob patterns, as IPython does).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { dirname, join } from "node:path";

/** One history entry as Jupyter sends it: `[session, line, source]` or with `[source, output]`. */
export type HistoryEntry = [number, number, string | [string, string | null]];

/** Options shared by the history queries. */
export interface HistoryQueryOptions {
  /** Include the text/plain output of each cell. */
  output?: boolean;
}

/** The default database path: `$XDG_DATA_HOME/fused-ts` or `~/.local/share/fused-ts`. */
export function defaultHistoryPath(): string {
  const xdg = Deno.env.get("XDG_DATA_HOME");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  return join(xdg || join(home, ".local", "share"), "fused-ts", "history.sqlite");
}

/** Cell history of one kernel session, persisted with the sessions before it. */
export class HistoryStore {
  /** Number of this kernel's session (1, 2, ... across the life of the database). */
  readonly session: number;
  readonly #db: DatabaseSync;

  /** Opens (creating if needed) the database at `path` (":memory:" for none) and starts a session. */
  constructor(path: string = defaultHistoryPath()) {
    if (path !== ":memory:") Deno.mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path);
    // Several kernels may share the file: WAL lets them write without blocking readers.
    this.#db.exec(`
      PRAGMA busy_timeout = 2000;
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL; -- no fsync per cell: FULL cost 4 ms of every execute
      CREATE TABLE IF NOT EXISTS sessions (
        session INTEGER PRIMARY KEY AUTOINCREMENT, start TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS history (
        session INTEGER NOT NULL, line INTEGER NOT NULL, source TEXT NOT NULL, output TEXT,
        PRIMARY KEY (session, line));
    `);
    const row = this.#db.prepare("INSERT INTO sessions (start) VALUES (?) RETURNING session")
      .get(new Date().toISOString()) as { session: number };
    this.session = Number(row.session);
  }

  /** Records the source of cell `line` of this session. */
  add(line: number, source: string): void {
    this.#db.prepare("INSERT OR REPLACE INTO history (session, line, source) VALUES (?, ?, ?)")
      .run(this.session, line, source);
  }

  /** Records the text/plain output of cell `line` of this session. */
  setOutput(line: number, output: string): void {
    this.#db.prepare("UPDATE history SET output = ? WHERE session = ? AND line = ?")
      .run(output, this.session, line);
  }

  /** The last `n` entries over all sessions, oldest first. */
  tail(n: number, options: HistoryQueryOptions = {}): HistoryEntry[] {
    const rows = this.#db.prepare(
      "SELECT session, line, source, output FROM history ORDER BY session DESC, line DESC LIMIT ?",
    ).all(Math.max(0, n)) as unknown as Row[];
    return rows.reverse().map((r) => entry(r, options));
  }

  /**
   * Lines `start` (inclusive) to `stop` (exclusive; 0 or less = to the end) of a session. As in
   * IPython, session 0 is this one and a negative session counts back from it.
   */
  range(
    session: number,
    start: number,
    stop: number,
    options: HistoryQueryOptions = {},
  ): HistoryEntry[] {
    const s = session > 0 ? session : this.session + session;
    const rows = this.#db.prepare(
      "SELECT session, line, source, output FROM history WHERE session = ? AND line >= ? AND (? <= 0 OR line < ?) ORDER BY line",
    ).all(s, start, stop, stop) as unknown as Row[];
    return rows.map((r) => entry(r, options));
  }

  /**
   * Entries whose source matches a glob pattern (`*`, `?`), oldest first; `n` keeps the last n
   * matches, `unique` keeps only the latest entry of each distinct source.
   */
  search(
    pattern: string,
    options: HistoryQueryOptions & { n?: number; unique?: boolean } = {},
  ): HistoryEntry[] {
    const where = "source GLOB ?";
    const sql = options.unique
      ? `SELECT h.session, h.line, h.source, h.output FROM history h JOIN (
           SELECT source, MAX(session * 1000000000 + line) AS k FROM history WHERE ${where}
           GROUP BY source) u ON u.source = h.source AND u.k = h.session * 1000000000 + h.line
         ORDER BY h.session DESC, h.line DESC`
      : `SELECT session, line, source, output FROM history WHERE ${where}
         ORDER BY session DESC, line DESC`;
    const limit = options.n && options.n > 0 ? ` LIMIT ${Math.floor(options.n)}` : "";
    const rows = this.#db.prepare(sql + limit).all(pattern) as unknown as Row[];
    return rows.reverse().map((r) => entry(r, options));
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }
}

interface Row {
  session: number | bigint;
  line: number | bigint;
  source: string;
  output: string | null;
}

function entry(r: Row, options: HistoryQueryOptions): HistoryEntry {
  const base: [number, number] = [Number(r.session), Number(r.line)];
  return options.output ? [...base, [r.source, r.output]] : [...base, r.source];
}
