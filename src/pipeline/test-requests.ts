// Builds ProxyRequest values for unit tests of stages, from raw head text.
import { Readable } from "node:stream";
import { pino } from "pino";
import { parseRequestHead } from "../protocol/request-head.js";
import { classifyRoute } from "../routing/routes.js";
import { BodyBudget } from "./body-budget.js";
import { ExchangeEnds } from "./exchange-ends.js";
import type { ProxyRequest } from "./proxy-request.js";

export function testRequest(headText: string, body?: Buffer | string, seq = 1): ProxyRequest {
  const head = parseRequestHead(Buffer.from(headText, "latin1"));
  return {
    seq,
    connectionId: 1,
    head,
    body: body === undefined ? null : Readable.from([Buffer.from(body)]),
    route: classifyRoute(head.method, head.target, head.wantsUpgrade),
    receivedAt: 0,
    log: pino({ level: "silent" }),
    rewrite: {},
    injection: {},
    sendContinue: () => {},
    exchangeEnds: new ExchangeEnds(),
  };
}

/** Body limits for stage tests: `maxBodyBytes` per body, a budget of four such bodies. */
export function testBodyLimits(maxBodyBytes: number): { maxBodyBytes: number; budget: BodyBudget } {
  return { maxBodyBytes, budget: new BodyBudget(4 * maxBodyBytes) };
}
