// Shared by the rewriters' unit tests.
import { expect } from "vitest";
import { RewriteError } from "../errors.js";

/** The RewriteError that `action` throws; fails the test when it throws nothing or something else. */
export function refusal(action: () => unknown): RewriteError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(RewriteError);
    return error as RewriteError;
  }
  throw new Error("expected a RewriteError");
}
