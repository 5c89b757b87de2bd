import assert from "node:assert/strict";
import { filesToMimeBundle, isFileListing } from "./files.ts";

const LISTING = [
  {
    url: "fd://bucket/data/b.parquet",
    size: 1536,
    last_modified: "2024-05-01T10:00:00Z",
    is_directory: false,
  },
  { url: "fd://bucket/data/sub/", size: 0, is_directory: true },
  { url: "fd://bucket/data/<a>.csv", size: 10, is_directory: false },
];

Deno.test("a file listing shows names, sizes and times, folders first", () => {
  const b = filesToMimeBundle(LISTING);
  const lines = String(b.data["text/plain"]).split("\n");
  assert.match(lines[0], /^sub\//);
  assert.match(lines.join("\n"), /b\.parquet\s+1\.5 KB\s+2024-05-01T10:00:00Z/);
  assert.match(lines.at(-1)!, /3 entries, 1\.5 KB/);
  const html = String(b.data["text/html"]);
  assert.match(html, /&lt;a&gt;\.csv/);
  assert.doesNotMatch(html, /<a>\.csv/);
});

Deno.test("long listings are cut with a count of the rest", () => {
  const many = Array.from({ length: 20 }, (_, i) => ({ url: `fd://b/f${i}`, size: i }));
  assert.match(String(filesToMimeBundle(many, { maxEntries: 5 }).data["text/plain"]), /… 15 more/);
});

Deno.test("file listings are told apart from other arrays", () => {
  assert.equal(isFileListing(LISTING), true);
  assert.equal(isFileListing([{ url: "x" }]), false);
  assert.equal(isFileListing([]), false);
  assert.equal(isFileListing([1, 2]), false);
});
