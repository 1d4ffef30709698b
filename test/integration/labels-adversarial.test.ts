// Adversarial requests against the REAL daemon through the proxy. The proxy
// promises that nothing is created without its labels, whatever spelling of a
// request the daemon accepts (DAEMON-FACTS.md). Property tests generate
// bodies and queries in the spellings Go and the daemon read leniently (key
// case and Unicode folding, escapes in keys, repeats, null after an object,
// whitespace, trailing bytes, route encodings, chunking) and send each one as
// raw bytes. After every request the daemon is inspected DIRECTLY:
//
//   INVARIANT: either the proxy refused the request itself (a 4xx carrying
//   X-Docker-Ci-Proxy-Error) and nothing at all was created, or everything
//   the request created carries the proxy's labels.
//
// Where the generator knows what Go reads, the result is also compared with
// that model (the client's own labels kept, int64 numbers exact).
//
// The proxy here injects a second label whose value has a backslash and a
// dollar, so that any change in how the daemon reads the proxy's quoting
// (import/commit `changes` are Dockerfile lines) shows as a wrong value.
//
// fast-check runs with a fixed seed (DCP_FC_SEED overrides it), printed with
// any counterexample.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";
import { type ProxyProcess, startProxyProcess } from "./support/proxy-process.js";
import { RawConnection } from "./support/raw-http.js";
import { initSwarm } from "./support/swarm.js";
import { waitFor } from "./support/wait-for.js";
import {
  containerLabels,
  created,
  DEFAULT_LABEL_NAME,
  DEFAULT_LABEL_VALUE,
  describeSnapshot,
  getJson,
  getText,
  imageLabels,
  isEmpty,
  type Labels,
  labelsOfAll,
  networkLabels,
  removeAll,
  snapshot,
  type SnapshotKind,
  volumeLabels,
} from "./support/labels/daemon-state.js";
import { describeRequest, type RawAnswer, type RawRequest, sendRaw } from "./support/labels/raw-request.js";
import { dockerfileContext, tar } from "./support/labels/tar.js";
import {
  chunking,
  effectiveLabels,
  interleave,
  labelObject,
  labelsMember,
  type LabelsMember,
  member,
  objectText,
  queryValue,
  spelledKey,
  stringLiteral,
  trailer,
  whitespace,
} from "./support/labels/go-json-arbitraries.js";

const SEED = Number(process.env["DCP_FC_SEED"] ?? 20261129);
/**
 * Time budgets: past its budget a property sends nothing more (shrinking
 * included) once it has sent its minimum. Builds take about 1 s a step.
 */
const PROPERTY_BUDGET_MS = 12_000;
const IMPORT_PROPERTY_BUDGET_MS = 18_000;
const BUILD_PROPERTY_BUDGET_MS = 30_000;
const PROPERTY_TEST_TIMEOUT_MS = 120_000;
// The minimums were checked with every budget cut to nothing (only the minimum
// sent): each property still saw both outcomes. With seed 20261129 the first
// proxy refusal is case 7 of the build and import properties.
const CONTAINER_RUNS: PropertyRuns = { max: 100, min: 40 };
const NETWORK_RUNS: PropertyRuns = { max: 60, min: 20 };
const VOLUME_RUNS: PropertyRuns = { max: 60, min: 20 };
const BUILD_RUNS: PropertyRuns = { max: 25, min: 10 };
const IMPORT_RUNS: PropertyRuns = { max: 60, min: 15 };
const SERVICE_RUNS: PropertyRuns = { max: 40, min: 15 };

const QUOTING_KEY = "dcp.test.quoting";
const QUOTING_VALUE = "C:\\dir $HOME";
const INJECTED: Labels = { [DEFAULT_LABEL_NAME]: DEFAULT_LABEL_VALUE, [QUOTING_KEY]: QUOTING_VALUE };

let dind: Dind;
let proxy: ProxyProcess;
let baseImageLabels: Labels;

beforeAll(async () => {
  dind = await startDind();
  proxy = await startProxyProcess({ dockerSocket: dind.socketPath, args: ["--label", `${QUOTING_KEY}=${QUOTING_VALUE}`] });
  baseImageLabels = await imageLabels(dind.socketPath, BUSYBOX_IMAGE);
});

afterAll(async () => {
  await proxy?.stop();
  await dind?.stop();
});

const socket = () => dind.socketPath;

// ---------------------------------------------------------------------------
// The invariant, checked around one raw request.

interface Outcome {
  answer: RawAnswer;
  made: Awaited<ReturnType<typeof snapshot>>;
  labels: Map<string, Labels>;
}

interface Tally {
  runs: number;
  created: number;
  refusedByProxy: number;
  refusedByDaemon: number;
  /** Resources checked, by kind (e.g. the volumes container creates made on the fly). */
  checked: Record<string, number>;
}
const newTally = (): Tally => ({ runs: 0, created: 0, refusedByProxy: 0, refusedByDaemon: 0, checked: {} });

/**
 * Sends `request` through the proxy and checks the invariant on everything of
 * `kinds` the daemon holds afterwards; calls `check` (for the model) before
 * removing what was made. Failures name the request, the answer and what was made.
 */
async function sendAndCheck(
  request: RawRequest,
  kinds: readonly SnapshotKind[],
  tally: Tally,
  check?: (outcome: Outcome) => Promise<void>,
  timeoutMs?: number,
): Promise<void> {
  const before = await snapshot(socket(), kinds);
  const answer = await sendRaw(proxy.socketPath, request, timeoutMs);
  const made = created(before, await snapshot(socket(), kinds));
  const context = () =>
    `request: ${describeRequest(request)}\nanswer: ${answer.status} ${answer.proxyError ?? ""} ${answer.text.slice(0, 400)}\ncreated: ${describeSnapshot(made)}`;
  try {
    tally.runs++;
    if (answer.proxyError !== undefined) {
      tally.refusedByProxy++;
      expect(answer.status, "the proxy's refusal status").toBeGreaterThanOrEqual(400);
      expect(answer.status, "the proxy's refusal status").toBeLessThan(500);
      expect(isEmpty(made), "the proxy refused, yet something was created").toBe(true);
      return;
    }
    const labels = await labelsOfAll(socket(), made);
    for (const [what, found] of labels) {
      expect(found, `${what} lacks the proxy's labels`).toMatchObject(INJECTED);
      const kind = what.split(" ")[0]!;
      tally.checked[kind] = (tally.checked[kind] ?? 0) + 1;
    }
    if (isEmpty(made)) tally.refusedByDaemon++;
    else tally.created++;
    await check?.({ answer, made, labels });
  } catch (error) {
    // Every failure names the exact request, the answer and what was made.
    if (error instanceof Error) error.message = `${error.message}\n${context()}`;
    throw error;
  } finally {
    await removeAll(socket(), made);
  }
}

/** How many cases a property sends: all `max` within its time budget, never fewer than `min`. */
interface PropertyRuns {
  max: number;
  /**
   * Sent whatever the budget, so that the coverage checks hold on any machine:
   * with the fixed seed the first `min` cases include some the proxy refuses
   * and some the daemon makes (on a slow machine the test takes longer
   * instead of seeing fewer cases).
   */
  min: number;
}

/**
 * fc.assert with the fixed seed. Past the time budget, once `runs.min` cases
 * were sent, a run passes without sending anything (fast-check's own time
 * limits abandon a request in flight, whose effects would then land in the
 * next run's snapshot).
 */
async function runProperty<T>(
  arbitrary: fc.Arbitrary<T>,
  runs: PropertyRuns,
  predicate: (value: T) => Promise<void>,
  budgetMs = PROPERTY_BUDGET_MS,
): Promise<void> {
  const deadline = Date.now() + budgetMs;
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      if (sent >= runs.min && Date.now() > deadline) return;
      sent++;
      await predicate(value);
    }),
    { seed: SEED, numRuns: runs.max },
  );
}

/** The property really exercised both sides: some requests made something, some were refused. */
function expectCoverage(tally: Tally, runs: PropertyRuns): void {
  console.log(`[labels-adversarial] ${expect.getState().currentTestName ?? ""}: ${JSON.stringify(tally)}`);
  expect(tally.runs, JSON.stringify(tally)).toBeGreaterThanOrEqual(runs.min);
  expect(tally.created, JSON.stringify(tally)).toBeGreaterThan(tally.runs / 5);
  expect(tally.refusedByProxy, JSON.stringify(tally)).toBeGreaterThan(0);
}

const asObject = (labels: Map<string, string>): Labels => Object.fromEntries(labels);

// ---------------------------------------------------------------------------
// Generators of whole requests.

const jsonContentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"), weight: 12 },
  { arbitrary: fc.constantFrom<string | undefined>("text/plain", "application/x-www-form-urlencoded", "application/jsonx", undefined), weight: 1 },
);

const contentTypeHeader = (value: string | undefined): Array<[string, string]> => (value === undefined ? [] : [["Content-Type", value]]);

/** `/containers/create` as clients and attackers may spell it; the daemon creates on each. */
const CONTAINER_ROUTES = [
  "/containers/create",
  "/v1.41/containers/create",
  "/v1.24/containers/create",
  "/v01.41/containers/create",
  "/%63ontainers/create",
  "/containers%2Fcreate",
  "/containers%2fcreate",
  "/v1.41/%63ontainer%73%2Fcreate",
  "/containers/create?name=",
];
/** Spellings the daemon answers with a redirect or a 404 (the proxy rewrites them anyway). */
const ODD_CONTAINER_ROUTES = ["/containers/create/", "//containers/create", "/containers/./create", "/v1.41/containers/create/"];
const containerRoute = fc.oneof({ arbitrary: fc.constantFrom(...CONTAINER_ROUTES), weight: 6 }, { arbitrary: fc.constantFrom(...ODD_CONTAINER_ROUTES), weight: 1 });

interface MountModel {
  text: string;
  /** The volume name when Go reads this as a named volume mount. */
  volume: string | undefined;
}

function mountObject(index: number): fc.Arbitrary<MountModel> {
  const type = fc.oneof(
    { arbitrary: fc.constant("volume"), weight: 6 },
    { arbitrary: fc.constantFrom("Volume", "tmpfs", "VOLUME"), weight: 1 },
  );
  return fc
    .record({
      type,
      typeKey: spelledKey("Type", 9, 1),
      sourceKey: spelledKey("Source", 9, 1),
      targetKey: spelledKey("Target"),
      volumeOptions: fc.option(fc.tuple(spelledKey("VolumeOptions", 9, 1), labelsMember()), { nil: undefined }),
      spaces: fc.array(whitespace, { maxLength: 3 }),
    })
    .chain((m) =>
      stringLiteral(m.type).map((typeLiteral) => {
        const name = `adv-mount-${index}`;
        const members = [member(m.typeKey.literal, typeLiteral), member(m.targetKey.literal, `"/m${index}"`)];
        if (m.type !== "tmpfs") members.push(member(m.sourceKey.literal, `"${name}"`));
        if (m.volumeOptions !== undefined) {
          const [key, labels] = m.volumeOptions;
          members.push(member(key.literal, objectText([labels.text], m.spaces)));
        }
        const isVolume = m.type === "volume" && m.typeKey.binds && m.sourceKey.binds && m.targetKey.binds;
        return { text: objectText(members, m.spaces), volume: isVolume ? name : undefined };
      }),
    );
}

interface HostConfigModel {
  text: string;
  binds: boolean;
  /** The Memory literal when it is an integer Go stores as given. */
  memory: string | undefined;
  networkMode: string | undefined;
  /** Named volumes its Mounts and Binds make on the fly, as Go reads them. */
  volumes: string[];
}

/**
 * `Binds` values: named volumes (made on the fly; a bind entry has no field
 * for labels) and host paths. Not anonymous volumes (`"/path"`): they have no
 * name to label ahead of time, and go with their labelled container (reaped
 * with `rm -v`), so the invariant does not hold for them.
 */
const BIND_LISTS = [
  { text: '["adv-bind:/b"]', volumes: ["adv-bind"] },
  { text: '["adv-bind:/b:ro,nocopy","/tmp:/host-tmp:ro"]', volumes: ["adv-bind"] },
  { text: '["adv-bind:/b","adv-bind-2:/c:rw"]', volumes: ["adv-bind", "adv-bind-2"] },
  { text: '["adv-\\u0062ind:/e"]', volumes: ["adv-bind"] },
  { text: "null", volumes: [] },
];

const MEMORY_LITERALS = [
  { text: "9007199254740993", exact: true },
  { text: "9007199254740993", exact: true },
  { text: "6291457", exact: true },
  { text: "9223372036854775807", exact: true },
  { text: "1e9", exact: false },
  { text: "9007199254740993.0", exact: false },
];

const hostConfig: fc.Arbitrary<HostConfigModel> = fc
  .record({
    key: spelledKey("HostConfig", 8, 1),
    memory: fc.option(fc.tuple(spelledKey("Memory", 1, 0), fc.constantFrom(...MEMORY_LITERALS)), { nil: undefined }),
    networkMode: fc.option(fc.tuple(spelledKey("NetworkMode", 1, 0), fc.constantFrom("none", "bridge")), { nil: undefined }),
    mounts: fc.option(fc.tuple(spelledKey("Mounts", 8, 1), mountObject(0), fc.option(mountObject(1), { nil: undefined })), { nil: undefined }),
    binds: fc.option(fc.tuple(spelledKey("Binds", 8, 1), fc.constantFrom(...BIND_LISTS)), { nil: undefined }),
    spaces: fc.array(whitespace, { maxLength: 3 }),
  })
  .map((h) => {
    const members: string[] = [];
    if (h.memory) members.push(member(h.memory[0].literal, h.memory[1].text));
    if (h.networkMode) members.push(member(h.networkMode[0].literal, `"${h.networkMode[1]}"`));
    if (h.mounts) {
      const [key, first, second] = h.mounts;
      members.push(member(key.literal, `[${[first, ...(second ? [second] : [])].map((m) => m.text).join(",")}]`));
    }
    if (h.binds) members.push(member(h.binds[0].literal, h.binds[1].text));
    const mountVolumes = h.mounts && h.mounts[0].binds ? [h.mounts[1], h.mounts[2]].flatMap((m) => (m?.volume ? [m.volume] : [])) : [];
    const bindVolumes = h.binds && h.binds[0].binds ? h.binds[1].volumes : [];
    return {
      text: member(h.key.literal, objectText(members, h.spaces)),
      binds: h.key.binds,
      memory: h.memory && h.memory[1].exact ? h.memory[1].text : undefined,
      networkMode: h.networkMode?.[1],
      volumes: [...mountVolumes, ...bindVolumes],
    };
  });

/** Members Go ignores, or applies to fields that are not labels. */
const noiseMember: fc.Arbitrary<string> = fc.constantFrom(
  '"Env":["A=1"]',
  '"Labelz":{"x":"y"}',
  '"Config":{"Labels":{"evil":"1"}}',
  '"NetworkingConfig":null',
  '"StopTimeout":10',
  '"Hostname":"adv"',
  '"Tty":false',
  '"\\u0048ostname":"escaped"',
);

/** Top-level host settings an old daemon reads when there is no HostConfig (the proxy refuses them). */
const legacyMember: fc.Arbitrary<{ text: string; binds: boolean }> = fc.oneof(
  spelledKey("CgroupParent", 3, 1).map((key) => ({ text: member(key.literal, '"/legacy"'), binds: key.binds })),
  spelledKey("Mounts", 3, 1).map((key) => ({
    text: member(key.literal, '[{"Type":"volume","Source":"adv-legacy","Target":"/legacy"}]'),
    binds: key.binds,
  })),
);

interface ContainerCase {
  request: RawRequest;
  imageBinds: boolean;
  labels: LabelsMember[];
  hostConfigs: HostConfigModel[];
  garbage: boolean;
}

const containerCase: fc.Arbitrary<ContainerCase> = fc
  .record({
    route: containerRoute,
    contentType: jsonContentType,
    imageKey: spelledKey("Image", 12, 1),
    labels: fc.array(labelsMember(), { maxLength: 3 }),
    hostConfigs: fc.oneof(
      { arbitrary: fc.array(hostConfig, { minLength: 0, maxLength: 1 }), weight: 10 },
      { arbitrary: fc.array(hostConfig, { minLength: 2, maxLength: 2 }), weight: 1 },
    ),
    legacy: fc.oneof(
      { arbitrary: fc.constant<Array<{ text: string; binds: boolean }>>([]), weight: 8 },
      { arbitrary: legacyMember.map((l) => [l]), weight: 1 },
    ),
    noise: fc.array(noiseMember, { maxLength: 2 }),
    // Deprecated top-level Binds: the daemon applies them when there is no HostConfig member.
    topLevelBinds: fc.option(spelledKey("Binds", 3, 1).map((key) => member(key.literal, '["adv-top-bind:/top"]')), { nil: undefined }),
    spaces: fc.array(whitespace, { maxLength: 4 }),
    leading: whitespace,
    trailer,
    chunks: chunking,
    expectContinue: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
  })
  .chain((c) =>
    interleave<string>([
      [member(c.imageKey.literal, `"${BUSYBOX_IMAGE}"`), '"Cmd":["true"]'],
      c.labels.map((l) => l.text),
      c.hostConfigs.map((h) => h.text),
      c.legacy.map((l) => l.text),
      c.topLevelBinds === undefined ? [] : [c.topLevelBinds],
      c.noise,
    ]).map((members) => {
      const body = `${c.leading}${objectText(members, c.spaces)}${c.trailer.text}`;
      return {
        request: {
          target: c.route,
          headers: [...contentTypeHeader(c.contentType), ...(c.expectContinue ? ([["Expect", "100-continue"]] as Array<[string, string]>) : [])],
          body,
          ...(c.chunks ? { chunks: c.chunks } : {}),
        },
        imageBinds: c.imageKey.binds,
        labels: c.labels,
        hostConfigs: c.hostConfigs,
        garbage: c.trailer.garbage,
      };
    }),
  );

// ---------------------------------------------------------------------------

describe(`property tests through the proxy (fast-check seed ${SEED})`, () => {
  it(
    "container create: refused by the proxy with nothing created, or every container and volume made is labelled (and the client's labels and int64 numbers are kept)",
    async () => {
      const tally = newTally();
      await runProperty(containerCase, CONTAINER_RUNS, (c) =>
        sendAndCheck(c.request, ["containers", "volumes"], tally, async ({ answer, made }) => {
          expect(c.garbage, "bytes after the JSON value must be refused").toBe(false);
          if (answer.status !== 201) return;
          const id = (JSON.parse(answer.text) as { Id: string }).Id;
          expect(made.containers.has(id)).toBe(true);
          const client = effectiveLabels(c.labels);
          if (client !== undefined) {
            // Without an Image member Go binds, dockerd 20.10 makes a container with no image (and no image labels).
            const fromImage = c.imageBinds ? baseImageLabels : {};
            expect(await containerLabels(socket(), id)).toEqual({ ...fromImage, ...asObject(client), ...INJECTED });
          }
          const [host] = c.hostConfigs;
          if (host?.binds) {
            const inspect = await getText(socket(), `/containers/${id}/json`);
            // Not JSON.parse: it would round 9007199254740993.
            if (host.memory !== undefined) expect(inspect).toContain(`"Memory":${host.memory},`);
            if (host.networkMode !== undefined) {
              expect((JSON.parse(inspect) as { HostConfig: { NetworkMode: string } }).HostConfig.NetworkMode).toBe(host.networkMode);
            }
            for (const volume of host.volumes) {
              expect(made.volumes.has(volume), `volume ${volume} made on the fly`).toBe(true);
              expect(await volumeLabels(socket(), volume)).toMatchObject(INJECTED);
            }
          }
        }),
      );
      expectCoverage(tally, CONTAINER_RUNS);
    },
    PROPERTY_TEST_TIMEOUT_MS,
  );

  const NETWORK_ROUTES = ["/networks/create", "/v1.41/networks/create", "/v1.24/networks/create", "/%6Eetworks/create", "/networks%2Fcreate"];

  function labelsOnlyCase(nameField: string, name: string, routes: readonly string[], extra: readonly string[]) {
    return fc
      .record({
        route: fc.constantFrom(...routes),
        contentType: jsonContentType,
        nameKey: spelledKey(nameField, 12, 1),
        labels: fc.array(labelsMember(), { maxLength: 3 }),
        extra: fc.subarray([...extra]),
        spaces: fc.array(whitespace, { maxLength: 4 }),
        trailer,
        chunks: chunking,
      })
      .chain((c) =>
        interleave<string>([[member(c.nameKey.literal, `"${name}"`)], c.labels.map((l) => l.text), c.extra]).map((members) => ({
          request: {
            target: c.route,
            headers: contentTypeHeader(c.contentType),
            body: `${objectText(members, c.spaces)}${c.trailer.text}`,
            ...(c.chunks ? { chunks: c.chunks } : {}),
          } satisfies RawRequest,
          labels: c.labels,
          garbage: c.trailer.garbage,
        })),
      );
  }

  it(
    "network create: refused with nothing created, or the network is labelled with the client's labels kept",
    async () => {
      const tally = newTally();
      const cases = labelsOnlyCase("Name", "adv-net", NETWORK_ROUTES, ['"Driver":"bridge"', '"CheckDuplicate":true', '"Internal":true', '"Options":{}', '"Attachable":false']);
      await runProperty(cases, NETWORK_RUNS, (c) =>
        sendAndCheck(c.request, ["networks"], tally, async ({ made }) => {
          expect(c.garbage, "bytes after the JSON value must be refused").toBe(false);
          const client = effectiveLabels(c.labels);
          for (const id of made.networks) {
            if (client !== undefined) expect(await networkLabels(socket(), id)).toEqual({ ...asObject(client), ...INJECTED });
          }
        }),
      );
      expectCoverage(tally, NETWORK_RUNS);
    },
    PROPERTY_TEST_TIMEOUT_MS,
  );

  const VOLUME_ROUTES = ["/volumes/create", "/v1.41/volumes/create", "/v1.24/volumes/create", "/%76olumes/create", "/volumes%2Fcreate"];

  it(
    "volume create: refused with nothing created, or the volume (named or anonymous) is labelled with the client's labels kept",
    async () => {
      const tally = newTally();
      const cases = labelsOnlyCase("Name", "adv-vol", VOLUME_ROUTES, ['"Driver":"local"', '"DriverOpts":{}']);
      await runProperty(cases, VOLUME_RUNS, (c) =>
        sendAndCheck(c.request, ["volumes"], tally, async ({ made }) => {
          expect(c.garbage, "bytes after the JSON value must be refused").toBe(false);
          const client = effectiveLabels(c.labels);
          for (const name of made.volumes) {
            if (client !== undefined) expect(await volumeLabels(socket(), name)).toEqual({ ...asObject(client), ...INJECTED });
          }
        }),
      );
      expectCoverage(tally, VOLUME_RUNS);
    },
    PROPERTY_TEST_TIMEOUT_MS,
  );

  // /build: `labels` is a JSON object in the query; the daemon takes the FIRST
  // pair whose decoded key is exactly "labels" (Go's FormValue).
  const LABELS_PARAM_KEYS = [
    { raw: "labels", binds: true },
    { raw: "labels", binds: true },
    { raw: "label%73", binds: true },
    { raw: "%6Cabels", binds: true },
    { raw: "lab%65ls", binds: true },
    { raw: "Labels", binds: false },
    { raw: "labels+", binds: false },
    { raw: "labels%20", binds: false },
    { raw: "%20labels", binds: false },
    { raw: "label", binds: false },
  ];

  interface LabelsParam {
    raw: string;
    binds: boolean;
    /** What the daemon makes of the value: labels, none, or an error (the proxy refuses those). */
    meaning: { kind: "labels"; labels: Map<string, string> } | { kind: "none" } | { kind: "invalid" };
  }

  const labelsParam: fc.Arbitrary<LabelsParam> = fc
    .tuple(
      fc.constantFrom(...LABELS_PARAM_KEYS),
      fc.oneof(
        { arbitrary: labelObject.map((o) => ({ text: o.text, meaning: { kind: "labels" as const, labels: o.labels } })), weight: 6 },
        { arbitrary: fc.constantFrom("", "null", " null ").map((text) => ({ text, meaning: { kind: "none" as const } })), weight: 1 },
        { arbitrary: fc.constantFrom("{", "[]", '"a"', '{"a":1}', "{} x").map((text) => ({ text, meaning: { kind: "invalid" as const } })), weight: 1 },
      ),
    )
    .chain(([key, value]) => queryValue(value.text).map((encoded) => ({ raw: `${key.raw}=${encoded}`, binds: key.binds, meaning: value.meaning })));

  it(
    "classic build: refused with nothing created, or the image is labelled over the Dockerfile's and the first `labels` parameter's",
    async () => {
      const tally = newTally();
      const cases = fc
        .record({
          route: fc.constantFrom("/build", "/v1.41/build", "/v1.24/build", "/%62uild"),
          contentType: fc.oneof(
            { arbitrary: fc.constantFrom<string | undefined>("application/x-tar", undefined), weight: 8 },
            { arbitrary: fc.constant("application/x-www-form-urlencoded"), weight: 1 },
          ),
          params: fc.array(labelsParam, { maxLength: 3 }),
          extra: fc.subarray(["q=1", "rm=1", "nocache=1", "version=1", "forcerm=1"]),
          // Each Dockerfile step costs about a second: most builds have none but FROM.
          dockerfileLabel: fc.constantFrom("", "", "", `LABEL ${DEFAULT_LABEL_NAME}=from-dockerfile df=1\n`, 'LABEL df="two words"\n'),
          chunks: chunking,
        })
        .chain((c) =>
          // The tar body is made in the run, so that a counterexample prints readably.
          interleave<string>([["t=adv-build:latest"], c.params.map((p) => p.raw), c.extra]).map((pairs) => ({
            target: `${c.route}?${pairs.join("&")}`,
            headers: contentTypeHeader(c.contentType),
            ...(c.chunks ? { chunks: c.chunks } : {}),
            dockerfile: `FROM ${BUSYBOX_IMAGE}\n${c.dockerfileLabel}`,
            params: c.params,
            dockerfileLabel: c.dockerfileLabel,
          })),
        );
      await runProperty(cases, BUILD_RUNS, (c) =>
        sendAndCheck(
          { target: c.target, headers: c.headers, body: dockerfileContext(c.dockerfile), ...(c.chunks ? { chunks: c.chunks } : {}) },
          ["images", "containers"],
          tally,
          async ({ answer, made }) => {
            if (made.images.size === 0) return;
            expect(answer.text).not.toContain("errorDetail");
            const first = c.params.find((p) => p.binds);
            if (first?.meaning.kind === "invalid") throw new Error("the daemon built with a `labels` value it cannot read");
            const client = first?.meaning.kind === "labels" ? asObject(first.meaning.labels) : {};
            const fromDockerfile: Labels = c.dockerfileLabel.includes("from-dockerfile")
              ? { [DEFAULT_LABEL_NAME]: "from-dockerfile", df: "1" }
              : c.dockerfileLabel.includes("two words")
                ? { df: "two words" }
                : {};
            expect(await imageLabels(socket(), "adv-build:latest")).toEqual({ ...baseImageLabels, ...fromDockerfile, ...client, ...INJECTED });
          },
          60_000,
        ),
        BUILD_PROPERTY_BUDGET_MS,
      );
      expectCoverage(tally, BUILD_RUNS);
    },
    PROPERTY_TEST_TIMEOUT_MS,
  );

  // Import: every `changes` value is a Dockerfile line; the daemon joins them with "\n".
  const CHANGES_KEYS = [
    { raw: "changes", binds: true },
    { raw: "changes", binds: true },
    { raw: "chang%65s", binds: true },
    { raw: "%63hanges", binds: true },
    { raw: "Changes", binds: false },
    { raw: "change", binds: false },
    { raw: "changes+", binds: false },
  ];
  /** Client change lines; `labels`: what a line sets, when it is one the proxy should let through. */
  const CHANGE_LINES: Array<{ line: string; labels: Labels }> = [
    { line: "LABEL imp=1", labels: { imp: "1" } },
    { line: `LABEL ${DEFAULT_LABEL_NAME}=client`, labels: { [DEFAULT_LABEL_NAME]: "client" } },
    { line: `LABEL "${QUOTING_KEY}"="client"`, labels: { [QUOTING_KEY]: "client" } },
    { line: 'LABEL two="words here"', labels: { two: "words here" } },
    { line: "ENV X=1", labels: {} },
    { line: "WORKDIR /tmp", labels: {} },
  ];
  /** Lines that would change how the proxy's own LABEL lines after them are read: the proxy must refuse them. */
  const DANGEROUS_CHANGE_LINES: Array<{ line: string; labels: Labels }> = [
    { line: "LABEL a=b \\", labels: {} },
    { line: "LABEL a=b `", labels: {} },
    { line: "# escape=`", labels: {} },
    { line: "\u0085# escape=`", labels: {} },
    { line: "\u00a0# escape=`", labels: {} },
    { line: "ONBUILD RUN <<EOF", labels: {} },
    { line: "LABEL a=b\nLABEL c=d", labels: {} },
  ];

  it(
    "image import: refused with nothing created, or the image carries the proxy's labels exactly, after the client's changes",
    async () => {
      const tally = newTally();
      const changeParam = fc
        .tuple(
          fc.constantFrom(...CHANGES_KEYS),
          fc.oneof({ arbitrary: fc.constantFrom(...CHANGE_LINES), weight: 4 }, { arbitrary: fc.constantFrom(...DANGEROUS_CHANGE_LINES), weight: 1 }),
        )
        .chain(([key, change]) => queryValue(change.line).map((encoded) => ({ raw: `${key.raw}=${encoded}`, binds: key.binds, change })));
      const cases = fc
        .record({
          route: fc.constantFrom("/images/create", "/v1.41/images/create", "/%69mages/create", "/images%2Fcreate"),
          contentType: fc.oneof(
            { arbitrary: fc.constantFrom<string | undefined>("application/x-tar", undefined), weight: 8 },
            { arbitrary: fc.constant("application/x-www-form-urlencoded"), weight: 1 },
          ),
          fromImage: fc.constantFrom("", "fromImage=&"),
          changes: fc.array(changeParam, { maxLength: 3 }),
          chunks: chunking,
        })
        .chain((c) =>
          interleave<string>([["fromSrc=-", "repo=adv-import", "tag=latest"], c.changes.map((p) => p.raw)]).map((pairs) => ({
            target: `${c.route}?${c.fromImage}${pairs.join("&")}`,
            headers: contentTypeHeader(c.contentType),
            ...(c.chunks ? { chunks: c.chunks } : {}),
            changes: c.changes,
          })),
        );
      const rootfs = tar([{ name: "etc/" }, { name: "etc/adv", content: "adversarial import\n" }]);
      await runProperty(cases, IMPORT_RUNS, (c) =>
        sendAndCheck({ target: c.target, headers: c.headers, body: rootfs, ...(c.chunks ? { chunks: c.chunks } : {}) }, ["images"], tally, async ({ made }) => {
          if (made.images.size === 0) return;
          const client: Labels = {};
          for (const p of c.changes) if (p.binds) Object.assign(client, p.change.labels);
          expect(await imageLabels(socket(), "adv-import:latest")).toEqual({ ...client, ...INJECTED });
        }),
        IMPORT_PROPERTY_BUDGET_MS,
      );
      expectCoverage(tally, IMPORT_RUNS);
    },
    PROPERTY_TEST_TIMEOUT_MS,
  );
  // Services: the service's Labels and its task containers' (TaskTemplate.ContainerSpec.Labels).
  // Zero replicas, so that no task container appears while other properties run.
  describe("in swarm mode (initialised on the daemon directly)", () => {
    beforeAll(async () => {
      await initSwarm(socket());
    });

    interface ServiceCase {
      target: string;
      headers: Array<[string, string]>;
      chunks?: number[];
      /** The body with `__NAME__` where the service's name goes. */
      body: string;
      labels: LabelsMember[];
      specLabels: LabelsMember[];
      garbage: boolean;
    }

    const serviceCase: fc.Arbitrary<ServiceCase> = fc
      .record({
        route: fc.constantFrom("/services/create", "/v1.41/services/create", "/%73ervices/create", "/services%2Fcreate"),
        contentType: jsonContentType,
        labels: fc.array(labelsMember(), { maxLength: 2 }),
        taskTemplateKeys: fc.oneof(
          { arbitrary: fc.array(spelledKey("TaskTemplate", 12, 1), { minLength: 1, maxLength: 1 }), weight: 12 },
          { arbitrary: fc.array(spelledKey("TaskTemplate"), { minLength: 2, maxLength: 2 }), weight: 1 },
        ),
        containerSpecKey: spelledKey("ContainerSpec", 12, 1),
        imageKey: spelledKey("Image", 12, 1),
        specLabels: fc.array(labelsMember(), { maxLength: 2 }),
        runtime: fc.constantFrom(undefined, undefined, undefined, '"Runtime":"container"', '"Runtime":""', '"PluginSpec":null'),
        spaces: fc.array(whitespace, { maxLength: 3 }),
        trailer,
        chunks: chunking,
      })
      .chain((c) =>
        interleave<string>([c.specLabels.map((l) => l.text), [member(c.imageKey.literal, `"${BUSYBOX_IMAGE}"`), '"Command":["sleep","60"]']]).chain(
          (specMembers) =>
            interleave<string>([
              ['"Name":"__NAME__"', '"Mode":{"Replicated":{"Replicas":0}}'],
              c.labels.map((l) => l.text),
              c.taskTemplateKeys.map((key) =>
                member(
                  key.literal,
                  objectText([member(c.containerSpecKey.literal, objectText(specMembers, c.spaces)), ...(c.runtime ? [c.runtime] : [])], c.spaces),
                ),
              ),
            ]).map((members) => ({
              target: c.route,
              headers: contentTypeHeader(c.contentType),
              ...(c.chunks ? { chunks: c.chunks } : {}),
              body: `${objectText(members, c.spaces)}${c.trailer.text}`,
              labels: c.labels,
              specLabels: c.specLabels,
              garbage: c.trailer.garbage,
            })),
        ),
      );

    async function serviceIds(): Promise<Set<string>> {
      return new Set((await getJson<Array<{ ID: string }>>(socket(), "/services")).map((service) => service.ID));
    }

    interface ServiceInspect {
      ID: string;
      Version: { Index: number };
      Spec: { Labels?: Labels | null; TaskTemplate?: { ContainerSpec?: { Labels?: Labels | null } } };
    }

    /** The model's expectation for one service made or updated from `c`. */
    async function expectServiceLabelled(id: string, c: ServiceCase, what: string): Promise<void> {
      const service = await getJson<ServiceInspect>(socket(), `/services/${id}`);
      const own = service.Spec.Labels ?? {};
      const tasks = service.Spec.TaskTemplate?.ContainerSpec?.Labels ?? {};
      expect(own, `${what}: service labels`).toMatchObject(INJECTED);
      expect(tasks, `${what}: task container labels`).toMatchObject(INJECTED);
      const client = effectiveLabels(c.labels);
      if (client !== undefined) expect(own, `${what}: service labels`).toEqual({ ...asObject(client), ...INJECTED });
      const clientSpec = effectiveLabels(c.specLabels);
      if (clientSpec !== undefined) expect(tasks, `${what}: task container labels`).toEqual({ ...asObject(clientSpec), ...INJECTED });
    }

    it(
      "service create, and update of a service made directly: refused with nothing changed, or the service and its task spec are labelled",
      async () => {
        const tally = newTally();
        await runProperty(serviceCase, SERVICE_RUNS, async (c) => {
          // Made directly, so unlabelled: an update through the proxy must label it.
          const direct = await dockerApi(socket(), "POST", "/services/create", {
            Name: "adv-svc-direct",
            Mode: { Replicated: { Replicas: 0 } },
            TaskTemplate: { ContainerSpec: { Image: BUSYBOX_IMAGE, Command: ["sleep", "60"] } },
          });
          expect(direct.status, direct.body).toBe(201);
          const directId = (JSON.parse(direct.body) as { ID: string }).ID;
          const before = await serviceIds();
          const request: RawRequest = { target: c.target, headers: c.headers, body: c.body.replace("__NAME__", "adv-svc"), ...(c.chunks ? { chunks: c.chunks } : {}) };
          const made = [...(await sendAndServices(request, before))];
          try {
            const version = (await getJson<ServiceInspect>(socket(), `/services/${directId}`)).Version.Index;
            const update: RawRequest = {
              ...request,
              target: `${c.target.replace(/create$/, `${directId}/update`).replace(/%2Fcreate$/, `%2F${directId}%2Fupdate`)}?version=${version}`,
              body: c.body.replace("__NAME__", "adv-svc-direct"),
            };
            const updated = await sendRaw(proxy.socketPath, update);
            const after = await getJson<ServiceInspect>(socket(), `/services/${directId}`);
            const context = `update: ${describeRequest(update)}\nanswer: ${updated.status} ${updated.text.slice(0, 300)}`;
            tally.runs++;
            if (updated.proxyError !== undefined) {
              tally.refusedByProxy++;
              expect(after.Version.Index, `refused by the proxy, yet the service changed\n${context}`).toBe(version);
            } else if (after.Version.Index !== version) {
              tally.created++;
              expect(c.garbage, "bytes after the JSON value must be refused").toBe(false);
              await expectServiceLabelled(directId, c, `updated\n${context}`);
            } else {
              tally.refusedByDaemon++;
            }
            for (const id of made) await expectServiceLabelled(id, c, `created\n${describeRequest(request)}`);
          } finally {
            for (const id of [...made, directId]) await dockerApi(socket(), "DELETE", `/services/${id}`);
          }
        });
        expectCoverage(tally, SERVICE_RUNS);
      },
      PROPERTY_TEST_TIMEOUT_MS,
    );

    it("a rollback, asked for or on failure, is refused when the spec it restores lacks the labels (a service made directly), and allowed when it carries them", async () => {
      const spec = (name: string, command: string) => ({
        Name: name,
        Mode: { Replicated: { Replicas: 0 } },
        TaskTemplate: { ContainerSpec: { Image: BUSYBOX_IMAGE, Command: ["sleep", command] } },
      });
      const json: Array<[string, string]> = [["Content-Type", "application/json"]];
      const inspect = (id: string) => getJson<ServiceInspect>(socket(), `/services/${id}`);
      const updateThroughProxy = async (id: string, body: object, query = "") => {
        const version = (await inspect(id)).Version.Index;
        return sendRaw(proxy.socketPath, { target: `/services/${id}/update?version=${version}${query}`, headers: json, body: JSON.stringify(body) });
      };

      const direct = await dockerApi(socket(), "POST", "/services/create", spec("adv-rollback-direct", "60"));
      const directId = (JSON.parse(direct.body) as { ID: string }).ID;
      expect((await updateThroughProxy(directId, spec("adv-rollback-direct", "61"))).status).toBe(200);
      const refused = await updateThroughProxy(directId, spec("adv-rollback-direct", "61"), "&rollback=previous");
      expect({ status: refused.status, error: refused.proxyError }).toEqual({ status: 403, error: "DCP_CANNOT_LABEL" });
      const kept = (await inspect(directId)).Spec;
      expect(kept.Labels).toMatchObject(INJECTED);
      expect(kept.TaskTemplate?.ContainerSpec?.Labels).toMatchObject(INJECTED);
      // Directly, the same rollback does restore the unlabelled spec: that is why it is refused.
      const directRollback = await dockerApi(socket(), "POST", `/services/${directId}/update?version=${(await inspect(directId)).Version.Index}&rollback=previous`, spec("adv-rollback-direct", "61"));
      expect(directRollback.status, directRollback.body).toBe(200);
      expect((await inspect(directId)).Spec.Labels ?? {}).not.toHaveProperty(DEFAULT_LABEL_NAME);

      const proxied = await sendRaw(proxy.socketPath, { target: "/services/create", headers: json, body: JSON.stringify(spec("adv-rollback-proxied", "60")) });
      const proxiedId = (JSON.parse(proxied.text) as { ID: string }).ID;
      expect((await updateThroughProxy(proxiedId, spec("adv-rollback-proxied", "61"))).status).toBe(200);
      const allowed = await updateThroughProxy(proxiedId, spec("adv-rollback-proxied", "61"), "&rollback=previous");
      expect(allowed.status, allowed.text).toBe(200);
      const restored = (await inspect(proxiedId)).Spec;
      expect(restored.Labels).toMatchObject(INJECTED);
      expect(restored.TaskTemplate?.ContainerSpec?.Labels).toMatchObject(INJECTED);

      // An update that rolls back by itself on failure would restore the current spec: same rule.
      const onFailure = (name: string, action: string) => ({ ...spec(name, "62"), UpdateConfig: { FailureAction: action } });
      const automatic = await updateThroughProxy(directId, onFailure("adv-rollback-direct", "rollback"));
      expect({ status: automatic.status, error: automatic.proxyError }).toEqual({ status: 403, error: "DCP_CANNOT_LABEL" });
      expect((await updateThroughProxy(directId, onFailure("adv-rollback-direct", "pause"))).status).toBe(200);
      expect((await updateThroughProxy(proxiedId, onFailure("adv-rollback-proxied", "rollback"))).status).toBe(200);
      for (const id of [directId, proxiedId]) await dockerApi(socket(), "DELETE", `/services/${id}`);
    });

    it("a task's volume mount typed \"VOLUME\" (swarm upper-cases Type) makes a labelled volume; a plugin task is refused", async () => {
      const json: Array<[string, string]> = [["Content-Type", "application/json"]];
      const body = {
        Name: "adv-upper-mount",
        Mode: { Replicated: { Replicas: 1 } },
        TaskTemplate: { ContainerSpec: { Image: BUSYBOX_IMAGE, Command: ["sleep", "300"], Mounts: [{ Type: "VOLUME", Source: "adv-upper-vol", Target: "/d" }] } },
      };
      const created = await sendRaw(proxy.socketPath, { target: "/services/create", headers: json, body: JSON.stringify(body) });
      expect(created.status, created.text).toBe(201);
      const id = (JSON.parse(created.text) as { ID: string }).ID;
      try {
        await waitFor("the task's volume", async () => ((await dockerApi(socket(), "GET", "/volumes/adv-upper-vol")).status === 200 ? true : undefined), 60_000);
        expect(await volumeLabels(socket(), "adv-upper-vol")).toMatchObject(INJECTED);
      } finally {
        await dockerApi(socket(), "DELETE", `/services/${id}`);
        await waitFor("the volume to be free", async () => ((await dockerApi(socket(), "DELETE", "/volumes/adv-upper-vol")).status !== 409 ? true : undefined), 60_000);
      }

      const plugin = await sendRaw(proxy.socketPath, {
        target: "/services/create",
        headers: json,
        body: JSON.stringify({ Name: "adv-plugin-task", TaskTemplate: { Runtime: "plugin", PluginSpec: { Name: "adv/plugin", Remote: "adv/plugin" } } }),
      });
      expect({ status: plugin.status, error: plugin.proxyError }).toEqual({ status: 403, error: "DCP_CANNOT_LABEL" });
    });

    /** Sends a service create; returns the services that appeared, after checking the refusal half of the invariant. */
    async function sendAndServices(request: RawRequest, before: Set<string>): Promise<Set<string>> {
      const answer = await sendRaw(proxy.socketPath, request);
      const made = new Set([...(await serviceIds())].filter((id) => !before.has(id)));
      if (answer.proxyError !== undefined) {
        expect(made.size, `the proxy refused, yet a service was created\n${describeRequest(request)}`).toBe(0);
        expect(answer.status).toBeLessThan(500);
      }
      return made;
    }
  });
});

// ---------------------------------------------------------------------------
// Named regressions, one per fact in DAEMON-FACTS.md the proxy must get right.

function createRequest(body: string, headers: Array<[string, string]> = [["Content-Type", "application/json"]], target = "/containers/create"): RawRequest {
  return { target, headers, body };
}

/** A busybox container running `sleep seconds`, made directly and not started: a `wait` on it, once started, is a slow request. */
async function createSleeper(seconds: number): Promise<string> {
  return (JSON.parse((await dockerApi(socket(), "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["sleep", String(seconds)] })).body) as { Id: string }).Id;
}

/** The same, started. */
async function startSleeper(seconds: number): Promise<string> {
  const id = await createSleeper(seconds);
  await dockerApi(socket(), "POST", `/containers/${id}/start`);
  return id;
}

/** Raw bytes of a `wait` on container `id`, for requests pipelined behind it. */
const waitOn = (id: string) => `POST /containers/${id}/wait HTTP/1.1\r\nHost: d\r\n\r\n`;

/** Raw bytes of a container create with a JSON body. */
const rawCreate = (body: string) =>
  `POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/** Sends through the proxy; expects a container; returns its inspect text and labels. */
async function expectCreated(request: RawRequest): Promise<{ id: string; labels: Labels; inspect: string }> {
  const answer = await sendRaw(proxy.socketPath, request);
  expect(answer.status, answer.text).toBe(201);
  const id = (JSON.parse(answer.text) as { Id: string }).Id;
  return { id, labels: await containerLabels(socket(), id), inspect: await getText(socket(), `/containers/${id}/json`) };
}

/** Sends through the proxy; expects the proxy's own 400 and nothing new on the daemon. */
async function expectRefused(request: RawRequest, code?: string): Promise<RawAnswer> {
  const before = await snapshot(socket());
  const answer = await sendRaw(proxy.socketPath, request);
  expect(answer.status, answer.text).toBe(400);
  expect(answer.proxyError, answer.text).toBeDefined();
  if (code !== undefined) expect(answer.proxyError).toBe(code);
  expect(answer.headers["content-type"]).toBe("application/json");
  expect(JSON.parse(answer.text)).toHaveProperty("message");
  const made = created(before, await snapshot(socket()));
  expect(describeSnapshot(made)).toBe("nothing");
  return answer;
}

const image = `"Image":"${BUSYBOX_IMAGE}"`;

describe("named regressions (DAEMON-FACTS.md)", () => {
  it('`"labels":{…}` (lower case) is read as Labels: the client\'s label kept, the proxy\'s added', async () => {
    const { labels } = await expectCreated(createRequest(`{${image},"labels":{"lower":"1"}}`));
    expect(labels).toEqual({ ...baseImageLabels, lower: "1", ...INJECTED });
  });

  it('`"Labelſ":null` after `"Labels":{…}` erases the client\'s labels, never the proxy\'s', async () => {
    const { labels } = await expectCreated(createRequest(`{${image},"Labels":{"a":"b","${DEFAULT_LABEL_NAME}":"client"},"Label\u017f":null}`));
    expect(labels).toEqual({ ...baseImageLabels, ...INJECTED });
  });

  it('`{"Labels":{"a":"b"},"labels":null}` makes a container with the proxy\'s labels only', async () => {
    const { labels } = await expectCreated(createRequest(`{${image},"Labels":{"a":"b"},"labels":null}`));
    expect(labels).toEqual({ ...baseImageLabels, ...INJECTED });
  });

  it('`"La\\u0062els"` (an escape in the key) and `"LABELS"` are read as Labels, repeats merged in order', async () => {
    const { labels } = await expectCreated(createRequest(`{${image},"La\\u0062els":{"a":"1","b":"1"},"LABELS":{"b":"2"},"Created-Via":"top-level-not-a-label"}`));
    expect(labels).toEqual({ ...baseImageLabels, a: "1", b: "2", ...INJECTED });
  });

  it('`"Memory": 9007199254740993` reaches the daemon exactly (checked in the raw inspect text)', async () => {
    const { inspect } = await expectCreated(createRequest(`{${image},"HostConfig":{"Memory": 9007199254740993}}`));
    expect(inspect).toContain('"Memory":9007199254740993,');
  });

  it("bytes after the JSON value are refused with a 400 (dockerd 20.10 would ignore them and create)", async () => {
    await expectRefused(createRequest(`{${image}} {"Labels":null}`), "DCP_INVALID_JSON");
    await expectRefused(createRequest(`{${image}}garbage`), "DCP_INVALID_JSON");
    // The daemon itself does create from such a body: that is why the proxy must refuse it.
    const direct = await dockerApi(socket(), "POST", "/containers/create", `{${image}}garbage`);
    expect(direct.status).toBe(201);
    await dockerApi(socket(), "DELETE", `/containers/${(JSON.parse(direct.body) as { Id: string }).Id}`);
  });

  it("a container start with a host config body (API before 1.24) is refused; the daemon would make unlabelled volumes and move the cgroup parent", async () => {
    const hostConfig = JSON.stringify({ Binds: ["start-bind:/b"], Mounts: [{ Type: "volume", Source: "start-mount", Target: "/m" }], CgroupParent: "/start-parent" });
    const container = async () => (JSON.parse((await dockerApi(socket(), "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["true"] })).body) as { Id: string }).Id;
    type Inspect = { HostConfig: { CgroupParent: string } };

    const refusedId = await container();
    await expectRefused({ target: `/v1.23/containers/${refusedId}/start`, headers: [["Content-Type", "application/json"]], body: hostConfig }, "DCP_HOST_CONFIG_ON_START");
    await expectRefused(
      { target: `/v1.23/containers/${refusedId}/start`, headers: [["Content-Type", "application/json"]], body: hostConfig, chunks: [5, 1000] },
      "DCP_HOST_CONFIG_ON_START",
    );
    expect((await getJson<Inspect>(socket(), `/containers/${refusedId}/json`)).HostConfig.CgroupParent).toBe("");
    // A body the daemon does not read still goes through, and starts the container.
    const started = await sendRaw(proxy.socketPath, { target: `/v1.23/containers/${refusedId}/start`, headers: [["Content-Type", "application/json"]], body: "{}" });
    expect(started.status, started.text).toBe(204);

    // Sent directly, the same start makes both volumes, unlabelled, and takes the body's parent.
    const directId = await container();
    const direct = await dockerApi(socket(), "POST", `/v1.23/containers/${directId}/start`, hostConfig);
    expect(direct.status, direct.body).toBe(204);
    expect((await getJson<Inspect>(socket(), `/containers/${directId}/json`)).HostConfig.CgroupParent).toBe("/start-parent");
    expect(await volumeLabels(socket(), "start-bind")).toEqual({});
    expect(await volumeLabels(socket(), "start-mount")).toEqual({});

    for (const id of [refusedId, directId]) await dockerApi(socket(), "DELETE", `/containers/${id}?force=1`);
    for (const name of ["start-bind", "start-mount"]) await dockerApi(socket(), "DELETE", `/volumes/${name}`);
  });

  it("a start with a host config body is refused when the container is named through a link alias too (/containers/{parent}/{alias}/start)", async () => {
    const create = async (name: string, body: object) =>
      (JSON.parse((await dockerApi(socket(), "POST", `/containers/create?name=${name}`, body)).body) as { Id: string }).Id;
    const childId = await create("alias-child", { Image: BUSYBOX_IMAGE, Cmd: ["true"] });
    const parentId = await create("alias-parent", { Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { Links: ["alias-child:al"] } });
    const hostConfig = JSON.stringify({ Binds: ["alias-start-bind:/b"], CgroupParent: "/alias-start-parent" });
    for (const target of ["/v1.23/containers/alias-parent/al/start", "/v1.23/containers/alias-parent%2Fal/start"]) {
      await expectRefused({ target, headers: [["Content-Type", "application/json"]], body: hostConfig }, "DCP_HOST_CONFIG_ON_START");
    }
    // Directly, the alias path does reach the linked container.
    const direct = await dockerApi(socket(), "POST", "/v1.23/containers/alias-parent/al/start", hostConfig);
    expect(direct.status, direct.body).toBe(204);
    expect((await getJson<{ HostConfig: { CgroupParent: string } }>(socket(), `/containers/${childId}/json`)).HostConfig.CgroupParent).toBe("/alias-start-parent");
    for (const id of [parentId, childId]) await dockerApi(socket(), "DELETE", `/containers/${id}?force=1`);
    await dockerApi(socket(), "DELETE", "/volumes/alias-start-bind");
  });

  it("plugin installs and swarm init/join are refused with 403 (what they create cannot carry labels), and reach nothing", async () => {
    type Info = { Swarm: { NodeID: string; LocalNodeState: string } };
    const swarmBefore = (await getJson<Info>(socket(), "/info")).Swarm;
    const pluginsBefore = await getText(socket(), "/plugins");
    const requests: RawRequest[] = [
      { target: "/plugins/create?name=adv-plugin", headers: [["Content-Type", "application/x-tar"]], body: tar([{ name: "config.json", content: "{}" }]) },
      { target: "/v1.41/plugins/pull?remote=adv/plugin", headers: [["Content-Type", "application/json"]], body: "[]" },
      { target: "/plugins/adv/plugin:latest/enable", headers: [], body: "" },
      { target: "/swarm/init", headers: [["Content-Type", "application/json"]], body: '{"ListenAddr":"127.0.0.1:2377","ForceNewCluster":true}' },
      { target: "/%73warm/join", headers: [["Content-Type", "application/json"]], body: '{"RemoteAddrs":["127.0.0.1:2377"]}' },
    ];
    for (const request of requests) {
      const answer = await sendRaw(proxy.socketPath, request);
      expect({ status: answer.status, error: answer.proxyError }, describeRequest(request)).toEqual({ status: 403, error: "DCP_CANNOT_LABEL" });
    }
    expect(await getText(socket(), "/plugins")).toBe(pluginsBefore);
    expect((await getJson<Info>(socket(), "/info")).Swarm).toMatchObject({ NodeID: swarmBefore.NodeID, LocalNodeState: swarmBefore.LocalNodeState });
  });

  it("a form-urlencoded body on /build is refused (its `labels` would override the query's)", async () => {
    await expectRefused(
      {
        target: "/build?t=form-build",
        headers: [["Content-Type", "application/x-www-form-urlencoded"]],
        body: `labels=${encodeURIComponent('{"a":"b"}')}&t=form-build`,
      },
      "DCP_BAD_CONTENT_TYPE",
    );
    await expectRefused(
      { target: "/build?t=form-build", headers: [["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"]], body: "labels=" },
      "DCP_BAD_CONTENT_TYPE",
    );
  });

  it("a form-urlencoded body on /commit is refused (its `changes` would join the query's)", async () => {
    const made = await dockerApi(socket(), "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["true"] });
    const id = (JSON.parse(made.body) as { Id: string }).Id;
    await expectRefused(
      {
        target: `/commit?container=${id}&repo=form-commit`,
        headers: [["Content-Type", "application/x-www-form-urlencoded"]],
        body: `changes=${encodeURIComponent(`LABEL ${DEFAULT_LABEL_NAME}=client`)}`,
      },
      "DCP_BAD_CONTENT_TYPE",
    );
    await dockerApi(socket(), "DELETE", `/containers/${id}`);
  });

  // Go lower-cases and trims the media type with Unicode rules: U+0130 (bytes C4 B0) becomes "i", and a
  // trailing U+00A0 (C2 A0) or U+0085 (C2 85) is trimmed. The head is latin1 here, one char per byte.
  it.each([
    ["application/x-www-form-urlencoded"],
    ["appl\u00c4\u00b0cation/x-www-form-urlencoded"],
    ["application/x-www-form-urlencoded\u00c2\u00a0"],
    ["APPL\u00c4\u00b0CATION/X-WWW-FORM-URLENCODED; charset=utf-8"],
  ])(
    "a form body on /images/create is refused even when the query asks for a pull (the body's `fromImage=` would turn it into an import): Content-Type %j",
    async (contentType) => {
      const repo = `form-import-${Buffer.from(contentType, "latin1").toString("hex").slice(-8)}`;
      const body = `fromImage=&fromSrc=-&repo=${repo}&tag=latest&changes=${encodeURIComponent("LABEL x=y")}`;
      const target = "/images/create?fromImage=local/no-such-image&tag=latest";
      await expectRefused({ target, headers: [["Content-Type", contentType]], body }, "DCP_BAD_CONTENT_TYPE");
      // The daemon does import from that request, with no label: that is why the proxy must refuse it.
      const direct = await sendRaw(socket(), { target, headers: [["Content-Type", contentType]], body: body.replace(repo, `${repo}-direct`) });
      expect(direct.status).toBe(200);
      expect(await imageLabels(socket(), `${repo}-direct:latest`)).toEqual({ x: "y" });
      await dockerApi(socket(), "DELETE", `/images/${repo}-direct:latest`);
    },
  );

  it("`Content-Type: text/plain` (or none) on a create with a body is refused", async () => {
    await expectRefused(createRequest(`{${image}}`, [["Content-Type", "text/plain"]]), "DCP_BAD_CONTENT_TYPE");
    await expectRefused(createRequest(`{${image}}`, []), "DCP_BAD_CONTENT_TYPE");
    await expectRefused(createRequest(`{${image}}`, [["Content-Type", "application/json"], ["Content-Type", "application/json"]]), "DCP_BAD_CONTENT_TYPE");
  });

  it("top-level legacy `CgroupParent` and `Mounts` are refused (without a HostConfig the daemon applies them)", async () => {
    await expectRefused(createRequest(`{${image},"CgroupParent":"/legacy"}`), "DCP_AMBIGUOUS_FIELD");
    await expectRefused(createRequest(`{${image},"Mounts":[{"Type":"volume","Source":"legacy-vol","Target":"/d"}]}`), "DCP_AMBIGUOUS_FIELD");
    await expectRefused(createRequest(`{${image},"mountſ":[],"HostConfig":{}}`), "DCP_AMBIGUOUS_FIELD");
    // What the daemon does with them directly: an unlabelled volume and a parent of the client's choosing.
    const direct = await dockerApi(socket(), "POST", "/containers/create", `{${image},"CgroupParent":"/legacy","Mounts":[{"Type":"volume","Source":"legacy-direct","Target":"/d"}]}`);
    expect(direct.status).toBe(201);
    const id = (JSON.parse(direct.body) as { Id: string }).Id;
    const inspect = await getJson<{ HostConfig: { CgroupParent: string } }>(socket(), `/containers/${id}/json`);
    expect(inspect.HostConfig.CgroupParent).toBe("/legacy");
    expect(await volumeLabels(socket(), "legacy-direct")).toEqual({});
    await dockerApi(socket(), "DELETE", `/containers/${id}?v=1`);
    await dockerApi(socket(), "DELETE", "/volumes/legacy-direct");
  });

  it("a create without HostConfig keeps its other top-level host settings, as the daemon applies them directly", async () => {
    // The proxy adds no HostConfig of its own: an empty one would hide these.
    const body = `{${image},"Cmd":["true"],"Binds":["/tmp:/host-tmp:ro"],"ReadonlyRootfs":true}`;
    const direct = await dockerApi(socket(), "POST", "/containers/create", body);
    expect(direct.status).toBe(201);
    const directId = (JSON.parse(direct.body) as { Id: string }).Id;
    const proxied = await expectCreated(createRequest(body));
    type HostSettings = { HostConfig: { Binds: string[] | null; ReadonlyRootfs: boolean } };
    const directHost = (await getJson<HostSettings>(socket(), `/containers/${directId}/json`)).HostConfig;
    const proxiedHost = (JSON.parse(proxied.inspect) as HostSettings).HostConfig;
    expect(directHost.Binds).toEqual(["/tmp:/host-tmp:ro"]);
    expect({ Binds: proxiedHost.Binds, ReadonlyRootfs: proxiedHost.ReadonlyRootfs }).toEqual({ Binds: directHost.Binds, ReadonlyRootfs: directHost.ReadonlyRootfs });
    expect(proxied.labels).toMatchObject({ [DEFAULT_LABEL_NAME]: DEFAULT_LABEL_VALUE });
    for (const id of [directId, proxied.id]) await dockerApi(socket(), "DELETE", `/containers/${id}`);
  });

  it("top-level Binds of a create without HostConfig: the named volume they make is labelled, as HostConfig.Binds' are", async () => {
    const { id } = await expectCreated(createRequest(`{${image},"Cmd":["true"],"Binds":["legacy-bind:/b"]}`));
    expect(await volumeLabels(socket(), "legacy-bind")).toMatchObject({ [DEFAULT_LABEL_NAME]: DEFAULT_LABEL_VALUE });
    await dockerApi(socket(), "DELETE", `/containers/${id}`);
    await dockerApi(socket(), "DELETE", "/volumes/legacy-bind");
  });

  it("a delete of a volume made ahead of a create waits for the create's answer (else the daemon would make the volume again, unlabelled)", async () => {
    // Many binds make the time between the first volume and the create long (each is a call to the daemon).
    const names = ["adv-race", ...Array.from({ length: 120 }, (_, i) => `adv-race-${i}`)];
    const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { Binds: names.map((name, i) => `${name}:/r${i}`) } });
    const order: string[] = [];
    const creating = sendRaw(proxy.socketPath, createRequest(body), 120_000).finally(() => order.push("create answered"));
    await waitFor("the first volume made ahead", async () => ((await dockerApi(socket(), "GET", "/volumes/adv-race")).status === 200 ? true : undefined), 30_000);
    const deleting = sendRaw(proxy.socketPath, { method: "DELETE", target: "/volumes/adv-race", headers: [] }, 60_000).finally(() => order.push("delete answered"));
    const [created, deleted] = await Promise.all([creating, deleting]);
    try {
      expect(created.status, created.text).toBe(201);
      expect(order).toEqual(["create answered", "delete answered"]);
      // The daemon's own answer for a volume in use, as after a direct create.
      expect({ status: deleted.status, proxyError: deleted.proxyError }).toEqual({ status: 409, proxyError: undefined });
      expect(deleted.text).toContain("in use");
      expect(await volumeLabels(socket(), "adv-race")).toMatchObject(INJECTED);
    } finally {
      if (created.status === 201) await dockerApi(socket(), "DELETE", `/containers/${(JSON.parse(created.text) as { Id: string }).Id}`);
      for (const name of names) await dockerApi(socket(), "DELETE", `/volumes/${name}`);
    }
  });

  it("a delete queued behind a slow request on its connection claims its volume only at its turn: a create meanwhile is not held up, and the delete then meets the volume in use", async () => {
    const sleeper = await startSleeper(2);
    const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { Binds: ["adv-queued:/q"] } });
    const deleter = await RawConnection.open(proxy.socketPath);
    const order: string[] = [];
    let containerId: string | undefined;
    try {
      // One write: the delete goes to the daemon only after the wait's answer.
      deleter.write(`${waitOn(sleeper)}DELETE /volumes/adv-queued HTTP/1.1\r\nHost: d\r\n\r\n`);
      const deleting = (async () => {
        await deleter.readResponse({ timeoutMs: 30_000 });
        const answer = await deleter.readResponse({ timeoutMs: 30_000 });
        order.push(`delete ${answer.status}`);
        return answer;
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const created = await sendRaw(proxy.socketPath, createRequest(body), 30_000);
      order.push(`create ${created.status}`);
      containerId = (JSON.parse(created.text) as { Id: string }).Id;
      const deleted = await deleting;
      expect(order).toEqual(["create 201", "delete 409"]);
      // The daemon's own answer: the new container uses the volume.
      expect(deleted.headers["x-docker-ci-proxy-error"]).toBeUndefined();
      expect(await volumeLabels(socket(), "adv-queued")).toMatchObject(INJECTED);
    } finally {
      deleter.close();
      if (containerId) await dockerApi(socket(), "DELETE", `/containers/${containerId}`);
      await dockerApi(socket(), "DELETE", `/containers/${sleeper}?force=1`);
      await dockerApi(socket(), "DELETE", "/volumes/adv-queued");
    }
  });

  it("a volume prune and a create with named volumes that meet both succeed: a prune waits for a create under way, and a prune still queued behind a slow request holds up no one", async () => {
    // A prune that can remove nothing of anyone else's; the proxy orders every prune alike.
    const prune = { method: "POST", target: `/volumes/prune?filters=${encodeURIComponent('{"label":["dcp.test.prune-race"]}')}`, headers: [] as Array<[string, string]> };
    const names = ["adv-meet", ...Array.from({ length: 120 }, (_, i) => `adv-meet-${i}`)];
    const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { Binds: names.map((name, i) => `${name}:/m${i}`) } });
    const order: string[] = [];
    const ids: string[] = [];
    const sleeper = await createSleeper(2);
    const pruner = await RawConnection.open(proxy.socketPath);
    try {
      // A prune that arrives while the create's volumes are being made waits for the create.
      const creating = sendRaw(proxy.socketPath, createRequest(body), 120_000).then((answer) => (order.push(`create ${answer.status}`), answer));
      await waitFor("the first volume made ahead", async () => ((await dockerApi(socket(), "GET", "/volumes/adv-meet")).status === 200 ? true : undefined), 30_000);
      const pruned = await sendRaw(proxy.socketPath, prune, 60_000);
      order.push(`prune ${pruned.status}`);
      const created = await creating;
      if (created.status === 201) ids.push((JSON.parse(created.text) as { Id: string }).Id);
      expect(order).toEqual(["create 201", "prune 200"]);
      // A prune queued behind a slow request on its connection claims only at its turn: a create meanwhile goes on.
      order.length = 0;
      await dockerApi(socket(), "POST", `/containers/${sleeper}/start`);
      pruner.write(`${waitOn(sleeper)}${prune.method} ${prune.target} HTTP/1.1\r\nHost: d\r\n\r\n`);
      const pruning = (async () => {
        await pruner.readResponse({ timeoutMs: 30_000 });
        order.push(`prune ${(await pruner.readResponse({ timeoutMs: 30_000 })).status}`);
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const second = await sendRaw(proxy.socketPath, createRequest(JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { Binds: ["adv-meet-late:/l"] } })), 30_000);
      order.push(`create ${second.status}`);
      if (second.status === 201) ids.push((JSON.parse(second.text) as { Id: string }).Id);
      await pruning;
      expect(order).toEqual(["create 201", "prune 200"]);
      expect(await volumeLabels(socket(), "adv-meet-late")).toMatchObject(INJECTED);
    } finally {
      pruner.close();
      for (const id of ids) await dockerApi(socket(), "DELETE", `/containers/${id}`);
      await dockerApi(socket(), "DELETE", `/containers/${sleeper}?force=1`);
      for (const name of [...names, "adv-meet-late"]) await dockerApi(socket(), "DELETE", `/volumes/${name}`);
    }
  });

  it("a volume prune with a form body (read by the daemon before it prunes) is read whole first and prunes what its filters say", async () => {
    await dockerApi(socket(), "POST", "/volumes/create", { Name: "adv-form-prune", Labels: { "dcp.test.form-prune": "1" } });
    await dockerApi(socket(), "POST", "/volumes/create", { Name: "adv-form-keep" });
    const body = `filters=${encodeURIComponent('{"label":["dcp.test.form-prune=1"]}')}`;
    const connection = await RawConnection.open(proxy.socketPath);
    try {
      // Chunked, in two writes: the proxy must wait for the end of the body.
      connection.write(`POST /volumes/prune HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n${body.slice(0, 5)}\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      connection.write(`${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`);
      const answer = await connection.readResponse({ timeoutMs: 10_000 });
      expect(answer.status).toBe(200);
      expect((JSON.parse(answer.body.toString()) as { VolumesDeleted: string[] }).VolumesDeleted).toEqual(["adv-form-prune"]);
      expect((await dockerApi(socket(), "GET", "/volumes/adv-form-keep")).status).toBe(200);
    } finally {
      connection.close();
      await dockerApi(socket(), "DELETE", "/volumes/adv-form-prune");
      await dockerApi(socket(), "DELETE", "/volumes/adv-form-keep");
    }
  });

  it("two prunes at once each hold their own claim: the daemon's quick 409 to the second does not free the volumes the first may still remove", async () => {
    // The first prune takes a while over many volumes; dockerd answers a second one at once
    // with 409 "a prune operation is already running". A create with those volumes must wait for
    // the first prune's answer: else it removes volumes the proxy just made and the daemon makes
    // them again for the container, unlabelled (found by an audit: 39-56 of 300, 4 runs of 4).
    // How far the first prune has got when the create comes is up to the daemon: with the bug
    // back, this test failed 1 run in 3 here; src/connection.test.ts shows the claims exactly,
    // against a stand-in daemon. This one shows the fix against the real one.
    const count = 600;
    const names = Array.from({ length: count }, (_, i) => `adv-pair-${i}`);
    const filter = encodeURIComponent('{"label":["dcp.test.prune-pair=1"]}');
    const prune = { method: "POST", target: `/volumes/prune?filters=${filter}`, headers: [] as Array<[string, string]> };
    let containerId: string | undefined;
    try {
      for (let start = 0; start < count; start += 30) {
        await Promise.all(names.slice(start, start + 30).map((name) => dockerApi(socket(), "POST", "/volumes/create", { Name: name, Labels: { "dcp.test.prune-pair": "1" } })));
      }
      const first = sendRaw(proxy.socketPath, prune, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const second = await sendRaw(proxy.socketPath, prune, 60_000);
      // The create arrives while the first prune is still under way: it must wait for its answer.
      const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { Binds: names.map((name, i) => `${name}:/p${i}`) } });
      const created = await sendRaw(proxy.socketPath, createRequest(body), 60_000);
      expect((await first).status).toBe(200);
      // The case under test: the second prune met the first one running.
      expect({ status: second.status, text: second.text }).toMatchObject({ status: 409, text: expect.stringContaining("already running") });
      expect(created.status, created.text).toBe(201);
      containerId = (JSON.parse(created.text) as { Id: string }).Id;
      const unlabelled: string[] = [];
      for (const name of names) {
        if ((await volumeLabels(socket(), name))[DEFAULT_LABEL_NAME] !== DEFAULT_LABEL_VALUE) unlabelled.push(name);
      }
      expect(unlabelled).toEqual([]);
    } finally {
      if (containerId) await dockerApi(socket(), "DELETE", `/containers/${containerId}`);
      for (let start = 0; start < count; start += 30) {
        await Promise.all(names.slice(start, start + 30).map((name) => dockerApi(socket(), "DELETE", `/volumes/${name}`)));
      }
    }
  });

  it("a create pipelined behind a slow request makes its volumes only when its turn comes; a client gone before then gets nothing made or held", async () => {
    const sleeper = await startSleeper(30);
    const before = await snapshot(socket(), ["containers"]);
    const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { Binds: ["adv-gone:/g"] } });
    const connection = await RawConnection.open(proxy.socketPath);
    try {
      connection.write(waitOn(sleeper) + rawCreate(body));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // Not made ahead of its turn, so nothing holds the name: a delete through the proxy goes at once.
      expect((await dockerApi(socket(), "GET", "/volumes/adv-gone")).status).toBe(404);
      await dockerApi(socket(), "POST", "/volumes/create", { Name: "adv-gone" });
      expect((await sendRaw(proxy.socketPath, { method: "DELETE", target: "/volumes/adv-gone", headers: [] }, 5_000)).status).toBe(204);
      // The client goes; the wait ends, its answer cannot be written: the create is never sent.
      connection.close();
      await dockerApi(socket(), "POST", `/containers/${sleeper}/kill`);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(describeSnapshot(created(before, await snapshot(socket(), ["containers"])))).toBe("nothing");
      // Made, labelled, only if its turn came before the proxy saw the client was gone.
      if ((await dockerApi(socket(), "GET", "/volumes/adv-gone")).status === 200) expect(await volumeLabels(socket(), "adv-gone")).toMatchObject(INJECTED);
    } finally {
      connection.close();
      await dockerApi(socket(), "DELETE", `/containers/${sleeper}?force=1`);
      await dockerApi(socket(), "DELETE", "/volumes/adv-gone");
    }
  });

  it("a client that goes while the proxy is making its create's volumes leaves no hold behind (the create is never sent)", async () => {
    // The daemon looks for a missing volume driver's plugin for about 15 s before it
    // refuses: the create's stage is that long in its first volume call.
    const sleeper = await startSleeper(1);
    const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { Binds: ["adv-left:/l"], VolumeDriver: "dcp-no-such-driver" } });
    const connection = await RawConnection.open(proxy.socketPath);
    try {
      connection.write(waitOn(sleeper) + rawCreate(body));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Gone for good: the wait's answer cannot be written, so the proxy closes the connection while the volume call is under way.
      connection.socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      // The name must be free at once, while the proxy's volume call still waits for the daemon: nothing will use it.
      const deleted = await sendRaw(proxy.socketPath, { method: "DELETE", target: "/volumes/adv-left", headers: [] }, 30_000);
      expect(deleted.proxyError, deleted.text).toBeUndefined();
    } finally {
      connection.close();
      await dockerApi(socket(), "DELETE", `/containers/${sleeper}?force=1`);
      await dockerApi(socket(), "DELETE", "/volumes/adv-left");
    }
  }, 40_000);

  it("a named volume the daemon will not create: the create gets the daemon's own status and message, and nothing is made", async () => {
    // A relative path where a name belongs (the 20.10 CLI sends `-v ./dir:/d` as written). A missing
    // volume driver would do too, but the daemon looks for its plugin for 15 s.
    const body = `{${image},"Cmd":["true"],"HostConfig":{"Binds":["./relative:/d"]}}`;
    const direct = await dockerApi(socket(), "POST", "/containers/create", body);
    expect(direct.status).toBe(400);
    const before = await snapshot(socket());
    const answer = await sendRaw(proxy.socketPath, createRequest(body));
    expect({ status: answer.status, message: (JSON.parse(answer.text) as { message: string }).message }).toEqual({
      status: direct.status,
      message: (JSON.parse(direct.body) as { message: string }).message,
    });
    expect(answer.proxyError).toBe("DCP_VOLUME_NOT_CREATED");
    expect(describeSnapshot(created(before, await snapshot(socket())))).toBe("nothing");
  });

  it("two spellings of HostConfig are refused (the daemon would merge them)", async () => {
    await expectRefused(createRequest(`{${image},"HostConfig":{"Mounts":[]},"hostconfig":{"Memory":6291457}}`), "DCP_AMBIGUOUS_FIELD");
  });

  it("a Dockerfile LABEL and the /build `labels` parameters: the first `labels` counts, the proxy's value wins", async () => {
    const query = [
      "t=named-build",
      `label%73=${encodeURIComponent(JSON.stringify({ first: "1", [DEFAULT_LABEL_NAME]: "client" }))}`,
      `labels=${encodeURIComponent(JSON.stringify({ second: "2" }))}`,
    ].join("&");
    const answer = await sendRaw(proxy.socketPath, {
      target: `/build?${query}`,
      headers: [["Content-Type", "application/x-tar"]],
      body: dockerfileContext(`FROM ${BUSYBOX_IMAGE}\nLABEL ${DEFAULT_LABEL_NAME}=from-dockerfile\n`),
    }, 60_000);
    expect(answer.status).toBe(200);
    expect(answer.text).not.toContain("errorDetail");
    expect(await imageLabels(socket(), "named-build")).toEqual({ ...baseImageLabels, first: "1", ...INJECTED });
  });

  it("classic builds leave no intermediate container behind (those carry no labels): forcerm=1 whatever the client asked", async () => {
    const build = (socketPath: string, tag: string, dockerfile: string) =>
      sendRaw(socketPath, { target: `/build?t=${tag}&rm=0&forcerm=0`, headers: [["Content-Type", "application/x-tar"]], body: dockerfileContext(dockerfile) }, 60_000);
    const failing = `FROM ${BUSYBOX_IMAGE}\nRUN echo one\nRUN false\n`;

    // Directly, the steps' containers stay, without the build's labels.
    const beforeDirect = await snapshot(socket(), ["containers", "images"]);
    expect((await build(socket(), "forcerm-direct", failing)).text).toContain("errorDetail");
    const leftDirect = created(beforeDirect, await snapshot(socket(), ["containers", "images"]));
    expect(leftDirect.containers.size).toBeGreaterThan(0);
    for (const id of leftDirect.containers) expect(await containerLabels(socket(), id)).not.toHaveProperty(DEFAULT_LABEL_NAME);
    await removeAll(socket(), leftDirect);

    // Through the proxy, none stays, whether the build fails or succeeds.
    for (const [tag, dockerfile] of [["forcerm-failed", failing], ["forcerm-ok", `FROM ${BUSYBOX_IMAGE}\nRUN echo one\nRUN echo two\n`]] as const) {
      const before = await snapshot(socket(), ["containers", "images"]);
      const answer = await build(proxy.socketPath, tag, dockerfile);
      expect(answer.status).toBe(200);
      const made = created(before, await snapshot(socket(), ["containers", "images"]));
      expect([...made.containers], `${tag}: containers left: ${answer.text.slice(-300)}`).toEqual([]);
      await removeAll(socket(), made);
    }
  });

  // Go trims U+0085 (NEL) as a space before it looks for parser directives;
  // JavaScript's trimStart does not. Every escape directive the daemon accepts
  // ends in its escape character, which the proxy refuses as a continuation,
  // so the directive cannot reach the daemon either way.
  it.each(["\u0085# escape=`", "\u0085#escape=\\", "\u00a0# escape=`", " \t# escape=`"])(
    "import `changes`: a first line %j that Go reads as an escape directive is refused",
    async (line) => {
      const before = await snapshot(socket(), ["images"]);
      const answer = await sendRaw(proxy.socketPath, {
        target: `/images/create?fromSrc=-&repo=nel-import&changes=${encodeURIComponent(line)}&changes=${encodeURIComponent("LABEL a=b")}`,
        headers: [["Content-Type", "application/x-tar"]],
        body: tar([{ name: "etc/" }]),
      });
      const made = created(before, await snapshot(socket(), ["images"]));
      if (answer.proxyError === undefined) {
        // Not refused: then the proxy's quoted label must still have been read as written.
        const found = made.images.size > 0 ? await imageLabels(socket(), "nel-import:latest") : {};
        await removeAll(socket(), made);
        expect(found, "the escape directive changed how the daemon read the proxy's LABEL line").toEqual({ a: "b", ...INJECTED });
      }
      expect(answer.status).toBe(400);
      expect(describeSnapshot(made)).toBe("nothing");
    },
  );
});
