// One request as exact bytes on a fresh connection (to the proxy or, for
// comparison, to the daemon), and its complete response. The proxy's own
// refusals are told apart from the daemon's answers by the
// X-Docker-Ci-Proxy-Error header the proxy puts on every error it makes.
import { RawConnection, type RawResponse } from "../raw-http.js";

export interface RawRequest {
  method?: string;
  /** Request target exactly as sent (path and query). */
  target: string;
  /** Header lines after Host, in order; Content-Length/Transfer-Encoding are added from `framing`. */
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: Buffer | string;
  /**
   * How the body is framed: Content-Length (default), or chunked and cut at
   * these offsets (an empty list: one chunk).
   */
  chunks?: readonly number[];
}

export interface RawAnswer extends RawResponse {
  /** The proxy's error code when the proxy itself refused the request, else undefined. */
  proxyError: string | undefined;
  /** The body as text. */
  text: string;
}

/** The bytes of `request` on the wire. */
export function requestBytes(request: RawRequest): Buffer {
  const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, "utf8");
  const lines = [`${request.method ?? "POST"} ${request.target} HTTP/1.1`, "Host: docker"];
  for (const [name, value] of request.headers ?? []) lines.push(`${name}: ${value}`);
  let framed: Buffer = Buffer.alloc(0);
  if (body !== undefined) {
    if (request.chunks === undefined) {
      lines.push(`Content-Length: ${body.length}`);
      framed = body;
    } else {
      lines.push("Transfer-Encoding: chunked");
      const cuts = [...new Set(request.chunks.filter((c) => c > 0 && c < body.length))].sort((a, b) => a - b);
      const parts: Buffer[] = [];
      let start = 0;
      for (const end of [...cuts, body.length]) {
        if (end > start) parts.push(Buffer.from(`${(end - start).toString(16)}\r\n`), body.subarray(start, end), Buffer.from("\r\n"));
        start = end;
      }
      parts.push(Buffer.from("0\r\n\r\n"));
      framed = Buffer.concat(parts);
    }
  }
  // The head is latin1 (bytes as given); a test that wants UTF-8 in the target percent-encodes it.
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), framed]);
}

/** Sends `request` on a new connection to `socketPath` and reads one whole response. */
export async function sendRaw(socketPath: string, request: RawRequest, timeoutMs = 30_000): Promise<RawAnswer> {
  const connection = await RawConnection.open(socketPath);
  try {
    connection.write(requestBytes(request));
    let response = await connection.readResponse({ timeoutMs });
    // `Expect: 100-continue`: the interim answer comes first.
    while (response.status >= 100 && response.status < 200) response = await connection.readResponse({ timeoutMs });
    return { ...response, proxyError: response.headers["x-docker-ci-proxy-error"], text: response.body.toString("utf8") };
  } finally {
    connection.close();
  }
}

/** A short description of a request for failure messages (the body cut at 600 characters). */
export function describeRequest(request: RawRequest): string {
  const body = request.body === undefined ? "" : Buffer.isBuffer(request.body) ? `<${request.body.length} bytes>` : request.body;
  const headers = (request.headers ?? []).map(([n, v]) => `${n}: ${v}`).join(" | ");
  const framing = request.chunks === undefined ? "content-length" : `chunked at ${JSON.stringify(request.chunks)}`;
  return `${request.method ?? "POST"} ${request.target} [${headers}] (${framing})\n${JSON.stringify(body.slice(0, 600))}`;
}
