/**
 * serialize: turns the request back into bytes for the daemon.
 *
 * It writes what the inject stages decided (`request.injection`) into the
 * body or the query string: one parse and one print, whatever the number of
 * injections. A request no stage changed keeps its original head, byte for
 * byte; a rewritten one gets a new head whose body is framed by
 * Content-Length (no Transfer-Encoding).
 */
import { RewriteError } from "../../errors.js";
import { headerValues } from "../../protocol/http-head.js";
import { serializeRequestHead } from "../../protocol/request-head.js";
import {
  type Injected,
  rewriteBuildQuery,
  rewriteCommitQuery,
  rewriteContainerCreate,
  rewriteImportQuery,
  rewriteLabelsOnly,
  rewriteServiceSpec,
} from "../../rewrite/index.js";
import type { JsonBodyTarget, ProxyRequest, QueryTarget } from "../proxy-request.js";
import type { Stage } from "../stage.js";

const BODY_REWRITERS: Record<JsonBodyTarget, (body: Buffer, injected: Injected) => Buffer> = {
  container: rewriteContainerCreate,
  network: rewriteLabelsOnly,
  volume: rewriteLabelsOnly,
  secret: rewriteLabelsOnly,
  config: rewriteLabelsOnly,
  service: rewriteServiceSpec,
};

const QUERY_REWRITERS: Record<QueryTarget, (query: string, injected: Injected) => string> = {
  build: rewriteBuildQuery,
  import: rewriteImportQuery,
  commit: rewriteCommitQuery,
};

export const serializeStage: Stage = {
  name: "serialize",
  process(request: ProxyRequest): ProxyRequest {
    writeInjection(request);
    const { target, body, dropHeaders } = request.rewrite;
    // A buffered body that no stage replaced is sent as buffered (dechunked):
    // its stream has been read, so it can only go out from memory.
    const outgoingBody = body ?? request.bufferedBody;
    if (target === undefined && outgoingBody === undefined && dropHeaders === undefined) return request;
    if (outgoingBody !== undefined) request.rewrite.body = outgoingBody;
    request.outgoingHead = serializeRequestHead(request.head, {
      ...(target !== undefined ? { target } : {}),
      ...(outgoingBody !== undefined ? { bodyLength: outgoingBody.length } : {}),
      ...(dropHeaders !== undefined ? { dropHeaders } : {}),
      ...(needsJsonContentType(request) ? { addHeaders: [["Content-Type", "application/json"]] as const } : {}),
    });
    return request;
  },
};

/** A JSON body the proxy supplied (the client sent none) must be declared, or the daemon refuses it. */
function needsJsonContentType(request: ProxyRequest): boolean {
  return request.plan?.kind === "json-body" && request.rewrite.body !== undefined && headerValues(request.head.fields, "content-type").length === 0;
}

function writeInjection(request: ProxyRequest): void {
  const { labels, cgroupParent } = request.injection;
  if (labels === undefined && cgroupParent === undefined) return;
  const injected: Injected = { labels: labels ?? new Map(), ...(cgroupParent !== undefined ? { cgroupParent } : {}) };
  const plan = request.plan;
  if (plan?.kind === "json-body") {
    if (request.bufferedBody === undefined) {
      // Fail closed: a body that was not read cannot be shown to be labelled.
      throw new RewriteError("DCP_INTERNAL", "request body was not buffered for rewriting", 500);
    }
    request.rewrite.body = BODY_REWRITERS[plan.target](request.rewrite.body ?? request.bufferedBody, injected);
  } else if (plan?.kind === "query") {
    const target = request.rewrite.target ?? request.head.target;
    const queryStart = target.indexOf("?");
    const path = queryStart === -1 ? target : target.slice(0, queryStart);
    const query = queryStart === -1 ? "" : target.slice(queryStart + 1);
    request.rewrite.target = `${path}?${QUERY_REWRITERS[plan.target](query, injected)}`;
  }
}
