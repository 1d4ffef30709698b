/**
 * A query string read the way Go's url.ParseQuery reads it, keeping each
 * pair's raw text so untouched pairs can be forwarded byte for byte.
 *
 * Go splits on '&', skips empty pairs, cuts each pair at its first '=', and
 * unescapes key and value ('+' is a space, '%XX' a byte). Pairs Go would drop
 * silently are refused instead, because then our view and the daemon's differ:
 * - a pair containing ';' (Go before 1.17 split on it, later Go drops the pair);
 * - a pair with a malformed %-escape.
 * Characters outside printable ASCII are refused too: a request target is
 * ASCII, and anything else depends on how the bytes were turned into a string.
 */
import { RewriteError } from "../errors.js";
import { quoteForMessage } from "./message-text.js";

export interface QueryPair {
  /** The pair exactly as the client sent it. */
  readonly raw: string;
  /** Decoded key and value, or undefined for an empty pair (Go skips those). */
  readonly decoded?: {
    /** The decoded key bytes, compared exactly (form keys are case-sensitive). */
    readonly key: Buffer;
    readonly value: Buffer;
  };
}

export function parseQueryPairs(query: string): QueryPair[] {
  if (query === "") return [];
  return query.split("&").map((raw): QueryPair => {
    if (raw === "") return { raw };
    if (raw.includes(";")) {
      throw badQuery(`query parameter ${quoteForMessage(raw)} contains ';', which daemons read differently`);
    }
    const equals = raw.indexOf("=");
    const rawKey = equals < 0 ? raw : raw.slice(0, equals);
    const rawValue = equals < 0 ? "" : raw.slice(equals + 1);
    return { raw, decoded: { key: queryUnescape(rawKey, raw), value: queryUnescape(rawValue, raw) } };
  });
}

/** True when the pair's decoded key is exactly `name`. */
export function pairHasKey(pair: QueryPair, name: string): boolean {
  return pair.decoded !== undefined && pair.decoded.key.equals(Buffer.from(name, "utf8"));
}

/** What Request.FormValue returns: the first value for `name`, or undefined when there is none. */
export function firstQueryValue(pairs: readonly QueryPair[], name: string): Buffer | undefined {
  return pairs.find((pair) => pairHasKey(pair, name))?.decoded?.value;
}

/** Every value for `name`, in order (what `r.Form[name]` holds). */
export function allQueryValues(pairs: readonly QueryPair[], name: string): Buffer[] {
  return pairs.filter((pair) => pairHasKey(pair, name)).flatMap((pair) => (pair.decoded ? [pair.decoded.value] : []));
}

/** Joins raw pairs back into a query string. */
export function joinQueryPairs(rawPairs: readonly string[]): string {
  return rawPairs.join("&");
}

/** One `key=value` pair, both percent-encoded. */
export function encodeQueryPair(key: string, value: string): string {
  return `${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
}

/** Go's url.QueryUnescape, into bytes; refuses what Go would reject. */
function queryUnescape(text: string, pair: string): Buffer {
  const bytes = Buffer.alloc(text.length);
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) {
      throw badQuery(`query parameter ${quoteForMessage(pair)} contains a character that must be percent-encoded`);
    }
    if (code === 0x25 /* % */) {
      const high = hexValue(text.charCodeAt(i + 1));
      const low = hexValue(text.charCodeAt(i + 2));
      if (high < 0 || low < 0) {
        throw badQuery(`query parameter ${quoteForMessage(pair)} has an invalid %-escape`);
      }
      bytes[length++] = high * 16 + low;
      i += 2;
    } else if (code === 0x2b /* + */) {
      bytes[length++] = 0x20;
    } else {
      bytes[length++] = code;
    }
  }
  return bytes.subarray(0, length);
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1; // also for NaN past the end
}

function badQuery(message: string): RewriteError {
  return new RewriteError("DCP_BAD_QUERY", message);
}
