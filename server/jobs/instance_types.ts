/**
 * Batch instance types of this service and the limits each maps to. A job runs in its own
 * `deno run` process; its instance type decides the V8 heap of that process (and of the Worker
 * that runs the UDF), its wall-clock limit, and how many jobs of the type run at once (the rest
 * wait, pending, in the order they were started).
 *
 * | type   | V8 heap | wall clock | concurrent jobs |
 * |--------|---------|------------|-----------------|
 * | small  | 512 MB  | 1 h        | 4               |
 * | medium | 2 GB    | 4 h        | 2               |
 * | large  | 8 GB    | 12 h       | 1               |
 *
 * Fused's cloud instance names (`m5.large`, `r5.4xlarge`, ...) are refused with the list above:
 * they name machines of Fused's cloud, and this service runs jobs on this machine.
 *
 * @module
 */
import { ValidationError } from "../../client/errors.ts";

/** The limits of one instance type. */
export interface InstanceLimits {
  /** V8 old-space limit of the job's process, in megabytes (`--max-old-space-size`). */
  heapMb: number;
  /** Longest run, in milliseconds; the job is stopped and failed after that. */
  wallClockMs: number;
  /** Most jobs of this type running at once. */
  slots: number;
}

/** The default table of instance types. */
export const DEFAULT_INSTANCE_TYPES: Readonly<Record<string, InstanceLimits>> = Object.freeze({
  small: { heapMb: 512, wallClockMs: 3_600_000, slots: 4 },
  medium: { heapMb: 2048, wallClockMs: 4 * 3_600_000, slots: 2 },
  large: { heapMb: 8192, wallClockMs: 12 * 3_600_000, slots: 1 },
});

/** The instance type a job gets when its request names none. */
export const DEFAULT_INSTANCE_TYPE = "small";

/**
 * The limits of an instance type; throws a ValidationError listing the valid types for an
 * unknown one.
 *
 * @example
 * ```ts
 * import { DEFAULT_INSTANCE_TYPES, instanceLimits } from "./instance_types.ts";
 * console.log(instanceLimits("large", DEFAULT_INSTANCE_TYPES).heapMb); // 8192
 * ```
 */
export function instanceLimits(
  name: string,
  table: Readonly<Record<string, InstanceLimits>>,
): InstanceLimits {
  if (Object.hasOwn(table, name)) return table[name];
  const cloud = /^(m5|r5|t3)\.|^c2-standard-|^m3-ultramem-/.test(name)
    ? " (that name is a machine of Fused's cloud; this service runs jobs on this machine)"
    : "";
  throw new ValidationError(
    `Unknown instance type "${name}"${cloud}: use one of ${
      Object.keys(table).map((t) => `"${t}"`).join(", ")
    }`,
  );
}

/** Formats a duration in milliseconds for log lines and errors ("1 h", "90 s"). */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 100) / 10} s`;
}
