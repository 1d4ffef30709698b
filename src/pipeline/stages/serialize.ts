/**
 * serialize: turns the request back into bytes for the daemon. A request no
 * stage changed keeps its original head, byte for byte; a rewritten one gets
 * a new head whose body is framed by Content-Length (no Transfer-Encoding).
 */
import { serializeRequestHead } from "../../protocol/request-head.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

export const serializeStage: Stage = {
  name: "serialize",
  process(request: ProxyRequest): ProxyRequest {
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
    });
    return request;
  },
};
