import { describe, expect, it } from "vitest";
import { parseCommandLine } from "./config.js";

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let out = "";
  let err = "";
  const outcome = parseCommandLine(argv, env, { out: (t) => (out += t), err: (t) => (err += t) });
  return { outcome, out, err };
}

describe("reap subcommand", () => {
  it("has the proxy's defaults for socket and label", () => {
    expect(run(["reap"]).outcome).toEqual({
      kind: "reap",
      config: { dockerSocket: "/var/run/docker.sock", labels: new Map([["Created-Via", "dockerd-ci-proxy"]]), images: false, dryRun: false },
    });
  });

  it("takes --ds/--ln/--lv/--label/--images/--dry-run and filters by ALL labels", () => {
    const { outcome } = run(["reap", "--ds", "/d.sock", "--ln", "owner", "--lv", "ci", "--label", "job=7", "--images", "--dry-run"]);
    expect(outcome).toEqual({
      kind: "reap",
      config: { dockerSocket: "/d.sock", labels: new Map([["job", "7"], ["owner", "ci"]]), images: true, dryRun: true },
    });
    expect(run(["reap", "--dockersocket", "/x", "--labelname", "a", "--labelvalue", "b"]).outcome).toMatchObject({ config: { dockerSocket: "/x", labels: new Map([["a", "b"]]) } });
  });

  it("reads the DCP_* variables, the command line winning", () => {
    const env = { DCP_DOCKER_SOCKET: "/e.sock", DCP_LABEL_NAME: "n", DCP_LABEL_VALUE: "v", DCP_LABELS: "job=1" };
    expect(run(["reap"], env).outcome).toMatchObject({ kind: "reap", config: { dockerSocket: "/e.sock", labels: new Map([["job", "1"], ["n", "v"]]) } });
    expect(run(["reap", "--lv", "cli"], env).outcome).toMatchObject({ config: { labels: new Map([["job", "1"], ["n", "cli"]]) } });
  });

  it("has its own help; the top-level help still lists the proxy's options and the subcommand", () => {
    const reapHelp = run(["reap", "--help"]);
    expect(reapHelp.outcome).toEqual({ kind: "exit", code: 0 });
    for (const text of ["--ds, --dockersocket", "--ln, --labelname", "--lv, --labelvalue", "--label <key=value>", "--images", "--dry-run"]) {
      expect(reapHelp.out).toContain(text);
    }
    expect(reapHelp.out).not.toContain("--listensocket");
    const top = run(["--help"]).out;
    expect(top).toContain("--ls, --listensocket");
    expect(top).toContain("--reap-on-exit");
    expect(top).toMatch(/reap \[options\]/);
  });

  it("rejects the proxy's own options and bad labels with exit 2", () => {
    expect(run(["reap", "--ls", "/x"]).outcome).toEqual({ kind: "exit", code: 2 });
    const bad = run(["reap", "--label", "novalue"]);
    expect(bad.outcome).toEqual({ kind: "exit", code: 2 });
    expect(bad.err).toMatch(/^error: --label/);
  });
});

describe("--reap-on-exit", () => {
  const proxy = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const { outcome } = run(argv, env);
    if (outcome.kind !== "run") throw new Error(`expected the proxy, got ${outcome.kind}`);
    return outcome.config.reapOnExit;
  };

  it("is off by default, on with the flag or DCP_REAP_ON_EXIT (a ParseBool value)", () => {
    expect(proxy([])).toBe(false);
    expect(proxy(["--reap-on-exit"])).toBe(true);
    expect(proxy([], { DCP_REAP_ON_EXIT: "true" })).toBe(true);
    expect(proxy([], { DCP_REAP_ON_EXIT: "0" })).toBe(false);
    expect(run([], { DCP_REAP_ON_EXIT: "maybe" }).outcome).toEqual({ kind: "exit", code: 2 });
  });

  it("does not make the proxy take stray arguments", () => {
    expect(run(["reaper"]).outcome).toEqual({ kind: "exit", code: 2 });
  });
});
