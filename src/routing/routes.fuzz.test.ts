// Property tests of the two places where the proxy and the daemon must agree:
// which route a target is (whatever its encoding), and where each pipelined
// request ends (whatever the TCP segmentation).
// DCP_FC_SEED=<n> replays a run (fast-check prints the seed on failure); see src/test-fuzz.ts.
import { PassThrough } from "node:stream";
import type { Socket } from "node:net";
import fc from "fast-check";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ChunkedScanner } from "../protocol/chunked.js";
import { findHeadEnd } from "../protocol/http-head.js";
import { ExchangeEnds } from "../pipeline/exchange-ends.js";
import type { ProxyRequest } from "../pipeline/proxy-request.js";
import { RequestReader } from "../sources/request-reader.js";
import { classifyRoute, type RouteKind } from "./routes.js";
import { fuzzParams } from "../test-fuzz.js";

const baseParams: fc.Parameters<unknown> = fuzzParams(300, { interruptAfterTimeLimit: 8_000 });

const CREATION_ROUTES: ReadonlyArray<readonly [string, RouteKind]> = [
  ["/containers/create", "container-create"],
  ["/build", "build"],
  ["/networks/create", "network-create"],
  ["/volumes/create", "volume-create"],
  ["/services/create", "service-create"],
  ["/services/svc1/update", "service-update"],
  ["/secrets/create", "secret-create"],
  ["/secrets/s1/update", "secret-update"],
  ["/configs/create", "config-create"],
  ["/configs/c1/update", "config-update"],
  ["/images/create", "image-create"],
  ["/commit", "commit"],
];

function percent(ch: string): string {
  return `%${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

/** One segment, possibly with case changes and percent-encoded characters. */
const segmentEncoding = (segment: string) =>
  fc
    .tuple(
      fc.array(fc.boolean(), { minLength: segment.length, maxLength: segment.length }),
      fc.array(fc.boolean(), { minLength: segment.length, maxLength: segment.length }),
      fc.boolean(),
    )
    .map(([upper, encode, upperHex]) =>
      [...segment]
        .map((ch, i) => {
          const c = upper[i] ? ch.toUpperCase() : ch;
          if (!encode[i]) return c;
          const escaped = percent(c);
          return upperHex ? escaped.toUpperCase() : escaped;
        })
        .join(""),
    );

/** A separator between segments: "/", "%2F", "//", "/./", "/x/../", … */
const separator = fc.constantFrom("/", "%2F", "%2f", "//", "/./", "/x/../", "/%2e/", "/abc/%2E%2E/", "///");

const versionPrefix = fc.oneof(
  fc.constant(""),
  fc.stringMatching(/^[0-9.]{1,8}$/).map((v) => `/v${v}`),
  fc.stringMatching(/^[0-9.]{1,6}$/).map((v) => `/%76${v}`),
);

const encodedCreation = fc
  .constantFrom(...CREATION_ROUTES)
  .chain(([path, kind]) => {
    const segments = path.slice(1).split("/");
    return fc
      .tuple(
        versionPrefix,
        fc.tuple(...segments.map(segmentEncoding)),
        fc.array(separator, { minLength: segments.length, maxLength: segments.length }),
        fc.constantFrom("", "?", "?name=a&x=%2F", "?fromSrc=-"),
        fc.boolean(),
      )
      .map(([prefix, encoded, seps, query, trailingSlash]) => {
        let target = prefix;
        encoded.forEach((segment, i) => {
          // The first separator follows the prefix: it must start with "/" (origin-form).
          const sep = i === 0 ? (seps[i]!.startsWith("%") ? "/" : seps[i]!) : seps[i]!;
          target += sep + segment;
        });
        if (trailingSlash) target += "/";
        return { target: target + query, kind };
      });
  });

describe("classifyRoute under random encodings of the creation routes", () => {
  it("still classifies each as the same creation route", () => {
    fc.assert(
      fc.property(encodedCreation, fc.constantFrom("POST", "post", "PUT", "Post"), ({ target, kind }, method) => {
        expect(classifyRoute(method, target, false).kind).toBe(kind);
      }),
      baseParams,
    );
  });
});

// ---------------------------------------------------------------------------
// Framing: random segmentation of a pipelined stream.

type Framed = { text: string; method: string; target: string; body: string; chunked: boolean };

const bodyText = fc.string({ unit: fc.constantFrom("a", "{", "}", "\r", "\n", "0", ":", " ", "\"", "P", "T"), maxLength: 40 });

const framedRequest: fc.Arbitrary<Framed> = fc
  .tuple(
    fc.constantFrom("GET", "POST", "PUT", "DELETE"),
    fc.constantFrom("/_ping", "/containers/json", "/containers/abc/start", "/v1.41/volumes/x", "/info?x=1"),
    fc.oneof(fc.constant<"none">("none"), fc.constant<"length">("length"), fc.constant<"chunked">("chunked")),
    bodyText,
    fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 4 }),
  )
  .map(([method, target, kind, body, chunkSizes]) => {
    let head = `${method} ${target} HTTP/1.1\r\nHost: d\r\nX-Pad: ${"p".repeat(body.length % 7)}\r\n`;
    if (kind === "none") return { text: `${head}\r\n`, method, target, body: "", chunked: false };
    if (kind === "length") {
      head += `Content-Length: ${Buffer.byteLength(body, "latin1")}\r\n\r\n`;
      return { text: head + body, method, target, body, chunked: false };
    }
    head += "Transfer-Encoding: chunked\r\n\r\n";
    let wire = "";
    let rest = body;
    let i = 0;
    while (rest.length > 0) {
      const n = Math.min(rest.length, chunkSizes[i++ % Math.max(1, chunkSizes.length)] ?? rest.length);
      wire += `${n.toString(16)};ext=1\r\n${rest.slice(0, n)}\r\n`;
      rest = rest.slice(n);
    }
    wire += i % 2 === 0 ? "0\r\n\r\n" : "0\r\nX-Trailer: t\r\n\r\n";
    return { text: head + wire, method, target, body: wire, chunked: true };
  });

/** Splits `bytes` at the given (sorted, deduplicated) cut points. */
function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) parts.push(bytes.subarray(last, p));
    last = Math.max(last, p);
  }
  if (last < bytes.length) parts.push(bytes.subarray(last));
  return parts;
}

interface Parsed {
  method: string;
  target: string;
  head: string;
  body: string;
  refused?: string;
}

/** Feeds `parts` into a RequestReader over a fake socket and collects what it parsed. */
async function readAll(parts: Buffer[]): Promise<Parsed[]> {
  const socket = new PassThrough();
  const reader = new RequestReader(socket as unknown as Socket, {
    connectionId: 1,
    log: pino({ level: "silent" }),
    maxHeaderBytes: 256 * 1024,
    sendContinue: () => {},
    exchangeEnds: new ExchangeEnds(),
  });
  const results: Array<Promise<Parsed>> = [];
  const finished = new Promise<void>((resolve, reject) => {
    reader.requests$.subscribe({
      next: (request: ProxyRequest) => {
        const entry: Parsed = {
          method: request.head.method,
          target: request.head.target,
          head: request.head.raw.toString("latin1"),
          body: "",
        };
        if (request.refusal) entry.refused = request.refusal.code;
        const body = request.body;
        if (!body) {
          results.push(Promise.resolve(entry));
          reader.release(request);
          return;
        }
        results.push(
          new Promise<Parsed>((res, rej) => {
            const chunks: Buffer[] = [];
            body.on("data", (c: Buffer) => chunks.push(c));
            body.on("end", () => res({ ...entry, body: Buffer.concat(chunks).toString("latin1") }));
            body.on("error", rej);
          }),
        );
        // Released at once, as the sink does after writing the head.
        reader.release(request);
      },
      error: reject,
      complete: resolve,
    });
  });
  for (const part of parts) {
    socket.write(part);
    // Let the reader see each part as a separate 'data' event.
    await new Promise((r) => setImmediate(r));
  }
  socket.end();
  await finished;
  return Promise.all(results);
}

describe("RequestReader under random segmentation of a pipelined stream", () => {
  it("parses the same requests, heads and bodies whatever the split", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(framedRequest, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        async (requests, cuts) => {
          const stream = Buffer.from(requests.map((r) => r.text).join(""), "latin1");
          const whole = await readAll([stream]);
          const split = await readAll(splitAt(stream, cuts));
          expect(whole.map((p) => p.refused)).toEqual(requests.map(() => undefined));
          expect(whole.map((p) => [p.method, p.target, p.body])).toEqual(requests.map((r) => [r.method, r.target, r.body]));
          expect(split).toEqual(whole);
        },
      ),
      fuzzParams(150, { interruptAfterTimeLimit: 8_000 }),
    );
  });

  it("refuses a smuggled second framing identically whatever the split", async () => {
    // CL.TE: the refusal must not depend on where the TCP segments fall.
    const attack = Buffer.from(
      "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n" +
        "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
        "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\n{}",
      "latin1",
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 20 }), async (cuts) => {
        const parsed = await readAll(splitAt(attack, cuts));
        expect(parsed.map((p) => p.refused ?? p.target)).toEqual(["/_ping", "DCP_AMBIGUOUS_FRAMING"]);
      }),
      fuzzParams(100, { interruptAfterTimeLimit: 8_000 }),
    );
  });
});

describe("findHeadEnd and ChunkedScanner under random splits", () => {
  it("findHeadEnd finds the same end however much of the buffer has arrived", () => {
    fc.assert(
      fc.property(framedRequest, fc.nat(), (request, cut) => {
        const bytes = Buffer.from(request.text, "latin1");
        const end = findHeadEnd(bytes);
        expect(end).toBe(bytes.indexOf("\r\n\r\n") + 4);
        const prefix = bytes.subarray(0, cut % (bytes.length + 1));
        const partial = findHeadEnd(prefix);
        expect(partial === -1 || partial === end).toBe(true);
        if (prefix.length >= end) expect(partial).toBe(end);
      }),
      baseParams,
    );
  });

  it("ChunkedScanner stops at the same byte for every split", () => {
    const chunkedRequest = framedRequest.filter((r) => r.chunked);
    fc.assert(
      fc.property(chunkedRequest, fc.array(fc.nat(), { maxLength: 20 }), fc.stringMatching(/^[A-Z /]{0,20}$/), (request, cuts, trailer) => {
        const wire = Buffer.from(request.body + trailer, "latin1");
        const expected = Buffer.byteLength(request.body, "latin1");
        const scanner = new ChunkedScanner();
        let consumed = 0;
        for (const part of splitAt(wire, cuts)) {
          if (scanner.done) break;
          const taken = scanner.scan(part);
          consumed += taken;
          if (!scanner.done) expect(taken).toBe(part.length);
        }
        expect(scanner.done).toBe(true);
        expect(consumed).toBe(expected);
      }),
      baseParams,
    );
  });
});
