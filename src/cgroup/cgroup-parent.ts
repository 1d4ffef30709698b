/**
 * What the user asked for (a setting) and what startup found (a resolution).
 *
 * The two are kept apart because the answer is found ONCE, at startup, and
 * then reused for every request: the container the proxy runs in cannot
 * change its cgroup parent while it runs, and asking the daemon per request
 * would add a round trip to every `docker run`.
 */

/** `--cgroupparent` (detect) / `--cgroup-parent-value <path>` (explicit) / neither (off). */
export type CgroupParentSetting =
  | { readonly mode: "off" }
  | { readonly mode: "detect" }
  | { readonly mode: "explicit"; readonly value: string };

/**
 * The parent every created container gets, or why there is none. An
 * unavailable parent is not a startup failure: the proxy keeps serving
 * everything else and refuses only what it cannot place (fail closed).
 */
export type CgroupParentResolution =
  | {
      readonly available: true;
      readonly parent: string;
      /** How it was found, for logs: "explicit", or "container <id> found by <method>". */
      readonly origin: string;
    }
  | { readonly available: false; readonly reason: string };

export function availableParent(parent: string, origin: string): CgroupParentResolution {
  return { available: true, parent, origin };
}

export function unavailableParent(reason: string): CgroupParentResolution {
  return { available: false, reason };
}
