/**
 * Saved UDFs for a batch job's process, which has no registry and no credential: when a job's
 * UDF loads or runs a UDF by name (`fused.load("name")`, `fused.run("owner/name")`), the process
 * asks the service that runs the job, and the service answers as the job's owner by the rules of
 * its HTTP API (../saved_udfs.ts).
 *
 * Why this and not a credential: an API token for the owner would be a secret written into the
 * job's folder, valid beyond the job and for every route; the admin token would be every user's.
 * Here the process holds nothing: it can only ask what the job's owner may see, and the service
 * checks every question. Runs the job makes through a share token act as that token's UDF owner
 * (as `GET /{token}/run` does); their questions name the token, and the service checks that it
 * still names an enabled UDF before it answers as that owner.
 *
 * Why files (`calls/<id>.json`, answered by `calls/<id>.answer`): the job and the runner already
 * talk through files in the job's run folder (_protocol.ts), so a job outlives a restart of the
 * service; a question asked while no service runs is answered by the next one. The runner looks
 * for questions each time it copies the job's output (every `pollMs`, 100 ms by default).
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../../client/atomic_write.ts";
import { FusedError, ValidationError } from "../../client/errors.ts";
import { Udf } from "../../client/udf.ts";
import type { UdfJson } from "../../client/udf_json.ts";
import type { Registry } from "../registry/mod.ts";
import {
  findSavedUdf,
  type SavedUdf,
  type SavedUdfFinder,
  type SavedUdfPurpose,
} from "../saved_udfs.ts";
import { sleep } from "../../client/sleep.ts";

/** A question of a job's process. */
export interface SavedCall {
  /** The reference the UDF gave. */
  ref: string;
  /** Its code, or a run. */
  purpose: SavedUdfPurpose;
  /** The share token whose runs ask (they act as its UDF's owner); absent: the job's owner. */
  via?: string;
}

/** The answer to a {@linkcode SavedCall}. */
type SavedAnswer =
  | { ok: true; udf: UdfJson; actAs: string; cache: boolean; token?: string }
  | { ok: false; error: { name: string; message: string } };

const QUESTION = /^([0-9a-f-]{36})\.json$/;
const WAIT_MS = 25;

async function ask(callsDir: string, call: SavedCall, signal?: AbortSignal): Promise<SavedAnswer> {
  await Deno.mkdir(callsDir, { recursive: true, mode: 0o700 });
  const id = crypto.randomUUID();
  const question = join(callsDir, `${id}.json`);
  const answer = join(callsDir, `${id}.answer`);
  await writeFileAtomic(question, JSON.stringify(call));
  try {
    for (;;) {
      try {
        const text = await Deno.readTextFile(answer);
        await Deno.remove(answer);
        return JSON.parse(text) as SavedAnswer;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      await sleep(WAIT_MS, signal);
    }
  } finally {
    // Unanswered (the run ended first): the question goes, so no runner answers it for nobody.
    await Deno.remove(question).catch(() => {});
  }
}

/**
 * The finder of a job's process: asks the runner, through `callsDir`, as the job's owner (or as
 * the owner of the share token a run came through).
 *
 * @example
 * ```ts ignore
 * const find = jobFinder(spec.callsDir, spec.ownerId);
 * const { udf } = await find("alice/roads", "load", caller);
 * ```
 */
export function jobFinder(callsDir: string, ownerId: string): SavedUdfFinder {
  // The share token through which runs act as a user other than the job's owner.
  const tokens = new Map<string, string>();
  return async (ref, purpose, caller, signal) => {
    const via = caller.id === ownerId ? undefined : tokens.get(caller.id);
    if (caller.id !== ownerId && via === undefined) {
      throw new FusedError(
        `Cannot find saved UDFs for caller ${caller.id} in job of ${ownerId}: only the job's owner and the owners of share tokens it ran can ask`,
      );
    }
    const answer = await ask(callsDir, { ref, purpose, ...(via ? { via } : {}) }, signal);
    if (!answer.ok) {
      const error = new FusedError(answer.error.message);
      error.name = answer.error.name;
      throw error;
    }
    const found: SavedUdf = {
      udf: Udf.fromJSON(answer.udf),
      actAs: answer.actAs,
      cache: answer.cache,
      ...(answer.token ? { token: answer.token } : {}),
    };
    if (found.token && found.actAs !== ownerId) tokens.set(found.actAs, found.token);
    return found;
  };
}

/**
 * What a job's question names, as the job's owner may see it; a question that names a share
 * token asks as that token's UDF owner, once the token is found to name an enabled UDF.
 */
export async function findForJob(
  registry: Registry,
  ownerId: string,
  call: SavedCall,
): Promise<SavedUdf> {
  const actor = call.via === undefined
    ? ownerId
    : (await findSavedUdf(registry, ownerId, call.via, "run")).actAs;
  return await findSavedUdf(registry, actor, call.ref, call.purpose);
}

function parseCall(value: unknown): SavedCall {
  const call = value as Partial<SavedCall> | null;
  if (
    typeof call?.ref !== "string" || (call.purpose !== "load" && call.purpose !== "run") ||
    (call.via !== undefined && typeof call.via !== "string")
  ) {
    throw new ValidationError("A job's question must be { ref, purpose: load|run, via? }");
  }
  return { ref: call.ref, purpose: call.purpose, via: call.via };
}

/**
 * Answers the questions waiting in `callsDir` with `answer` (the runner's side). Each answer is
 * written before its question is removed, so a restart in between answers it again, never not.
 */
export async function answerSavedCalls(
  callsDir: string,
  answer: (call: SavedCall) => Promise<SavedUdf>,
): Promise<void> {
  let names: string[];
  try {
    names = [];
    for await (const entry of Deno.readDir(callsDir)) {
      if (entry.isFile && QUESTION.test(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return; // the job asked nothing yet
    throw error;
  }
  for (const name of names) {
    const question = join(callsDir, name);
    let reply: SavedAnswer;
    try {
      const found = await answer(parseCall(JSON.parse(await Deno.readTextFile(question))));
      reply = {
        ok: true,
        udf: found.udf.toJSON(),
        actAs: found.actAs,
        cache: found.cache,
        ...(found.token ? { token: found.token } : {}),
      };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // withdrawn meanwhile
      const { name: kind, message } = error instanceof Error
        ? error
        : { name: "Error", message: String(error) };
      reply = { ok: false, error: { name: kind, message } };
    }
    await writeFileAtomic(
      join(callsDir, name.replace(QUESTION, "$1.answer")),
      JSON.stringify(reply),
    );
    await Deno.remove(question).catch(() => {});
  }
}
