// The usual setup of an integration test file: one dockerd-in-docker and a
// proxy process in front of it, started before the file's tests and stopped
// after them. `assign` hands both to the file's own variables.
import { afterAll, beforeAll } from "vitest";
import { type Dind, startDind } from "./dind.js";
import { type ProxyProcess, startProxyProcess } from "./proxy-process.js";

export interface DindAndProxy {
  readonly dind: Dind;
  readonly proxy: ProxyProcess;
}

export function useDindAndProxy(
  assign: (started: DindAndProxy) => void,
  options: { proxyArgs?: string[]; stopSignal?: NodeJS.Signals; built?: boolean } = {},
): void {
  let dind: Dind | undefined;
  let proxy: ProxyProcess | undefined;
  beforeAll(async () => {
    dind = await startDind();
    proxy = await startProxyProcess({
      dockerSocket: dind.socketPath,
      ...(options.proxyArgs ? { args: options.proxyArgs } : {}),
      ...(options.built ? { built: true } : {}),
    });
    assign({ dind, proxy });
  });
  afterAll(async () => {
    await proxy?.stop(options.stopSignal);
    await dind?.stop();
  });
}
