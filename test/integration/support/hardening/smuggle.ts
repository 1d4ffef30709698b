// Helpers shared by the hardening tests: counting and inspecting what the
// inner daemon really holds (always asked directly, never through the proxy).
import { dockerApi } from "../docker-api.js";

export const LABEL_NAME = "Created-Via";
export const LABEL_VALUE = "dockerd-ci-proxy";

export async function containerCount(daemonSocket: string): Promise<number> {
  const list = await dockerApi(daemonSocket, "GET", "/containers/json?all=1");
  if (list.status !== 200) throw new Error(`GET /containers/json: ${list.status} ${list.body}`);
  return (JSON.parse(list.body) as unknown[]).length;
}

export async function containerLabels(daemonSocket: string, id: string): Promise<Record<string, string>> {
  const inspect = await dockerApi(daemonSocket, "GET", `/containers/${id}/json`);
  if (inspect.status !== 200) throw new Error(`inspect ${id}: ${inspect.status} ${inspect.body}`);
  return (JSON.parse(inspect.body) as { Config: { Labels: Record<string, string> | null } }).Config.Labels ?? {};
}

/** A complete container-create request, to hide inside another request's body. */
export function createRequest(image: string, name?: string): string {
  const body = JSON.stringify({ Image: image, Cmd: ["true"] });
  const query = name ? `?name=${name}` : "";
  return (
    `POST /containers/create${query} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}
