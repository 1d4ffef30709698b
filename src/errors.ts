/**
 * Every error the proxy produces on purpose carries a stable `code` (matched by
 * tests and callers instead of message text) and the HTTP status the client gets.
 * The message is what the docker CLI prints after "Error response from daemon: ",
 * so it is written for the person who ran the command.
 *
 * Refusals are never 404: the CLI and docker-py read a 404 on create as
 * "no such image", pull, and retry.
 */
export type ProxyErrorCode =
  // Framing and parsing of the client's HTTP/1.1 request.
  | "DCP_BAD_REQUEST"
  | "DCP_HEADERS_TOO_LARGE"
  | "DCP_AMBIGUOUS_FRAMING"
  | "DCP_UNSUPPORTED_TRANSFER_ENCODING"
  | "DCP_BAD_CHUNK"
  | "DCP_BAD_TARGET"
  | "DCP_CLIENT_GONE"
  // Bodies and queries that must be rewritten.
  | "DCP_BODY_TOO_LARGE"
  | "DCP_PROXY_BUSY"
  | "DCP_BODY_TIMEOUT"
  | "DCP_INVALID_JSON"
  | "DCP_AMBIGUOUS_FIELD"
  | "DCP_INVALID_LABELS"
  | "DCP_BAD_CONTENT_TYPE"
  | "DCP_BAD_QUERY"
  | "DCP_HOST_CONFIG_ON_START"
  | "DCP_CANNOT_LABEL"
  | "DCP_BUILDKIT_REFUSED"
  // cgroup parent.
  | "DCP_CGROUP_PARENT_UNAVAILABLE"
  | "DCP_CGROUP_PARENT_NOT_APPLICABLE"
  // The daemon side.
  | "DCP_DAEMON_UNREACHABLE"
  | "DCP_DAEMON_PROTOCOL"
  | "DCP_VOLUME_NOT_CREATED"
  | "DCP_DAEMON_REFUSED"
  | "DCP_VOLUME_HELD"
  // Startup and configuration.
  | "DCP_LISTEN_SOCKET_IN_USE"
  | "DCP_BAD_OPTION"
  | "DCP_INTERNAL";

export class ProxyError extends Error {
  override readonly name: string = "ProxyError";
  constructor(
    readonly code: ProxyErrorCode,
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The client sent something the proxy cannot read with certainty (400). */
export class RequestRefusedError extends ProxyError {
  override readonly name = "RequestRefusedError";
  constructor(code: ProxyErrorCode, message: string, status = 400, options?: { cause?: unknown }) {
    super(code, status, message, options);
  }
}

/** A body or query on a rewritten route could not be rewritten with certainty (400/413). */
export class RewriteError extends ProxyError {
  override readonly name = "RewriteError";
  constructor(code: ProxyErrorCode, message: string, status = 400, options?: { cause?: unknown }) {
    super(code, status, message, options);
  }
}

/** The daemon socket could not be reached or broke the protocol (502). */
export class DaemonError extends ProxyError {
  override readonly name = "DaemonError";
  constructor(code: ProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, 502, message, options);
  }
}

/**
 * The daemon refused a call that the proxy made on a client's behalf (the
 * volumes created ahead of a container, the service looked up before a
 * rollback): the client gets the daemon's status and message unchanged,
 * which is what the daemon would have answered the client's own request,
 * 404 included.
 */
export class DaemonRefusalError extends ProxyError {
  override readonly name = "DaemonRefusalError";
}

/**
 * The proxy has no room for a request now (503, try again): expected under
 * load, a refusal like any other, not a failure of the proxy.
 */
export class ProxyBusyError extends ProxyError {
  override readonly name = "ProxyBusyError";
  constructor(message: string) {
    super("DCP_PROXY_BUSY", 503, message);
  }
}

/** Bad command-line or environment configuration (exit code 2). */
export class ConfigError extends ProxyError {
  override readonly name = "ConfigError";
  constructor(message: string, code: ProxyErrorCode = "DCP_BAD_OPTION") {
    super(code, 2, message);
  }
}

/** Any thrown value as a ProxyError; unknown failures become a 500 without leaking internals. */
export function asProxyError(error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  return new ProxyError("DCP_INTERNAL", 500, "internal proxy error", { cause: error });
}
