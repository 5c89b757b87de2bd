/**
 * Errors raised by the result formats: a stored or received value that is damaged, and a UDF
 * result of a type that cannot be sent.
 *
 * @module
 */

import { FusedError, ValidationError } from "../errors.ts";

/** Bytes that should hold an encoded value are truncated, damaged or not of the stated format. */
export class CorruptDataError extends FusedError {
  /** Creates an error that says which format was damaged and how. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CorruptDataError";
  }
}

/** A UDF returned a value that no result format can carry (a function, a Map, a BigInt...). */
export class UnsupportedResultError extends ValidationError {
  /** Creates an error that names the type found and lists what a UDF may return. */
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedResultError";
  }
}
