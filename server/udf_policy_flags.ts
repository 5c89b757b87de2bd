/**
 * The flags an operator sets what users' UDFs may reach with, shared by `fused serve` and
 * `fused worker` (so a batch job on a worker runs under the same rules as a run on the service).
 *
 * @module
 */
import type { CallerPolicy } from "../client/engine_types.ts";
import { DEFAULT_QUOTA_BYTES } from "./quota.ts";

/** The flags' lines of a `--help`. */
export const UDF_POLICY_HELP =
  `  --udf-network NET   what UDFs' downloads may reach: public (default), none, or HOST[:PORT],...
  --allow-private-network
                      let UDFs' downloads reach loopback, link-local and private addresses
                      (this machine's database, storage, cloud metadata): only on a trusted team
  --max-download-mb N largest file a UDF downloads (default 4096)
  --npm-allow NAME    npm packages UDFs may import (repeatable; @scope/* for a scope; default any)
  --npm-deny NAME     npm packages UDFs may not import (repeatable; wins over --npm-allow)
  --quota-mb N        disk quota of each user: their fd:// files, data and cache folders
                      (default 10240, 10 GiB); a write past it answers 507`;

/** The flags, as `node:util` `parseArgs` options. */
export const UDF_POLICY_OPTIONS = {
  "udf-network": { type: "string" },
  "allow-private-network": { type: "boolean" },
  "max-download-mb": { type: "string" },
  "npm-allow": { type: "string", multiple: true },
  "npm-deny": { type: "string", multiple: true },
  "quota-mb": { type: "string" },
} as const;

/** Parsed flags. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** The policy of users' runs from the flags, or the message of a bad flag. */
export function udfPolicy(flags: Flags): Partial<CallerPolicy> | string {
  const policy: Partial<CallerPolicy> = {};
  const net = flags["udf-network"];
  if (typeof net === "string") {
    const hosts = net.split(",").map((host) => host.trim()).filter((host) => host !== "");
    if (net === "public") policy.net = true;
    else if (net === "none") policy.net = false;
    else if (
      hosts.length > 0 &&
      hosts.every((h) => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(h))
    ) {
      policy.net = hosts;
    } else {
      return `Invalid --udf-network "${net}": use public, none, or a list such as example.com,data.example.org:8443`;
    }
  }
  if (flags["allow-private-network"] === true) policy.privateNetwork = "always";
  const mb = flags["max-download-mb"];
  if (typeof mb === "string") {
    const value = Number(mb);
    if (!(Number.isInteger(value) && value > 0)) {
      return `Invalid --max-download-mb "${mb}": use a whole number of megabytes above 0`;
    }
    policy.maxDownloadBytes = value * 1024 ** 2;
  }
  const names = (key: string): string[] | undefined => {
    const list = flags[key];
    return Array.isArray(list) ? list : undefined;
  };
  const allow = names("npm-allow");
  const deny = names("npm-deny");
  for (const name of [...(allow ?? []), ...(deny ?? [])]) {
    if (!/^(@[a-z0-9][a-z0-9._-]*\/)?([a-z0-9][a-z0-9._-]*|\*)$/.test(name)) {
      return `Invalid npm package name "${name}" in --npm-allow/--npm-deny: use a name such as h3-js, @turf/turf or @turf/*`;
    }
  }
  if (allow || deny) policy.npm = { allow, deny };
  return policy;
}

/** Each user's disk quota in bytes from `--quota-mb` (default 10 GiB), or the message of a bad one. */
export function quotaBytes(flags: Flags): number | string {
  const mb = flags["quota-mb"];
  if (mb === undefined) return DEFAULT_QUOTA_BYTES;
  const value = Number(mb);
  if (typeof mb !== "string" || !(Number.isInteger(value) && value > 0)) {
    return `Invalid --quota-mb "${mb}": use a whole number of megabytes above 0 (the default is 10240)`;
  }
  return value * 1024 ** 2;
}
