/**
 * Counters fed by the proxy's exchanges, printed in the Prometheus text
 * format (version 0.0.4). Label values are the route KIND, never the path,
 * so that container ids cannot grow the number of series without bound.
 */
import type { Exchange } from "../sinks/response-relay.js";

type Key = string;

/** What the metrics read from the running proxy when scraped. */
export interface ProxyGauges {
  /** Raw streams (attach, exec, BuildKit) open now. */
  hijackedSessions(): number;
  /** Bytes of request bodies buffered for rewriting now, and bodies waiting for room (`--max-buffered`). */
  bufferedBodies(): { readonly heldBytes: number; readonly waiting: number };
}

export class ProxyMetrics {
  private readonly requests = new Map<Key, number>();
  private readonly refusals = new Map<Key, number>();
  private labelled = 0;
  private bytesOut = 0;

  constructor(private readonly gauges: ProxyGauges) {}

  record(exchange: Exchange): void {
    const { request } = exchange;
    const kind = request.route?.kind ?? "unparsed";
    increment(this.requests, labels({ kind, method: request.head.method, status: String(exchange.status) }));
    this.bytesOut += exchange.bytesOut;
    if (exchange.error) {
      increment(this.refusals, labels({ code: exchange.error.code }));
    } else if (request.injection.labels !== undefined && exchange.status < 400) {
      this.labelled++;
    }
  }

  /** The exposition text. */
  render(): string {
    const buffered = this.gauges.bufferedBodies();
    return [
      "# HELP dcp_requests_total Requests answered, by API call kind, method and status.",
      "# TYPE dcp_requests_total counter",
      ...series("dcp_requests_total", this.requests),
      "# HELP dcp_labels_injected_total Creation requests forwarded with the injected labels and accepted by the daemon.",
      "# TYPE dcp_labels_injected_total counter",
      `dcp_labels_injected_total ${this.labelled}`,
      "# HELP dcp_refusals_total Requests the proxy refused itself, by error code.",
      "# TYPE dcp_refusals_total counter",
      ...series("dcp_refusals_total", this.refusals),
      "# HELP dcp_hijacked_sessions Raw streams (attach, exec, BuildKit) open now.",
      "# TYPE dcp_hijacked_sessions gauge",
      `dcp_hijacked_sessions ${this.gauges.hijackedSessions()}`,
      "# HELP dcp_response_bytes_total Bytes relayed to clients (heads, bodies and raw streams).",
      "# TYPE dcp_response_bytes_total counter",
      `dcp_response_bytes_total ${this.bytesOut}`,
      "# HELP dcp_buffered_body_bytes Bytes of request bodies held for rewriting now (at most --max-buffered).",
      "# TYPE dcp_buffered_body_bytes gauge",
      `dcp_buffered_body_bytes ${buffered.heldBytes}`,
      "# HELP dcp_bodies_waiting Request bodies waiting for room under --max-buffered now.",
      "# TYPE dcp_bodies_waiting gauge",
      `dcp_bodies_waiting ${buffered.waiting}`,
      "",
    ].join("\n");
  }
}

function labels(values: Record<string, string>): Key {
  return Object.entries(values)
    .map(([name, value]) => `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");
}

function increment(counters: Map<Key, number>, key: Key): void {
  counters.set(key, (counters.get(key) ?? 0) + 1);
}

function series(name: string, counters: ReadonlyMap<Key, number>): string[] {
  return [...counters].map(([key, value]) => `${name}{${key}} ${value}`);
}
