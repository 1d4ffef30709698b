/**
 * The value that flows through the request pipeline: one per HTTP request.
 *
 * The head is parsed; the body stays a Node stream (`body`), because RxJS has
 * no backpressure and a build context can be gigabytes. Stages that must see
 * the body (to rewrite JSON) buffer it into `bufferedBody` under a limit.
 */
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { ProxyError } from "../errors.js";
import type { RequestHead } from "../protocol/request-head.js";
import type { Route } from "../routing/routes.js";
import type { ExchangeEnds } from "./exchange-ends.js";

/**
 * How a request is rewritten: not at all, in its JSON body, or in its query
 * string. `target` names the resource kind for messages and logs.
 */
export type RewritePlan =
  | { readonly kind: "passthrough" }
  | { readonly kind: "json-body"; readonly target: JsonBodyTarget }
  | { readonly kind: "query"; readonly target: QueryTarget };

export type JsonBodyTarget = "container" | "network" | "volume" | "service" | "secret" | "config";
export type QueryTarget = "build" | "import" | "commit";

export interface ProxyRequest {
  /** Sequence number within its connection, from 1. */
  readonly seq: number;
  readonly connectionId: number;
  readonly head: RequestHead;
  /** The raw body bytes as framed on the wire (chunk framing included); null when there is none. */
  readonly body: Readable | null;
  readonly receivedAt: number;
  readonly log: Logger;
  /** Which API call this is, as the daemon will route it (set when the head is parsed). */
  route?: Route;
  /** What must be rewritten (set by the classify stage). */
  plan?: RewritePlan;
  /** Tells a client that sent `Expect: 100-continue` to go on, in response order. */
  readonly sendContinue: () => void;
  /**
   * The whole body content (chunk framing removed), once a stage has
   * buffered it. The sink lets go of it (and of `rewrite.body`) once it has
   * written it to the daemon.
   */
  bufferedBody?: Buffer;
  /**
   * What the inject stages decided to write into the request; the serialize
   * stage writes it (one parse and one print of the body, whatever the number
   * of injections).
   */
  injection: {
    labels?: ReadonlyMap<string, string>;
    cgroupParent?: string;
  };
  /** Changes that the serialize stage applies to the head. */
  rewrite: {
    target?: string;
    body?: Buffer;
    /** Lower-case header names to leave out (e.g. "expect" once the proxy answered it). */
    dropHeaders?: Set<string>;
  };
  /** The connection cannot carry another request after this one (its bytes could not be framed). */
  readonly unframeable?: boolean;
  /** Set by a stage that refuses the request: the client gets this error, the daemon nothing. */
  refusal?: ProxyError;
  /** The bytes to send upstream in place of the head, set by the serialize stage. */
  outgoingHead?: Buffer;
  /**
   * Its connection's registry of what to do when an exchange is over (see
   * exchange-ends.ts): `request.exchangeEnds.whenOver(request, release)`.
   */
  readonly exchangeEnds: ExchangeEnds;
  /**
   * Nothing more is sent to the daemon on this connection until this request
   * is answered, so that the proxy knows when the daemon has finished it
   * (the volume claims of create-bind-volumes and guard-held-volumes last
   * until then).
   */
  answerBeforeNext?: boolean;
}
