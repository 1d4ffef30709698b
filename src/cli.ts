#!/usr/bin/env node
/**
 * dockerd-ci-proxy's command: parse options, start the proxy, stop cleanly on
 * SIGTERM/SIGINT (exit 0; with --reap-on-exit, after reaping what carries the
 * proxy's labels). Startup failures print one line and exit 1 (2 for bad
 * options). `dockerd-ci-proxy reap` reaps and exits (1 if anything is left).
 */
import { groupOf } from "./sources/listen-socket.js";
import { parseCommandLine } from "./config.js";
import { ProxyError } from "./errors.js";
import { createLogger, logDestination } from "./logging.js";
import { type MetricsAddress, serveMetrics } from "./metrics/metrics-server.js";
import { ProxyMetrics } from "./metrics/prometheus-metrics.js";
import { DEFAULT_MAX_HEADER_BYTES, type RunningProxy, startProxy } from "./proxy.js";
import { reapOnExit, runReapCommand } from "./reaper/command.js";

async function main(): Promise<number> {
  const outcome = parseCommandLine(process.argv.slice(2), process.env, {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
  if (outcome.kind === "exit") return outcome.code;
  if (outcome.kind === "reap") {
    try {
      return await runReapCommand(
        outcome.config,
        (text) => process.stdout.write(text),
        (text) => process.stderr.write(text),
      );
    } catch (error) {
      process.stderr.write(`dockerd-ci-proxy reap: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
  }
  const { config } = outcome;
  const log = createLogger({ debug: config.debug, destination: await logDestination(config.logFormat) });
  let proxy;
  try {
    proxy = await startProxy({
      ...config,
      listenGid: groupOf(config.dockerSocket),
      maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
      log,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.fatal({ code: error instanceof ProxyError ? error.code : undefined }, message);
    log.flush();
    process.stderr.write(`dockerd-ci-proxy: ${message}\n`);
    return error instanceof ProxyError && error.status === 2 ? 2 : 1;
  }
  const running = proxy;
  const metricsServer = config.metricsListen ? await startMetrics(running, config.metricsListen) : undefined;
  return new Promise<number>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      log.info({ signal }, "shutting down");
      void running
        .stop()
        .then(async () => {
          if (config.reapOnExit) await reapOnExit(config.dockerSocket, config.labels, log);
        })
        .then(() => {
          metricsServer?.close();
          resolve(0);
        });
    };
    process.once("SIGTERM", shutdown);
    process.once("SIGINT", shutdown);
  });
}

async function startMetrics(proxy: RunningProxy, address: MetricsAddress): Promise<{ close(): void }> {
  const metrics = new ProxyMetrics(proxy);
  proxy.exchanges$.subscribe((exchange) => metrics.record(exchange));
  return serveMetrics(metrics, address);
}

main().then(
  (code) => {
    process.exitCode = code;
    // Open keep-alive sockets must not hold the process after shutdown.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (error: unknown) => {
    process.stderr.write(`dockerd-ci-proxy: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
