/**
 * The proxy: the listen socket (source), one pipeline per connection, the
 * daemon socket (sink), and an orderly shutdown.
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { mergeMap, Subject, type Subscription } from "rxjs";
import type { CgroupParentSetting } from "./cgroup/cgroup-parent.js";
import { resolveCgroupParent } from "./cgroup/resolve-cgroup-parent.js";
import { type ConnectionHandle, handleConnection } from "./connection.js";
import { daemonClient } from "./daemon-client.js";
import { headersForLog } from "./logging.js";
import type { Stage } from "./pipeline/stage.js";
import { bodyBudgetFor } from "./pipeline/body-budget.js";
import { defaultStages, type InjectionConfig } from "./pipeline/default-stages.js";
import type { Exchange } from "./sinks/response-relay.js";
import { listenSocket } from "./sources/listen-socket.js";

export interface ProxyConfig extends Omit<InjectionConfig, "cgroupParent" | "daemon" | "bodyBudget"> {
  readonly dockerSocket: string;
  readonly listenSocket: string;
  /** File mode of the listen socket (default 0o660). */
  readonly listenMode: number;
  /** Group owning the listen socket; undefined keeps the process's group. */
  readonly listenGid: number | undefined;
  readonly maxBodyBytes: number;
  readonly maxHeaderBytes: number;
  /**
   * Whether created containers go under a cgroup parent, and which (default
   * off). Resolved once, before listening: a bad explicit value throws a
   * ConfigError; a parent that cannot be found makes container creates and
   * builds fail with the reason.
   */
  readonly cgroupParent?: CgroupParentSetting;
  /** How long shutdown waits for requests in flight. */
  readonly shutdownGraceMs: number;
  /** Extra stages, run after the built-in injections and before serialization. */
  readonly extraStages?: readonly Stage[];
  readonly log: Logger;
}

export interface RunningProxy {
  readonly socketPath: string;
  /** Every finished request/response exchange. */
  readonly exchanges$: Subject<Exchange>;
  /** Raw streams (attach, exec, BuildKit sessions) open right now. */
  hijackedSessions(): number;
  /** Bytes of request bodies held for rewriting right now, and bodies waiting for room (`--max-buffered`). */
  bufferedBodies(): { readonly heldBytes: number; readonly waiting: number };
  /** Stops accepting, lets requests in flight finish (up to the grace period), closes the rest. */
  stop(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_HEADER_BYTES = 256 * 1024;

export async function startProxy(config: ProxyConfig): Promise<RunningProxy> {
  const log = config.log;
  const cgroupParent = await resolveCgroupParent(config.cgroupParent ?? { mode: "off" }, { dockerSocket: config.dockerSocket, log });
  const bodyBudget = bodyBudgetFor(config);
  const stages = defaultStages({ ...config, cgroupParent, daemon: daemonClient(config.dockerSocket), bodyBudget }, config.extraStages ?? []);
  const listening = await listenSocket({ path: config.listenSocket, mode: config.listenMode, gid: config.listenGid });
  const handles = new Set<ConnectionHandle>();
  const exchanges$ = new Subject<Exchange>();
  let nextId = 0;

  const subscription: Subscription = listening.connections$
    .pipe(
      mergeMap((socket: Socket) => {
        const id = ++nextId;
        return handleConnection(
          socket,
          { id, dockerSocket: config.dockerSocket, stages, maxHeaderBytes: config.maxHeaderBytes, log: log.child({ conn: id }) },
          (handle) => {
            handles.add(handle);
            return () => handles.delete(handle);
          },
        );
      }),
    )
    .subscribe({
      next: (exchange) => {
        logExchange(exchange);
        exchanges$.next(exchange);
      },
      error: (error: unknown) => log.error({ err: error }, "listener failed"),
    });

  function logExchange(exchange: Exchange): void {
    const { request } = exchange;
    const entry = {
      conn: request.connectionId,
      seq: request.seq,
      method: request.head.method,
      route: request.route?.path ?? request.head.target,
      kind: request.plan?.kind === "passthrough" ? undefined : request.plan?.kind,
      status: exchange.status,
      durationMs: Math.round(exchange.durationMs * 10) / 10,
      bytesOut: exchange.bytesOut,
      hijacked: exchange.hijacked,
      ...(exchange.error ? { refused: exchange.error.code, reason: exchange.error.message } : {}),
    };
    if (exchange.error) log.warn(entry, "request refused");
    else log.info(entry, "request");
    if (log.isLevelEnabled("debug")) {
      log.debug({ conn: request.connectionId, seq: request.seq, target: request.head.target, headers: headersForLog(request.head.fields) }, "request head");
    }
  }

  log.info({ listen: config.listenSocket, docker: config.dockerSocket }, "listening");

  let stopping: Promise<void> | undefined;
  return {
    socketPath: config.listenSocket,
    exchanges$,
    hijackedSessions() {
      let open = 0;
      for (const handle of handles) if (handle.hijacked) open++;
      return open;
    },
    bufferedBodies() {
      return { heldBytes: bodyBudget.heldBytes, waiting: bodyBudget.waitingCount };
    },
    stop() {
      stopping ??= drain();
      return stopping;
    },
  };

  async function drain(): Promise<void> {
    listening.close();
    const deadline = Date.now() + config.shutdownGraceMs;
    while (handles.size > 0 && Date.now() < deadline) {
      for (const handle of handles) {
        if (handle.hijacked || !handle.busy) handle.close();
      }
      if (handles.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const handle of handles) handle.close();
    subscription.unsubscribe();
    exchanges$.complete();
    log.info("stopped");
  }
}
