import { describe, expect, it } from "vitest";
import { parseCommandLine, VERSION } from "./config.js";

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let out = "";
  let err = "";
  const outcome = parseCommandLine(argv, env, { out: (t) => (out += t), err: (t) => (err += t) });
  return { outcome, out, err };
}

function config(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const { outcome, err } = run(argv, env);
  if (outcome.kind !== "run") throw new Error(`expected a config, got ${JSON.stringify(outcome)}: ${err}`);
  return outcome.config;
}

describe("command line", () => {
  it("has the original tool's defaults", () => {
    const c = config([]);
    expect(c.debug).toBe(false);
    expect(c.dockerSocket).toBe("/var/run/docker.sock");
    expect(c.listenSocket).toBe("/var/run/docker-ci-proxy.sock");
    expect(c.cgroupParent).toEqual({ mode: "off" });
    expect([...c.labels]).toEqual([["Created-Via", "dockerd-ci-proxy"]]);
    expect(c.listenMode).toBe(0o660);
  });

  it.each([
    [["--dockersocket", "/a"], "dockerSocket", "/a"],
    [["--ds", "/a"], "dockerSocket", "/a"],
    [["--listensocket", "/b"], "listenSocket", "/b"],
    [["--ls", "/b"], "listenSocket", "/b"],
    [["--debug"], "debug", true],
    [["-d"], "debug", true],
  ] as const)("accepts %j", (argv, key, value) => {
    expect(config([...argv])[key]).toBe(value);
  });

  it("takes the label from --labelname/--ln and --labelvalue/--lv", () => {
    expect([...config(["--ln", "job", "--lv", "42"]).labels]).toEqual([["job", "42"]]);
    expect([...config(["--labelname", "job", "--labelvalue", "42"]).labels]).toEqual([["job", "42"]]);
  });

  it("reads every option from its DCP_ variable, the command line winning", () => {
    const c = config([], {
      DCP_DEBUG: "true",
      DCP_DOCKER_SOCKET: "/e/docker.sock",
      DCP_LISTEN_SOCKET: "/e/proxy.sock",
      DCP_CGROUP_PARENT: "1",
      DCP_LABEL_NAME: "owner",
      DCP_LABEL_VALUE: "ci",
    });
    expect(c).toMatchObject({ debug: true, dockerSocket: "/e/docker.sock", listenSocket: "/e/proxy.sock", cgroupParent: { mode: "detect" } });
    expect([...c.labels]).toEqual([["owner", "ci"]]);
    expect(config(["--ds", "/cli"], { DCP_DOCKER_SOCKET: "/env" }).dockerSocket).toBe("/cli");
  });

  it("reads boolean variables like Go's ParseBool: false means off", () => {
    expect(config([], { DCP_DEBUG: "false" }).debug).toBe(false);
    expect(config([], { DCP_CGROUP_PARENT: "0" }).cgroupParent).toEqual({ mode: "off" });
    expect(config([], { DCP_DEBUG: "TRUE" }).debug).toBe(true);
  });

  describe("cgroup parent", () => {
    it.each([[["--cgroupparent"]], [["--cp"]]])("%j detects the parent of the proxy's own container", (argv) => {
      expect(config(argv).cgroupParent).toEqual({ mode: "detect" });
    });

    it("--cgroup-parent-value sets the parent explicitly, and switches the feature on by itself", () => {
      expect(config(["--cgroup-parent-value", "/ci-agent"]).cgroupParent).toEqual({ mode: "explicit", value: "/ci-agent" });
      expect(config(["--cp", "--cgroup-parent-value", "ci-agent.slice"]).cgroupParent).toEqual({ mode: "explicit", value: "ci-agent.slice" });
    });

    it("reads DCP_CGROUP_PARENT_VALUE, the command line winning; an empty variable is unset", () => {
      expect(config([], { DCP_CGROUP_PARENT_VALUE: "/from-env" }).cgroupParent).toEqual({ mode: "explicit", value: "/from-env" });
      expect(config(["--cgroup-parent-value", "/cli"], { DCP_CGROUP_PARENT_VALUE: "/env" }).cgroupParent).toEqual({ mode: "explicit", value: "/cli" });
      expect(config([], { DCP_CGROUP_PARENT_VALUE: "" }).cgroupParent).toEqual({ mode: "off" });
    });

    it.each([[["--cgroup-parent-value", "ci-agent"]], [["--cgroup-parent-value", "/"]], [["--cgroup-parent-value", ""]], [["--cgroup-parent-value", "/a/../b"]]])(
      "exits 2 on %j, saying which forms are accepted",
      (argv) => {
        const { outcome, err } = run(argv);
        expect(outcome).toEqual({ kind: "exit", code: 2 });
        expect(err).toMatch(/^error: --cgroup-parent-value .* must be an absolute cgroup path like \/ci-agent .* or a slice name like ci-agent\.slice/);
      },
    );

    it("exits 2 on a bad DCP_CGROUP_PARENT_VALUE too", () => {
      expect(run([], { DCP_CGROUP_PARENT_VALUE: "relative/path" }).outcome).toEqual({ kind: "exit", code: 2 });
    });
  });

  it("adds repeatable --label and DCP_LABELS; the main label wins on the same key", () => {
    const c = config(["--label", "job=7", "--label", "Created-Via=other"], { DCP_LABELS: "team=a,stage=b" });
    expect(Object.fromEntries(c.labels)).toEqual({ team: "a", stage: "b", job: "7", "Created-Via": "dockerd-ci-proxy" });
  });

  it.each([
    [["--listen-mode", "999"]],
    [["--label", "novalue"]],
    [["--max-body", "lots"]],
    [["--max-buffered", "lots"]],
    [["--max-body", "16m", "--max-buffered", "8m"]],
    [["--ls", ""]],
    [["--no-such-option"]],
    [["--ds"]],
  ])("exits 2 with a one-line error on %j", (argv) => {
    const { outcome, err } = run(argv);
    expect(outcome).toEqual({ kind: "exit", code: 2 });
    expect(err.trim().split("\n")[0]).toMatch(/^error: /);
  });

  it("bounds all buffered bodies at four times --max-body unless --max-buffered or DCP_MAX_BUFFERED says otherwise", () => {
    expect(config([])).toMatchObject({ maxBodyBytes: 16 * 1024 ** 2, maxBufferedBytes: 64 * 1024 ** 2 });
    expect(config(["--max-body", "1m"])).toMatchObject({ maxBodyBytes: 1024 ** 2, maxBufferedBytes: 4 * 1024 ** 2 });
    expect(config(["--max-buffered", "1g"]).maxBufferedBytes).toBe(1024 ** 3);
    expect(config([], { DCP_MAX_BUFFERED: "20m" }).maxBufferedBytes).toBe(20 * 1024 ** 2);
    expect(config(["--max-buffered", "30m"], { DCP_MAX_BUFFERED: "20m" }).maxBufferedBytes).toBe(30 * 1024 ** 2);
    expect(run([], { DCP_MAX_BODY: "2m", DCP_MAX_BUFFERED: "1m" }).outcome).toEqual({ kind: "exit", code: 2 });
  });

  it("exits 2 on an invalid boolean variable instead of switching it on", () => {
    expect(run([], { DCP_DEBUG: "yes please" }).outcome).toEqual({ kind: "exit", code: 2 });
  });

  it("prints help with every option, its variable and default", () => {
    const { outcome, out } = run(["--help"]);
    expect(outcome).toEqual({ kind: "exit", code: 0 });
    for (const text of [
      "-d, --debug", "DCP_DEBUG",
      "--ds, --dockersocket", "DCP_DOCKER_SOCKET", "/var/run/docker.sock",
      "--ls, --listensocket", "DCP_LISTEN_SOCKET", "/var/run/docker-ci-proxy.sock",
      "--cp, --cgroupparent", "DCP_CGROUP_PARENT",
      "--cgroup-parent-value <path>", "DCP_CGROUP_PARENT_VALUE",
      "--ln, --labelname", "DCP_LABEL_NAME", "Created-Via",
      "--lv, --labelvalue", "DCP_LABEL_VALUE", "dockerd-ci-proxy",
      "-h, --help", "-v, --version",
    ]) {
      expect(out.replace(/\s+/g, " ")).toContain(text);
    }
    expect(run(["-h"]).out).toBe(out);
  });

  it("prints the package version with -v and --version", () => {
    expect(run(["-v"]).out.trim()).toBe(VERSION);
    expect(run(["--version"]).out.trim()).toBe(VERSION);
  });
});

describe("--refuse-buildkit", () => {
  it("is off by default, on with the flag or DCP_REFUSE_BUILDKIT", () => {
    expect(config([]).refuseBuildKit).toBe(false);
    expect(config(["--refuse-buildkit"]).refuseBuildKit).toBe(true);
    expect(config([], { DCP_REFUSE_BUILDKIT: "true" }).refuseBuildKit).toBe(true);
    expect(config([], { DCP_REFUSE_BUILDKIT: "0" }).refuseBuildKit).toBe(false);
  });
});

describe("--log-format", () => {
  it("is auto by default, json or pretty when asked, from DCP_LOG_FORMAT too", () => {
    expect(config([]).logFormat).toBe("auto");
    expect(config(["--log-format", "json"]).logFormat).toBe("json");
    expect(config([], { DCP_LOG_FORMAT: "pretty" }).logFormat).toBe("pretty");
  });

  it("exits 2 on another format", () => {
    expect(run(["--log-format", "xml"]).outcome).toEqual({ kind: "exit", code: 2 });
  });
});
