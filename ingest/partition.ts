/**
 * Geospatial partitioning (Fused's ingest algorithm): rows are grouped into files, and each
 * file into chunks, by recursive binary splits of their centroids until every group holds at
 * most a maximum of the chosen measure (rows, area, length or coordinates).
 *
 * A group that is over its maximum is cut in two along one axis at the mean (or median) of its
 * centroids. The axis alternates between x and y (as in a k-d tree) except when the group's
 * centroid box is wider than `maxWidthRatio` times its height (then x is cut) or taller than
 * `maxHeightRatio` times its width (then y is cut), which keeps groups from growing into long
 * slivers. With `forceUtm`, a group whose centroids span more than one UTM zone is first cut at
 * a zone boundary. A group whose centroids are all identical is cut by row count when
 * `splitIdenticalCentroids` is on, else kept whole (it may then exceed the maximum, as may a
 * single row larger than the maximum).
 *
 * Everything works on typed arrays: one index permutation is reordered in place (partition
 * around the mean, quickselect for the median), so a split costs O(rows in the group) and the
 * whole run O(n log n). The centroids (and weights) are copied once and moved together with the
 * permutation, so every pass reads them in order instead of gathering `x[order[k]]` from all over
 * memory: the gathers were cache misses that made up most of the time (0.85 s → ~0.2 s for the
 * ingest bench's 1 M points).
 *
 * @module
 */

import { ValidationError } from "../client/errors.ts";

/** How a group is cut: at the mean or the median of its centroids. */
export type SplitMethod = "mean" | "median";

/** Inputs of {@linkcode partition}: centroids and (optionally) the measure of each row. */
export interface PartitionInput {
  /** Centroid x (longitude) of each row. */
  x: Float64Array;
  /** Centroid y (latitude) of each row. */
  y: Float64Array;
  /** Measure of each row (area, length, coordinates); omitted means 1 per row (rows). */
  weight?: Float64Array;
}

/** Options of {@linkcode partition}. */
export interface PartitionOptions {
  /** Largest total measure of one file. */
  maxPerFile: number;
  /** Largest total measure of one chunk. */
  maxPerChunk: number;
  /** Cut x when the group is wider than this many times its height (default 2). */
  maxWidthRatio?: number;
  /** Cut y when the group is taller than this many times its width (default 2). */
  maxHeightRatio?: number;
  /** "mean" (default) or "median". */
  splitMethod?: SplitMethod;
  /** Cut groups of identical centroids by row count (default true). */
  splitIdenticalCentroids?: boolean;
  /** Keep every file's ("file") or chunk's ("chunk") centroids in one UTM zone; null: no. */
  forceUtm?: "file" | "chunk" | null;
}

/** The result of {@linkcode partition}: a row order and the file and chunk boundaries in it. */
export interface Partitioning {
  /** Row indices in output order: file 0's chunk 0 first. */
  order: Uint32Array;
  /** `files[f]` = `[start, end)` of file f in `order`. */
  files: [number, number][];
  /** `chunks[f][c]` = `[start, end)` of chunk c of file f in `order`. */
  chunks: [number, number][][];
  /**
   * The input's x and y at each position of `order` (moved with it while partitioning), so a
   * caller reads the centroids of the output in order; absent where no centroids were used.
   */
  centroids?: { x: Float64Array; y: Float64Array };
}

/** UTM zone index (0-59) of a longitude; values beyond ±180 fall in the edge zones. */
export function utmZone(lon: number): number {
  return Math.min(59, Math.max(0, Math.floor((lon + 180) / 6)));
}

/**
 * Partitions rows into files and chunks by their centroids.
 *
 * @example
 * ```ts
 * import { partition } from "./partition.ts";
 * const x = Float64Array.from([0, 1, 10, 11]);
 * const y = Float64Array.from([0, 0, 0, 0]);
 * const p = partition({ x, y }, { maxPerFile: 2, maxPerChunk: 1, forceUtm: null });
 * if (p.files.length !== 2 || p.chunks[0].length !== 2) throw new Error("unexpected");
 * ```
 */
export function partition(input: PartitionInput, options: PartitionOptions): Partitioning {
  const n = input.x.length;
  if (input.y.length !== n || (input.weight && input.weight.length !== n)) {
    throw new ValidationError(
      `Partition input arrays differ in length (x ${n}, y ${input.y.length}${
        input.weight ? `, weight ${input.weight.length}` : ""
      }): give one value per row in each`,
    );
  }
  for (const key of ["maxPerFile", "maxPerChunk"] as const) {
    const v = options[key];
    if (!(typeof v === "number" && v > 0)) {
      throw new ValidationError(`${key} must be a number above 0, got ${v}`);
    }
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const splitter = new Splitter(input, order, options);
  const files = splitter.split(0, n, options.maxPerFile, options.forceUtm === "file");
  const chunkUtm = options.forceUtm === "file" || options.forceUtm === "chunk";
  const chunks = files.map(([lo, hi]) => splitter.split(lo, hi, options.maxPerChunk, chunkUtm));
  return { order, files, chunks, centroids: splitter.centroids };
}

class Splitter {
  /** Centroid x of the row at each position of the permutation (moved with it). */
  readonly #x: Float64Array;
  /** Centroid y, likewise. */
  readonly #y: Float64Array;
  /** Measure, likewise; undefined for rows. */
  readonly #w: Float64Array | undefined;
  readonly #order: Uint32Array;
  readonly #widthRatio: number;
  readonly #heightRatio: number;
  readonly #median: boolean;
  readonly #identical: boolean;

  /** `order` must be the identity permutation (the copies start in row order). */
  constructor(input: PartitionInput, order: Uint32Array, options: PartitionOptions) {
    this.#x = input.x.slice();
    this.#y = input.y.slice();
    this.#w = input.weight?.slice();
    this.#order = order;
    this.#widthRatio = options.maxWidthRatio ?? 2;
    this.#heightRatio = options.maxHeightRatio ?? 2;
    this.#median = (options.splitMethod ?? "mean") === "median";
    this.#identical = options.splitIdenticalCentroids ?? true;
    if (!(this.#widthRatio > 0) || !(this.#heightRatio > 0)) {
      throw new ValidationError(
        `partitioningMaxWidthRatio and partitioningMaxHeightRatio must be above 0, got ${this.#widthRatio} and ${this.#heightRatio}`,
      );
    }
    if (!["mean", "median"].includes(options.splitMethod ?? "mean")) {
      throw new ValidationError(
        `Unknown partitioningSplitMethod "${options.splitMethod}": use "mean" or "median"`,
      );
    }
  }

  /** The centroids at each position of the permutation. */
  get centroids(): { x: Float64Array; y: Float64Array } {
    return { x: this.#x, y: this.#y };
  }

  /** Cuts `order[lo, hi)` into groups of at most `max`; returns them left to right. */
  split(lo: number, hi: number, max: number, utm: boolean): [number, number][] {
    const out: [number, number][] = [];
    // Explicit stack (right pushed first so groups come out left to right): mean cuts of skewed
    // data can nest deeper than the JS call stack allows.
    const stack: number[] = [lo, hi, 0];
    while (stack.length > 0) {
      const axisHint = stack.pop()!;
      const b = stack.pop()!;
      const a = stack.pop()!;
      const cut = this.#cut(a, b, max, utm, axisHint);
      if (cut === null) {
        if (b > a) out.push([a, b]);
        continue;
      }
      const [mid, axis] = cut;
      stack.push(mid, b, 1 - axis, a, mid, 1 - axis);
    }
    return out;
  }

  /** Where to cut a group, as [position, axis], or null when it may stay whole. */
  #cut(a: number, b: number, max: number, utm: boolean, axisHint: number): [number, number] | null {
    const x = this.#x, y = this.#y, w = this.#w;
    let total = 0;
    let minx = Infinity, miny = Infinity, maxx = -Infinity, maxy = -Infinity;
    let sx = 0, sy = 0;
    for (let k = a; k < b; k++) {
      const xi = x[k], yi = y[k];
      total += w ? w[k] : 1;
      sx += xi;
      sy += yi;
      if (xi < minx) minx = xi;
      if (xi > maxx) maxx = xi;
      if (yi < miny) miny = yi;
      if (yi > maxy) maxy = yi;
    }
    const count = b - a;
    if (utm && count > 1 && utmZone(minx) !== utmZone(maxx)) {
      // Cut at the zone boundary nearest the mean that lies inside (minx, maxx].
      const mean = sx / count;
      let edge = -180 + 6 * Math.round((mean + 180) / 6);
      const first = -180 + 6 * (utmZone(minx) + 1);
      const last = -180 + 6 * utmZone(maxx);
      edge = Math.min(Math.max(edge, first), last);
      return [this.#partitionBelow(a, b, x, edge), 0];
    }
    if (total <= max || count <= 1) return null;
    const width = maxx - minx;
    const height = maxy - miny;
    if (width === 0 && height === 0) {
      return this.#identical ? [this.#rowCut(a, b, total), axisHint] : null;
    }
    let axis = axisHint;
    if (width > this.#widthRatio * height) axis = 0;
    else if (height > this.#heightRatio * width) axis = 1;
    else if ((axis === 0 ? width : height) === 0) axis = 1 - axis;
    const key = axis === 0 ? x : y;
    if (this.#median) return [this.#select(a, b, key, a + (count >> 1)), axis];
    const mean = (axis === 0 ? sx : sy) / count;
    let mid = this.#partitionBelow(a, b, key, mean);
    // Rounding can put the mean on the minimum or maximum: cut next to that extreme instead.
    if (mid === a) mid = this.#partitionAtMost(a, b, key, axis === 0 ? minx : miny);
    else if (mid === b) mid = this.#partitionBelow(a, b, key, axis === 0 ? maxx : maxy);
    return [mid, axis];
  }

  /** Cuts a group of identical centroids where the running measure passes half its total. */
  #rowCut(a: number, b: number, total: number): number {
    const w = this.#w;
    if (!w) return a + ((b - a) >> 1);
    let run = 0;
    for (let k = a; k < b - 1; k++) {
      run += w[k];
      if (run >= total / 2) return k + 1;
    }
    return b - 1;
  }

  /** Swaps positions i and j of the permutation and of the values moved with it. */
  #swap(i: number, j: number): void {
    const order = this.#order, x = this.#x, y = this.#y, w = this.#w;
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
    const tx = x[i];
    x[i] = x[j];
    x[j] = tx;
    const ty = y[i];
    y[i] = y[j];
    y[j] = ty;
    if (w) {
      const tw = w[i];
      w[i] = w[j];
      w[j] = tw;
    }
  }

  /** Moves rows with key < value before rows with key >= value; returns the first of the latter. */
  #partitionBelow(a: number, b: number, key: Float64Array, value: number): number {
    let i = a;
    let j = b - 1;
    while (i <= j) {
      if (key[i] < value) i++;
      else this.#swap(i, j--);
    }
    return i;
  }

  /** Moves rows with key <= value first; returns the first row after them. */
  #partitionAtMost(a: number, b: number, key: Float64Array, value: number): number {
    let i = a;
    let j = b - 1;
    while (i <= j) {
      if (key[i] <= value) i++;
      else this.#swap(i, j--);
    }
    return i;
  }

  /** Quickselect: puts the k-th smallest key at k, smaller before, larger after; returns k. */
  #select(a: number, b: number, key: Float64Array, k: number): number {
    let lo = a;
    let hi = b - 1;
    while (hi > lo) {
      // Median of three as pivot keeps sorted input linear.
      const m = (lo + hi) >> 1;
      const p = median3(key[lo], key[m], key[hi]);
      let i = lo;
      let j = hi;
      while (i <= j) {
        while (key[i] < p) i++;
        while (key[j] > p) j--;
        if (i <= j) this.#swap(i++, j--);
      }
      if (k <= j) hi = j;
      else if (k >= i) lo = i;
      else break;
    }
    return k;
  }
}

function median3(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
}
