/**
 * Describes any value a UDF throws, not only Errors: `throw { code: 7 }` should read as that
 * object, not "[object Object]", and a value with no prototype (or a hostile `toString`) must not
 * make the description itself throw.
 *
 * @module
 */

/** A thrown value as a class name and a message. */
export interface ThrownDescription {
  /** "string", "number", "Object", the constructor's name, or "null-prototype object". */
  exceptionClass: string;
  /** The value, printed. */
  message: string;
}

const MAX_MESSAGE = 2000;

/** Describes a thrown non-Error value; never throws. */
export function describeThrown(value: unknown): ThrownDescription {
  if (typeof value === "string") return { exceptionClass: "string", message: clip(value) };
  if (value === null || typeof value !== "object" && typeof value !== "function") {
    return { exceptionClass: String(typeof value), message: clip(safeString(value)) };
  }
  let exceptionClass: string;
  try {
    const proto = Object.getPrototypeOf(value);
    exceptionClass = proto === null
      ? "null-prototype object"
      : typeof proto.constructor?.name === "string" && proto.constructor.name
      ? proto.constructor.name
      : "Object";
  } catch {
    exceptionClass = "Object";
  }
  let message: string;
  try {
    message = Deno.inspect(value, { colors: false, depth: 4, iterableLimit: 20 });
  } catch {
    message = "(a value that cannot be printed)";
  }
  return { exceptionClass, message: `threw a value that is not an Error: ${clip(message)}` };
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return "(a value that cannot be printed)";
  }
}

function clip(text: string): string {
  return text.length > MAX_MESSAGE
    ? `${text.slice(0, MAX_MESSAGE)}... (${text.length} characters)`
    : text;
}
