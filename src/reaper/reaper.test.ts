import { describe, expect, it } from "vitest";
import type { DaemonAnswer, DaemonClient } from "../daemon-client.js";
import { daemonMessage } from "../daemon-client.js";
import { CONTAINERS, IMAGES, kindsToReap, labelFilters, NETWORKS, SERVICES, VOLUMES } from "./kinds.js";
import { reap } from "./reaper.js";
import { describeResource, formatReport, reapSucceeded, reportCounts } from "./summary.js";

const LABELS = new Map([
  ["job", "42"],
  ["Created-Via", "dockerd-ci-proxy"],
]);
const FILTERS = `filters=${encodeURIComponent('{"label":["job=42","Created-Via=dockerd-ci-proxy"]}')}`;

describe("labelFilters", () => {
  it("asks for ALL the labels, as JSON, percent-encoded", () => {
    expect(labelFilters(LABELS)).toBe(FILTERS);
    expect(decodeURIComponent(labelFilters(new Map([["a b", "c=d&e"]])))).toBe('filters={"label":["a b=c=d&e"]}');
    expect(labelFilters(new Map([["a", "b&c"]]))).not.toContain("&c");
  });
});

describe("kinds", () => {
  it("go services, containers, networks, volumes, secrets, configs; images last and only when asked", () => {
    expect(kindsToReap({ images: false }).map((kind) => kind.name)).toEqual(["services", "containers", "networks", "volumes", "secrets", "configs"]);
    expect(kindsToReap({ images: true }).map((kind) => kind.name)).toEqual([
      "services", "containers", "networks", "volumes", "secrets", "configs", "images",
    ]);
  });

  it("list unversioned paths with the filter; containers include stopped ones", () => {
    expect(SERVICES.listPath(LABELS)).toBe(`/services?${FILTERS}`);
    expect(CONTAINERS.listPath(LABELS)).toBe(`/containers/json?all=1&${FILTERS}`);
    expect(NETWORKS.listPath(LABELS)).toBe(`/networks?${FILTERS}`);
    expect(VOLUMES.listPath(LABELS)).toBe(`/volumes?${FILTERS}`);
    expect(IMAGES.listPath(LABELS)).toBe(`/images/json?${FILTERS}`);
  });

  it("remove containers forced with their anonymous volumes; images tag by tag, then by ID", () => {
    expect(CONTAINERS.removePaths({ id: "abc", name: "x" })).toEqual(["/containers/abc?force=1&v=1"]);
    expect(
      IMAGES.parseList([
        { Id: "sha256:1", RepoTags: ["a:1", "<none>:<none>", "b/c:2"], RepoDigests: ["a@sha256:9", "<none>@<none>"] },
        { Id: "sha256:2", RepoTags: null },
      ]),
    ).toEqual([
      { id: "sha256:1", name: "a:1", tags: ["a:1", "b/c:2", "a@sha256:9"] },
      { id: "sha256:2", name: "", tags: [] },
    ]);
    expect(IMAGES.removePaths({ id: "sha256:1", name: "a:1", tags: ["a:1", "b/c:2"] })).toEqual(["/images/a%3A1", "/images/b%2Fc%3A2", "/images/sha256%3A1"]);
  });

  it("read each list shape", () => {
    expect(SERVICES.parseList([{ ID: "s1", Spec: { Name: "web" } }])).toEqual([{ id: "s1", name: "web" }]);
    expect(CONTAINERS.parseList([{ Id: "c1", Names: ["/box"] }])).toEqual([{ id: "c1", name: "box" }]);
    expect(VOLUMES.parseList({ Volumes: [{ Name: "v1" }], Warnings: null })).toEqual([{ id: "v1", name: "v1" }]);
    expect(VOLUMES.parseList({ Volumes: null })).toEqual([]);
  });
});

/** A daemon in memory: lists from `state`, DELETE answers from `deletes` (default 204, and the item goes). */
function fakeDaemon(state: Record<string, unknown[]>, deletes: (path: string, attempt: number) => DaemonAnswer | undefined = () => undefined) {
  const calls: string[] = [];
  const attempts = new Map<string, number>();
  const client: DaemonClient = {
    async call(method, path) {
      calls.push(`${method} ${path}`);
      if (method === "GET") {
        const kind = path.slice(1).split(/[/?]/)[0]!;
        if (!(kind in state)) return { status: 503, body: '{"message":"This node is not a swarm manager."}' };
        const items = state[kind]!;
        return { status: 200, body: JSON.stringify(kind === "volumes" ? { Volumes: items } : items) };
      }
      const attempt = (attempts.get(path) ?? 0) + 1;
      attempts.set(path, attempt);
      const answer = deletes(path, attempt);
      if (answer && answer.status >= 300) return answer;
      const [, kind, id] = /^\/([a-z]+)\/([^?]+)/.exec(path)!;
      state[kind!] = state[kind!]!.filter((item) => {
        const fields = item as Record<string, unknown>;
        return fields["Id"] !== id && fields["ID"] !== id && fields["Name"] !== id;
      });
      return answer ?? { status: 204, body: "" };
    },
  };
  return { client, calls };
}

describe("reap", () => {
  it("removes kind by kind in order and skips swarm kinds quietly when swarm is not active", async () => {
    const { client, calls } = fakeDaemon({ containers: [{ Id: "c1", Names: ["/a"] }], networks: [{ Id: "n1", Name: "net" }], volumes: [{ Name: "v1" }] });
    const report = await reap(client, { labels: LABELS, images: false, dryRun: false, retryDelayMs: 0 });
    expect(calls.filter((call) => call.startsWith("DELETE"))).toEqual(["DELETE /containers/c1?force=1&v=1", "DELETE /networks/n1", "DELETE /volumes/v1"]);
    expect(calls[0]).toBe(`GET /services?${FILTERS}`);
    expect(reapSucceeded(report)).toBe(true);
    expect(reportCounts(report)).toEqual({
      services: "skipped",
      containers: { removed: 1, failed: 0 },
      networks: { removed: 1, failed: 0 },
      volumes: { removed: 1, failed: 0 },
      secrets: "skipped",
      configs: "skipped",
    });
    expect(formatReport(report)).toBe("containers: removed 1\nnetworks: removed 1\nvolumes: removed 1\n");
  });

  it("a dry run lists and removes nothing", async () => {
    const { client, calls } = fakeDaemon({ services: [{ ID: "s1", Spec: { Name: "web" } }], containers: [{ Id: "c1", Names: ["/a"] }], networks: [], volumes: [], secrets: [], configs: [], images: [] });
    const report = await reap(client, { labels: LABELS, images: true, dryRun: true });
    expect(calls.every((call) => call.startsWith("GET"))).toBe(true);
    expect(reapSucceeded(report)).toBe(true);
    expect(formatReport(report)).toContain("services: would remove 1\n  s1 (web)\ncontainers: would remove 1\n  c1 (a)\n");
  });

  it("retries what is still in use, and reports what never went with the last reason", async () => {
    const inUse = { status: 409, body: '{"message":"volume is in use"}' };
    const { client } = fakeDaemon({ containers: [], networks: [{ Id: "n1", Name: "net" }], volumes: [{ Name: "v1" }, { Name: "v2" }] }, (path, attempt) =>
      path === "/volumes/v1" && attempt < 3 ? inUse : path === "/networks/n1" ? { status: 500, body: '{"message":"boom"}' } : undefined,
    );
    const report = await reap(client, { labels: LABELS, images: false, dryRun: false, rounds: 4, retryDelayMs: 0 });
    expect(reapSucceeded(report)).toBe(false);
    expect(reportCounts(report)).toMatchObject({ volumes: { removed: 2, failed: 0 }, networks: { removed: 0, failed: 1 } });
    expect(formatReport(report)).toContain("networks: removed 0, failed 1\n  n1 (net): 500 boom\n");
  });

  it("stops after the bounded number of rounds", async () => {
    const { client, calls } = fakeDaemon({ containers: [{ Id: "c1", Names: ["/a"] }], networks: [], volumes: [] }, () => ({ status: 409, body: "busy" }));
    const report = await reap(client, { labels: LABELS, images: false, dryRun: false, rounds: 3, retryDelayMs: 0 });
    expect(calls.filter((call) => call.startsWith("DELETE"))).toHaveLength(3);
    expect(report.kinds.find((kind) => kind.kind === "containers")?.failed).toEqual([{ resource: { id: "c1", name: "a" }, reason: "409 busy" }]);
  });

  it("counts a resource gone by itself (404) as removed", async () => {
    const { client } = fakeDaemon({ containers: [{ Id: "c1", Names: ["/a"] }], networks: [], volumes: [] }, () => ({ status: 404, body: '{"message":"No such container"}' }));
    expect(reapSucceeded(await reap(client, { labels: LABELS, images: false, dryRun: false, retryDelayMs: 0 }))).toBe(true);
  });

  it("a list the daemon refuses is a failure, not a silent success", async () => {
    const client: DaemonClient = { call: async () => ({ status: 500, body: '{"message":"daemon broke"}' }) };
    const report = await reap(client, { labels: LABELS, images: false, dryRun: false, rounds: 1 });
    expect(reapSucceeded(report)).toBe(false);
    expect(formatReport(report)).toContain("containers: could not be listed: 500 daemon broke");
  });

  it("refuses to run without labels (it would take everything)", async () => {
    const { client } = fakeDaemon({});
    await expect(reap(client, { labels: new Map(), images: false, dryRun: false })).rejects.toThrow(/label/);
  });
});

describe("summary helpers", () => {
  it("names resources briefly", () => {
    expect(describeResource({ id: "sha256:0123456789abcdef", name: "" })).toBe("0123456789ab");
    expect(describeResource({ id: "myvol", name: "myvol" })).toBe("myvol");
    expect(daemonMessage({ status: 409, body: "plain" })).toBe("plain");
  });
});
