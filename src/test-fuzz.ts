// Property-test parameters shared by the unit suites. CI runs them bounded;
// `npm run fuzz` runs them DCP_FUZZ_SCALE times longer. DCP_FC_SEED replays a
// failure (fast-check prints the seed when a property fails).
import type { Parameters } from "fast-check";

const scale = Math.max(1, Number(process.env["DCP_FUZZ_SCALE"] ?? 1) || 1);
const seed = process.env["DCP_FC_SEED"];

export function fuzzParams<T>(numRuns: number, extra: Parameters<T> = {}): Parameters<T> {
  return {
    ...extra,
    numRuns: numRuns * scale,
    ...(extra.interruptAfterTimeLimit !== undefined ? { interruptAfterTimeLimit: extra.interruptAfterTimeLimit * scale } : {}),
    ...(seed !== undefined && seed !== "" ? { seed: Number(seed) } : {}),
  };
}
