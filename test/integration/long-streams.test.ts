// No idle or total timeout on long streams: a silent `logs -f` and a silent
// attach stay open well past the 60 s that HTTP servers commonly default to.
import { describe, expect, it } from "vitest";
import { useDindAndProxy } from "./support/dind-with-proxy.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi } from "./support/dind.js";
import type { ProxyProcess } from "./support/proxy-process.js";
import { RawConnection } from "./support/raw-http.js";

const SILENCE_MS = 75_000;
let dind: Dind;
let proxy: ProxyProcess;

useDindAndProxy((started) => ({ dind, proxy } = started));

describe("long silent streams", () => {
  it(
    `keep a silent logs -f and a silent attach open for ${SILENCE_MS / 1000} s, then still deliver`,
    async () => {
      const created = await dockerApi(dind.socketPath, "POST", "/containers/create", {
        Image: BUSYBOX_IMAGE,
        Cmd: ["sh", "-c", "echo start; read line; echo \"got $line\"; sleep 3600"],
        OpenStdin: true,
        AttachStdin: true,
        AttachStdout: true,
      });
      const id = (JSON.parse(created.body) as { Id: string }).Id;

      const attach = await RawConnection.open(proxy.socketPath);
      attach.write(`POST /containers/${id}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
      await attach.waitFor((received) => received.includes("\r\n\r\n"));
      await dockerApi(dind.socketPath, "POST", `/containers/${id}/start`);
      const logs = await RawConnection.open(proxy.socketPath);
      logs.write(`GET /containers/${id}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n`);
      await logs.waitFor((received) => received.includes("start"));
      await attach.waitFor((received) => received.includes("start"));

      await new Promise((resolve) => setTimeout(resolve, SILENCE_MS));
      expect(logs.closed || logs.ended).toBe(false);
      expect(attach.closed || attach.ended).toBe(false);

      attach.write("hello\n");
      await logs.waitFor((received) => received.includes("got hello"), 10_000);
      await attach.waitFor((received) => received.includes("got hello"), 10_000);
      logs.close();
      attach.close();
    },
    SILENCE_MS + 60_000,
  );
});
