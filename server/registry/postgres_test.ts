/** What the PostgreSQL registry says when the server is unreachable or refuses, and recovery. */
import assert from "node:assert/strict";
import {
  createDatabase,
  freePort,
  PG_PASSWORD,
  startPostgres,
  stopPostgres,
} from "../../tests/_postgres.ts";
import { BackendUnavailableError } from "../backend_errors.ts";
import { openRegistry } from "./mod.ts";
import { PostgresRegistry } from "./postgres.ts";

function clear(pattern: RegExp) {
  return (e: Error) => {
    assert.ok(e instanceof BackendUnavailableError, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n|\.$/);
    assert.equal(e.status, 503);
    return true;
  };
}

Deno.test("a registry on a port where nothing listens fails with a message naming the server", async () => {
  const port = freePort();
  await assert.rejects(
    PostgresRegistry.open(`postgres://fused:x@127.0.0.1:${port}/db`),
    clear(
      new RegExp(`^Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/db .*check that it runs`),
    ),
  );
});

Deno.test("a registry with a wrong password fails with a message about the credentials", async () => {
  const url = await createDatabase("creds");
  await assert.rejects(
    PostgresRegistry.open(url.replace(PG_PASSWORD, "wrong")),
    clear(/refused the credentials .*fix the user and password/),
  );
});

Deno.test("a --database URL of another kind is refused with the form to use", async () => {
  await assert.rejects(
    openRegistry({ databaseUrl: "mysql://u:secret@h/db", sqlitePath: ":memory:" }),
    (e: Error) => {
      assert.match(e.message, /Unsupported database URL "mysql:\/\/u:\*\*\*@h\/db": use postgres:/);
      return true;
    },
  );
});

Deno.test("while PostgreSQL is down calls fail clearly, and they work again once it is back", async () => {
  const registry = await PostgresRegistry.open(await createDatabase("restart"));
  try {
    const user = await registry.createUser({ email: "a@x.org" });
    await stopPostgres();
    try {
      await assert.rejects(registry.getUser(user.id), clear(/^Cannot reach PostgreSQL at /));
    } finally {
      await startPostgres();
    }
    assert.equal((await registry.getUser(user.id))?.email, "a@x.org");
  } finally {
    await registry.close();
  }
});
