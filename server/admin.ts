/**
 * `fused admin`: users and API tokens of a platform, made straight in its registry (the shared
 * PostgreSQL of a scale-out, or the data folder's SQLite), so an operator needs no admin token
 * and no running service: whoever may use the database is the platform's operator.
 *
 * ```sh
 * fused admin user create ana@example.com --team geo
 * fused admin token create ana@example.com --expires 30d
 * fused admin token revoke 1a2b3c4d5e6f7a8b
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ValidationError } from "../client/errors.ts";
import { BackendUnavailableError } from "./backend_errors.ts";
import {
  type ApiTokenInfo,
  ConflictError,
  openRegistry,
  type Registry,
  type User,
} from "./registry/mod.ts";
import { defaultDataDir } from "./serve.ts";

const HELP = `fused admin: users and API tokens of a platform, straight in its registry

Usage:
  fused admin user create EMAIL [--handle H] [--team T] [--admin]
  fused admin token create EMAIL [--name TEXT] [--expires 30d|12h]
                                  prints the new token (shown once) on stdout
  fused admin token list EMAIL    the user's tokens: id, name, created, expires, revoked
  fused admin token revoke ID     the token is refused from the next request on

Options:
  --database URL   the platform's PostgreSQL (default $FUSED_DATABASE_URL); without it, the
                   SQLite registry in --data-dir
  --data-dir PATH  the embedded service's folder (default $FUSED_SERVER_DIR or ~/.fused/server)
  -h, --help       this help`;

function parseAdminArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      handle: { type: "string" },
      team: { type: "string" },
      admin: { type: "boolean", default: false },
      name: { type: "string" },
      expires: { type: "string" },
      database: { type: "string" },
      "data-dir": { type: "string" },
    },
  });
}

/** Hours or days (`12h`, `30d`) as an ISO time that far from now. */
export function expiryTime(text: string, from = Date.now()): string {
  const match = /^(\d+)([hd])$/.exec(text.trim().toLowerCase());
  if (!match || Number(match[1]) === 0) {
    throw new ValidationError(
      `Cannot read --expires "${text}": use a whole number of hours or days, e.g. 12h or 30d`,
    );
  }
  const hours = Number(match[1]) * (match[2] === "d" ? 24 : 1);
  return new Date(from + hours * 3_600_000).toISOString();
}

async function userByEmail(registry: Registry, email: string | undefined): Promise<User> {
  if (!email) throw new ValidationError("Give the user's e-mail: fused admin token create EMAIL");
  const user = await registry.findUserByEmail(email);
  if (!user) {
    throw new ValidationError(
      `No user ${email}: create it first with fused admin user create ${email}`,
    );
  }
  return user;
}

function tokenLine(t: ApiTokenInfo): string {
  return [t.id, t.name ?? "-", t.createdAt, t.expiresAt ?? "never", t.revokedAt ?? "-"].join("\t");
}

/**
 * Runs one `fused admin` command (the words after `admin`) on an open registry and returns what
 * to print on stdout.
 *
 * @example
 * ```ts ignore
 * import { runAdmin } from "./admin.ts";
 * import { SqliteRegistry } from "./registry/sqlite.ts";
 * const registry = new SqliteRegistry(":memory:");
 * await runAdmin(registry, ["user", "create", "ana@example.com"]);
 * const token = await runAdmin(registry, ["token", "create", "ana@example.com", "--expires", "1d"]);
 * ```
 */
export async function runAdmin(registry: Registry, args: string[]): Promise<string> {
  const { values, positionals } = parseAdminArgs(args);
  const [what, action, subject] = positionals;
  switch (`${what} ${action}`) {
    case "user create": {
      if (!subject) {
        throw new ValidationError("Give the new user's e-mail: fused admin user create EMAIL");
      }
      const user = await registry.createUser({
        email: subject,
        handle: values.handle,
        team: values.team ?? null,
        isAdmin: values.admin,
      });
      return `${user.id}\t${user.email}\t${user.handle}${user.isAdmin ? "\tadmin" : ""}`;
    }
    case "token create": {
      const user = await userByEmail(registry, subject);
      const issued = await registry.createApiToken(user.id, {
        name: values.name,
        expiresAt: values.expires === undefined ? null : expiryTime(values.expires),
      });
      return issued.token;
    }
    case "token list": {
      const user = await userByEmail(registry, subject);
      return (await registry.listApiTokens(user.id)).map(tokenLine).join("\n");
    }
    case "token revoke": {
      if (!subject) throw new ValidationError("Give the token's id: fused admin token revoke ID");
      if (!(await registry.revokeApiToken(subject))) {
        throw new ValidationError(
          `No usable token with id ${subject}: list them with fused admin token list EMAIL`,
        );
      }
      return `Revoked ${subject}`;
    }
  }
  throw new ValidationError(`Unknown admin command "${positionals.join(" ")}"\n\n${HELP}`);
}

/** `fused admin ...`: opens the registry, runs the command, prints its answer; the exit code. */
export async function main(args: string[]): Promise<number> {
  if (args.length === 0 || args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return args.length === 0 ? 2 : 0;
  }
  let parsed;
  try {
    parsed = parseAdminArgs(args).values;
  } catch (err) {
    console.error(`fused admin: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const databaseUrl = parsed.database ?? Deno.env.get("FUSED_DATABASE_URL") ?? null;
  const dataDir = parsed["data-dir"] ?? defaultDataDir();
  let registry: Registry | undefined;
  try {
    registry = await openRegistry({ databaseUrl, sqlitePath: join(dataDir, "registry.db") });
    console.log(await runAdmin(registry, args));
    return 0;
  } catch (err) {
    if (
      err instanceof ValidationError || err instanceof BackendUnavailableError ||
      err instanceof ConflictError
    ) {
      console.error(`fused admin: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await registry?.close();
  }
}
