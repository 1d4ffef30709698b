/**
 * The path dockerd routes on, computed the way it does.
 *
 * dockerd's router matches the percent-DECODED path (`/%63ontainers/create`
 * and `/containers%2Fcreate` both create a container), under an optional
 * `/v{version:[0-9.]+}` prefix. Unclean paths (`//`, `/./`, `/../`) are
 * redirected by the daemon; we classify their cleaned form anyway, so that a
 * daemon that one day stops redirecting still cannot be reached unrewritten.
 */
import { RequestRefusedError } from "../errors.js";

export interface DaemonPath {
  /** Decoded, cleaned path without the version prefix, e.g. "/containers/create". */
  readonly route: string;
  /** The API version prefix as sent ("1.41"), if any. */
  readonly version: string | undefined;
  /** The raw query string after "?" (no "?"), "" when absent. */
  readonly rawQuery: string;
}

const VERSION_PREFIX = /^\/v([0-9.]+)(\/.*)$/;

export function daemonPath(target: string): DaemonPath {
  const queryStart = target.indexOf("?");
  const rawPath = queryStart === -1 ? target : target.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? "" : target.slice(queryStart + 1);
  const cleaned = cleanPath(percentDecode(rawPath));
  const versioned = VERSION_PREFIX.exec(cleaned);
  if (versioned) return { route: versioned[2]!, version: versioned[1]!, rawQuery };
  return { route: cleaned, version: undefined, rawQuery };
}

/** Go's url.PathUnescape: every "%" must start a two-digit hex escape, else the request is invalid. */
export function percentDecode(text: string): string {
  if (!text.includes("%")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new RequestRefusedError("DCP_BAD_TARGET", `invalid URL escape ${JSON.stringify(text.slice(i, i + 3))}`);
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(code & 0xff);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Go's path.Clean: resolves ".", ".." and repeated slashes; no trailing slash. */
export function cleanPath(path: string): string {
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return `/${out.join("/")}`;
}
