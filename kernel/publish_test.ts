import assert from "node:assert/strict";
import { failedCell, pageNameFor, refuseLocalFiles, serviceRoot, tileTokens } from "./publish.ts";

const TOKEN = "fsh_0123456789abcdef0123";

Deno.test("serviceRoot takes the root or the API URL and refuses what is no http(s) URL", () => {
  assert.equal(serviceRoot("http://127.0.0.1:8783"), "http://127.0.0.1:8783");
  assert.equal(serviceRoot("http://127.0.0.1:8783/v1/"), "http://127.0.0.1:8783");
  assert.equal(serviceRoot("https://maps.example.org/fused"), "https://maps.example.org/fused");
  assert.throws(() => serviceRoot("8783"), /--service "8783" is not a URL: give the service's/);
  assert.throws(() => serviceRoot("ftp://x.org"), /must be an http\(s\) URL/);
});

Deno.test("pageNameFor uses the notebook's name unless given, by the UDF name rule", () => {
  assert.equal(pageNameFor("/a/b/main.ipynb"), "main");
  assert.equal(pageNameFor("/a/b/main.ipynb", "tour"), "tour");
  assert.throws(
    () => pageNameFor("/a/my notebook.ipynb"),
    /Cannot use "my notebook" as the page name: .*; choose one with --name/,
  );
});

Deno.test("failedCell names the code cell nbconvert reports, and the kernel's error", () => {
  const cells = [
    { cell_type: "markdown", source: "# title" },
    { cell_type: "code", source: ["const a = 1;\n", "a"] },
    { cell_type: "code", source: 'throw new Error("boom")' },
  ];
  const stderr = `[NbConvertApp] Converting notebook x.ipynb to notebook
Traceback (most recent call last):
nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:
------------------
throw new Error("boom")
------------------

Error: boom
    at <cell>:1:7
`;
  assert.equal(
    failedCell(stderr, cells),
    'Code cell 2 ("throw new Error("boom")") failed:\nError: boom\n    at <cell>:1:7',
  );
  assert.equal(failedCell("something else\nbroke", cells), "something else\nbroke");
});

Deno.test("tileTokens finds the share tokens of tile URLs by service, at the root or under /v1", () => {
  const text =
    `"tiles http://127.0.0.1:9/v1/realtime-shared/${TOKEN}/run/tiles/{z}/{x}/{y}?format=png"
    url: "http://127.0.0.1:9/${TOKEN}/run/tiles/{z}/{x}/{y}" and https://other.org/fsh_ffffffffffffffff/run/tiles/1/0/0`;
  assert.deepEqual([...tileTokens(text)], [
    ["http://127.0.0.1:9", [TOKEN]],
    ["https://other.org", ["fsh_ffffffffffffffff"]],
  ]);
});

Deno.test("refuseLocalFiles passes a standalone page and refuses one that loads a local file", () => {
  const page = "<head><script>ok()</script></head>";
  assert.equal(refuseLocalFiles(page), page);
  assert.throws(
    () => refuseLocalFiles('<img src="file:///home/me/plot.png">'),
    /The page still loads file:\/\/\/home\/me\/plot\.png from this machine/,
  );
});
