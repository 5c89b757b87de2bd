import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { quotaBytes, UDF_POLICY_OPTIONS, udfPolicy } from "./udf_policy_flags.ts";

const parse = (args: string[]) =>
  udfPolicy(parseArgs({ args, options: UDF_POLICY_OPTIONS, strict: true }).values);

Deno.test("the operator's flags become the policy of users' UDFs", () => {
  assert.deepEqual(parse([]), {});
  assert.deepEqual(
    parse([
      "--udf-network",
      "example.com,data.example.org:8443",
      "--allow-private-network",
      "--max-download-mb",
      "10",
      "--npm-allow",
      "h3-js",
      "--npm-allow",
      "@turf/*",
      "--npm-deny",
      "left-pad",
    ]),
    {
      net: ["example.com", "data.example.org:8443"],
      privateNetwork: "always",
      maxDownloadBytes: 10 * 1024 ** 2,
      npm: { allow: ["h3-js", "@turf/*"], deny: ["left-pad"] },
    },
  );
  assert.deepEqual(parse(["--udf-network", "none"]), { net: false });
  assert.deepEqual(parse(["--udf-network", "public"]), { net: true });
});

Deno.test("a bad policy flag is refused with the fix", () => {
  assert.match(
    parse(["--udf-network", "http://x/"]) as string,
    /Invalid --udf-network.*public, none/,
  );
  assert.match(parse(["--max-download-mb", "0"]) as string, /whole number of megabytes/);
  assert.match(parse(["--npm-deny", "../x"]) as string, /Invalid npm package name "\.\.\/x"/);
});

Deno.test("--quota-mb sets each user's disk quota, 10 GiB by default, and a bad one is named", () => {
  const quota = (args: string[]) =>
    quotaBytes(parseArgs({ args, options: UDF_POLICY_OPTIONS, strict: true }).values);
  assert.equal(quota([]), 10 * 1024 ** 3);
  assert.equal(quota(["--quota-mb", "512"]), 512 * 1024 ** 2);
  for (const bad of ["0", "-1", "1.5", "ten", ""]) {
    assert.match(
      String(quota([`--quota-mb=${bad}`])),
      /^Invalid --quota-mb ".*": use a whole number/,
    );
  }
});
