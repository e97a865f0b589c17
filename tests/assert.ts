/**
 * Test assertions. Deno's std is not reachable from these machines, so tests
 * use Node's strict assert module, which Deno ships, under the names Deno
 * tests usually read with.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts that `cond` is truthy, narrowing its type. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Deep strict equality (Uint8Array, Map and Set compare by content). */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Deep strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Asserts that `fn` throws, optionally an instance of `cls` whose message includes `includes`. */
export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  cls?: new (...args: any[]) => Error,
  includes?: string,
): Error {
  try {
    fn();
  } catch (e) {
    if (cls && !(e instanceof cls)) {
      throw new Error(`expected ${cls.name}, got ${e instanceof Error ? e.name : typeof e}: ${e}`);
    }
    if (includes && !(e instanceof Error && e.message.includes(includes))) {
      throw new Error(`expected message to include ${JSON.stringify(includes)}, got: ${e}`);
    }
    return e as Error;
  }
  throw new Error("expected function to throw");
}

/** Async twin of `assertThrows`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  cls?: new (...args: any[]) => Error,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (cls && !(e instanceof cls)) {
      throw new Error(`expected ${cls.name}, got ${e instanceof Error ? e.name : typeof e}: ${e}`);
    }
    if (includes && !(e instanceof Error && e.message.includes(includes))) {
      throw new Error(`expected message to include ${JSON.stringify(includes)}, got: ${e}`);
    }
    return e as Error;
  }
  throw new Error("expected promise to reject");
}

/** Asserts that `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, msg?: string): void {
  if (!text.includes(part)) {
    throw new Error(msg ?? `expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`);
  }
}
