import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RewriteError } from "../errors.js";
import type { Injected } from "./body-rewriters.js";
import { rewriteContainerCreate, rewriteLabelsOnly, rewriteServiceSpec } from "./body-rewriters.js";
import { refusal } from "./test-support.js";
import { fuzzParams } from "../test-fuzz.js";

// ---------------------------------------------------------------------------
// A reference model of how dockerd reads these bodies, written independently
// of the code under test: its own JSON reader (members kept in order with
// duplicates) and a schema-driven decoder with Go encoding/json semantics:
// fold-insensitive field binding, later members win, objects merge into what
// is there (maps AND structs), null resets maps/pointers and is a no-op for
// strings and value structs, a repeated slice decodes into the old elements,
// and a type mismatch rejects the request.
// ---------------------------------------------------------------------------

type Ref =
  | { readonly t: "object"; readonly members: ReadonlyArray<readonly [string, Ref]> }
  | { readonly t: "array"; readonly items: readonly Ref[] }
  | { readonly t: "string"; readonly value: string }
  | { readonly t: "number"; readonly raw: string }
  | { readonly t: "bool"; readonly value: boolean }
  | { readonly t: "null" };

const TOKEN =
  /[ \t\n\r]*(?:([{}[\],:])|("(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")|(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null))/y;

function referenceParse(text: string): Ref {
  let position = 0;
  const next = (): RegExpExecArray => {
    TOKEN.lastIndex = position;
    const match = TOKEN.exec(text);
    if (match === null) throw new Error(`reference parser: bad token at ${position}`);
    position = TOKEN.lastIndex;
    return match;
  };
  const value = (token: RegExpExecArray): Ref => {
    const [, punctuation, string, number, literal] = token;
    if (string !== undefined) return { t: "string", value: JSON.parse(string) as string };
    if (number !== undefined) return { t: "number", raw: number };
    if (literal !== undefined) return literal === "null" ? { t: "null" } : { t: "bool", value: literal === "true" };
    if (punctuation === "[") {
      const items: Ref[] = [];
      let item = next();
      if (item[1] === "]") return { t: "array", items };
      for (;;) {
        items.push(value(item));
        const separator = next()[1];
        if (separator === "]") return { t: "array", items };
        if (separator !== ",") throw new Error("reference parser: bad array");
        item = next();
      }
    }
    if (punctuation === "{") {
      const members: Array<readonly [string, Ref]> = [];
      let key = next();
      if (key[1] === "}") return { t: "object", members };
      for (;;) {
        if (key[2] === undefined) throw new Error("reference parser: bad key");
        if (next()[1] !== ":") throw new Error("reference parser: missing colon");
        members.push([JSON.parse(key[2]) as string, value(next())]);
        const separator = next()[1];
        if (separator === "}") return { t: "object", members };
        if (separator !== ",") throw new Error("reference parser: bad object");
        key = next();
      }
    }
    throw new Error("reference parser: unexpected token");
  };
  const result = value(next());
  if (!/^[ \t\n\r]*$/.test(text.slice(position))) throw new Error("reference parser: trailing data");
  return result;
}

/** Go 1.21 foldName, as far as it matters for ASCII field names. */
const goFold = (text: string): string =>
  [...text].map((c) => (c === "\u017F" ? "S" : c === "\u212A" ? "K" : /^[a-z]$/.test(c) ? c.toUpperCase() : c)).join("");

type Schema =
  | { readonly kind: "struct"; readonly pointer: boolean; readonly fields: Readonly<Record<string, Schema>> }
  | { readonly kind: "map" }
  | { readonly kind: "string" }
  | { readonly kind: "raw" }
  | { readonly kind: "slice"; readonly element: Schema };

class GoStruct {
  readonly fields = new Map<string, Decoded>();
  get(name: string): Decoded {
    return this.fields.get(name);
  }
}
type Decoded = undefined | string | Ref | Map<string, string> | GoStruct | Decoded[];

class GoTypeError extends Error {}

function bindField(fields: readonly string[], key: string): string | undefined {
  return fields.includes(key) ? key : fields.find((field) => goFold(field) === goFold(key));
}

function goDecode(schema: Schema, ref: Ref, current: Decoded): Decoded {
  switch (schema.kind) {
    case "struct": {
      if (ref.t === "null") return schema.pointer ? undefined : current;
      if (ref.t !== "object") throw new GoTypeError("struct");
      const target = current instanceof GoStruct ? current : new GoStruct();
      const names = Object.keys(schema.fields);
      for (const [key, value] of ref.members) {
        const field = bindField(names, key);
        const fieldSchema = field === undefined ? undefined : schema.fields[field];
        if (field === undefined || fieldSchema === undefined) continue; // unknown fields are ignored
        target.fields.set(field, goDecode(fieldSchema, value, target.fields.get(field)));
      }
      return target;
    }
    case "map": {
      if (ref.t === "null") return undefined;
      if (ref.t !== "object") throw new GoTypeError("map");
      const target = current instanceof Map ? current : new Map<string, string>();
      for (const [key, value] of ref.members) {
        if (value.t === "string") target.set(key, value.value);
        else if (value.t === "null") target.set(key, ""); // Go: a fresh zero element is stored
        else throw new GoTypeError("map value");
      }
      return target;
    }
    case "string":
      if (ref.t === "null") return current;
      if (ref.t !== "string") throw new GoTypeError("string");
      return ref.value;
    case "raw":
      return ref;
    case "slice": {
      if (ref.t === "null") return undefined;
      if (ref.t !== "array") throw new GoTypeError("slice");
      const old = Array.isArray(current) ? current : [];
      return ref.items.map((item, index) => goDecode(schema.element, item, old[index]));
    }
  }
}

const labelsMap: Schema = { kind: "map" };
const mountSchema: Schema = {
  kind: "struct",
  pointer: false,
  fields: {
    Type: { kind: "string" },
    Source: { kind: "string" },
    VolumeOptions: { kind: "struct", pointer: true, fields: { Labels: labelsMap, NoCopy: { kind: "raw" } } },
  },
};
const mounts: Schema = { kind: "slice", element: mountSchema };
const hostConfigFields = { CgroupParent: { kind: "string" }, Mounts: mounts, Memory: { kind: "raw" }, Binds: { kind: "raw" } } as const;

/** dockerd 20.10's ContainerConfigWrapper: Config fields, the "HostConfig" member, and an embedded deprecated HostConfig. */
const containerWrapperFields: Readonly<Record<string, Schema>> = {
  Labels: labelsMap,
  Image: { kind: "string" },
  HostConfig: { kind: "struct", pointer: true, fields: hostConfigFields },
  ...hostConfigFields,
};
const containerWrapper: Schema = { kind: "struct", pointer: true, fields: containerWrapperFields };

interface ContainerView {
  readonly root: GoStruct;
  /** The host config the daemon uses (runconfig getHostConfig). */
  readonly hostConfig: GoStruct | undefined;
}

function decodeContainer(text: string): ContainerView {
  const document = referenceParse(text);
  const root = goDecode(containerWrapper, document, undefined);
  if (!(root instanceof GoStruct)) throw new GoTypeError("root");
  const inner = root.get("HostConfig");
  // Go allocates the embedded *HostConfig as soon as any member binds to one of its fields.
  const embeddedNames = Object.keys(hostConfigFields);
  const embeddedUsed =
    document.t === "object" &&
    document.members.some(([key]) => embeddedNames.includes(bindField(Object.keys(containerWrapperFields), key) ?? ""));
  const embedded = new GoStruct();
  for (const name of embeddedNames) embedded.fields.set(name, root.get(name));
  if (!(inner instanceof GoStruct)) return { root, hostConfig: embeddedUsed ? embedded : undefined };
  // With both present the inner one wins, but a few resource fields are copied over when unset there.
  if (embeddedUsed && inner.get("Memory") === undefined && embedded.get("Memory") !== undefined) {
    inner.fields.set("Memory", embedded.get("Memory"));
  }
  return { root, hostConfig: inner };
}

const serviceSpec: Schema = {
  kind: "struct",
  pointer: true,
  fields: {
    Name: { kind: "string" },
    Labels: labelsMap,
    TaskTemplate: {
      kind: "struct",
      pointer: false,
      fields: {
        ContainerSpec: {
          kind: "struct",
          pointer: true,
          fields: { Image: { kind: "string" }, Labels: labelsMap, Mounts: mounts },
        },
        PluginSpec: { kind: "struct", pointer: true, fields: { Name: { kind: "string" } } },
        NetworkAttachmentSpec: { kind: "struct", pointer: true, fields: { ContainerID: { kind: "string" } } },
        Runtime: { kind: "string" },
      },
    },
  },
};

const labelsObject = (decoded: Decoded): Record<string, string> =>
  decoded instanceof Map ? Object.fromEntries(decoded) : {};

const merged = (client: Record<string, string>, injected: Injected): Record<string, string> => ({
  ...client,
  ...Object.fromEntries(injected.labels),
});

const structOrUndefined = (decoded: Decoded): GoStruct | undefined => (decoded instanceof GoStruct ? decoded : undefined);
const mountList = (hostConfig: GoStruct | undefined): GoStruct[] => {
  const list = hostConfig?.get("Mounts");
  return Array.isArray(list) ? list.map((mount) => (mount instanceof GoStruct ? mount : new GoStruct())) : [];
};

/** Mounts as the daemon sees them after the rewrite: same list, volume mounts carrying the injected labels. */
function expectMountsLabelled(before: GoStruct | undefined, after: GoStruct | undefined, injected: Injected): void {
  const mountsBefore = mountList(before);
  const mountsAfter = mountList(after);
  expect(mountsAfter.length).toBe(mountsBefore.length);
  mountsBefore.forEach((mountBefore, index) => {
    const mountAfter = mountsAfter[index];
    expect(mountAfter?.get("Type")).toEqual(mountBefore.get("Type"));
    expect(mountAfter?.get("Source")).toEqual(mountBefore.get("Source"));
    const optionsBefore = structOrUndefined(mountBefore.get("VolumeOptions"));
    const optionsAfter = structOrUndefined(mountAfter?.get("VolumeOptions"));
    const type = mountBefore.get("Type");
    if (typeof type === "string" && type.toLowerCase() === "volume") {
      expect(labelsObject(optionsAfter?.get("Labels"))).toEqual(merged(labelsObject(optionsBefore?.get("Labels")), injected));
      expect(optionsAfter?.get("NoCopy")).toEqual(optionsBefore?.get("NoCopy"));
    } else {
      expect(optionsAfter).toEqual(optionsBefore);
    }
  });
}

// ---------------------------------------------------------------------------
// Generators: documents full of the traps in DAEMON-FACTS — case and fold
// variants, duplicates, nulls, look-alike keys, int64 literals — printed with
// random whitespace and \u-escaped keys.
// ---------------------------------------------------------------------------

const str = (value: string): Ref => ({ t: "string", value });
const num = (raw: string): Ref => ({ t: "number", raw });
const obj = (members: ReadonlyArray<readonly [string, Ref]>): Ref => ({ t: "object", members });
const NULL: Ref = { t: "null" };
const INT64 = "9007199254740993";

const labelKey = fc.constantFrom("a", "A", "b", "ci.job", "x y", "ſ", "\u212A", "é", "", "😀");
const labelValue = fc.constantFrom("", "1", "forged", "ü", "line\nbreak", '"q"', "\\", "$HOME");
const labelMap = fc.array(fc.tuple(labelKey, labelValue.map(str)), { maxLength: 4 }).map(obj);
const invalidLabelMap = fc.tuple(labelKey, fc.constantFrom(num("1"), NULL, obj([]))).map(([key, value]) => obj([[key, value]]));
const labelsValue = fc.oneof(
  { weight: 6, arbitrary: labelMap },
  { weight: 3, arbitrary: fc.constant(NULL) },
  { weight: 1, arbitrary: invalidLabelMap },
  { weight: 1, arbitrary: fc.constant(str("a=b")) },
);
const labelsKey = fc.constantFrom("Labels", "labels", "LABELS", "Labelſ", "labelſ", "LabelS", "lAbElS");
const lookalikeLabelsKey = fc.constantFrom("Label", "Labelss", "Labels ", "\u212Aabels", "Labels\u0000", "Lab_els", "Labels\u0301");
const labelsMember = fc.tuple(labelsKey, labelsValue);
const lookalikeMember = fc.tuple(lookalikeLabelsKey, labelMap);

const volumeOptions = fc
  .array(fc.oneof(labelsMember, fc.tuple(fc.constantFrom("NoCopy", "nocopy"), fc.constantFrom<Ref>({ t: "bool", value: true }, NULL))), { maxLength: 3 })
  .map(obj);
const mount = fc.oneof(
  { weight: 8, arbitrary: fc
    .array(
      fc.oneof(
        fc.tuple(fc.constantFrom("Type", "type", "TYPE"), fc.constantFrom(str("volume"), str("volume"), str("bind"), str("Volume"), str("tmpfs"), NULL)),
        fc.tuple(fc.constantFrom("Source", "source"), fc.constantFrom(str("data"), str("/host"))),
        fc.tuple(fc.constantFrom("VolumeOptions", "volumeoptions", "VolumeOptionſ"), fc.oneof(fc.constant(NULL), volumeOptions)),
      ),
      { maxLength: 4 },
    )
    .map(obj) },
  { weight: 1, arbitrary: fc.constant(NULL) },
);
const mountsValue = fc.oneof(
  { weight: 1, arbitrary: fc.constant(NULL) },
  { weight: 6, arbitrary: fc.array(mount, { maxLength: 3 }).map((items): Ref => ({ t: "array", items })) },
);
const hostConfig = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constantFrom("CgroupParent", "cgroupparent", "CGROUPPARENT", "cgroupParent"), fc.constantFrom(str("/client"), NULL)),
      fc.tuple(fc.constantFrom("Mounts", "mounts", "Mountſ", "MOUNTS"), mountsValue),
      fc.tuple(fc.constantFrom("Memory", "memory"), fc.constant(num(INT64))),
      fc.tuple(fc.constant("Binds"), fc.constant<Ref>({ t: "array", items: [str("named:/data")] })),
    ),
    { maxLength: 4 },
  )
  .map(obj);

const containerBody = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: labelsMember },
      { weight: 2, arbitrary: lookalikeMember },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom("Image", "image"), fc.constant(str("alpine"))) },
      { weight: 1, arbitrary: fc.tuple(fc.constant("Memory"), fc.constant(num(INT64))) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom("Binds", "binds"), fc.constant<Ref>({ t: "array", items: [str("named:/data")] })) },
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom("HostConfig", "hostconfig", "HOSTCONFIG", "Hoſtconfig"), fc.oneof({ weight: 1, arbitrary: fc.constant(NULL) }, { weight: 5, arbitrary: hostConfig })) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom("mounts", "CgroupParent"), fc.constantFrom<Ref>(NULL, str("/evil"))) },
    ),
    { maxLength: 7 },
  )
  .map(obj);

const containerSpec = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: labelsMember },
      { weight: 1, arbitrary: lookalikeMember },
      { weight: 1, arbitrary: fc.tuple(fc.constant("Image"), fc.constant(str("alpine"))) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom("Mounts", "mountſ"), mountsValue) },
    ),
    { maxLength: 4 },
  )
  .map(obj);
const taskTemplate = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom("ContainerSpec", "containerspec", "Containerſpec"), fc.oneof({ weight: 1, arbitrary: fc.constant(NULL) }, { weight: 5, arbitrary: containerSpec })) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom("PluginSpec", "pluginſpec"), fc.constantFrom(NULL, obj([["Name", str("p")]]))) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom("NetworkAttachmentSpec", "networkattachmentspec"), fc.constantFrom(NULL, obj([]))) },
      { weight: 1, arbitrary: fc.tuple(fc.constant("Runtime"), fc.constantFrom(str("container"), str("plugin"))) },
    ),
    { maxLength: 4 },
  )
  .map(obj);
const serviceBody = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: labelsMember },
      { weight: 1, arbitrary: lookalikeMember },
      { weight: 1, arbitrary: fc.tuple(fc.constant("Name"), fc.constant(str("web"))) },
      { weight: 4, arbitrary: fc.tuple(fc.constantFrom("TaskTemplate", "tasktemplate", "Tas\u212ATemplate", "Taſktemplate"), fc.oneof({ weight: 1, arbitrary: fc.constant(NULL) }, { weight: 5, arbitrary: taskTemplate })) },
    ),
    { maxLength: 5 },
  )
  .map(obj);

interface PrintStyle {
  readonly space: string;
  readonly escapeKeys: boolean;
}
const printStyle: fc.Arbitrary<PrintStyle> = fc.record({
  space: fc.constantFrom("", " ", "\n", "\t \r\n"),
  escapeKeys: fc.boolean(),
});

/** Prints a document the way an adversarial client might: odd whitespace, keys spelled with \u escapes. */
function printRef(ref: Ref, style: PrintStyle): string {
  const s = style.space;
  switch (ref.t) {
    case "object":
      return `{${s}${ref.members.map(([key, value]) => `${printKey(key, style)}${s}:${s}${printRef(value, style)}`).join(`${s},${s}`)}${s}}`;
    case "array":
      return `[${s}${ref.items.map((item) => printRef(item, style)).join(`${s},${s}`)}${s}]`;
    case "string":
      return JSON.stringify(ref.value);
    case "number":
      return ref.raw;
    case "bool":
      return String(ref.value);
    case "null":
      return "null";
  }
}

function printKey(key: string, style: PrintStyle): string {
  if (!style.escapeKeys) return JSON.stringify(key);
  let out = '"';
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    out += i % 2 === 0 ? `\\u${unit.toString(16).padStart(4, "0")}` : JSON.stringify(key[i]).slice(1, -1);
  }
  return `${out}"`;
}

const injectedArbitrary: fc.Arbitrary<Injected> = fc.record(
  {
    labels: fc
      .array(fc.tuple(fc.constantFrom("ci.job", "ci.runner", "a", "A", "ſ"), fc.constantFrom("42", "", "ü", '"')), { maxLength: 3 })
      .map((entries) => new Map(entries)),
    cgroupParent: fc.constantFrom("/ci/agent-1", "agent.slice"),
  },
  { requiredKeys: ["labels"] },
);

type Outcome = "rewritten" | "refused" | "go-rejects";

/** The rewrite, or "refused": a 400, or a 403 for a plugin task when `pluginTask` says there is one. */
function rewriteOrRefusal(rewrite: () => Buffer, pluginTask = false): Buffer | "refused" {
  try {
    return rewrite();
  } catch (error) {
    expect(error).toBeInstanceOf(RewriteError);
    const refusal = error as RewriteError;
    if (refusal.code === "DCP_CANNOT_LABEL") {
      expect(pluginTask).toBe(true);
      expect(refusal.status).toBe(403);
    } else {
      expect(refusal.status).toBe(400);
    }
    return "refused";
  }
}

function checkContainerCreate(input: string, injected: Injected): Outcome {
  const result = rewriteOrRefusal(() => rewriteContainerCreate(Buffer.from(input, "utf8"), injected));
  if (result === "refused") return "refused";
  const output = result.toString("utf8");
  expect(() => JSON.parse(output)).not.toThrow();
  // Canonical: rewriting our own output changes nothing.
  expect(rewriteContainerCreate(result, injected).toString("utf8")).toBe(output);

  let before: ContainerView;
  try {
    before = decodeContainer(input);
  } catch (error) {
    if (!(error instanceof GoTypeError)) throw error;
    // The daemon rejects the client's body; it must reject ours too.
    expect(() => decodeContainer(output)).toThrow(GoTypeError);
    return "go-rejects";
  }
  const after = decodeContainer(output);

  expect(labelsObject(after.root.get("Labels"))).toEqual(merged(labelsObject(before.root.get("Labels")), injected));
  expect(after.root.get("Image")).toEqual(before.root.get("Image"));
  expect(after.root.get("Memory")).toEqual(before.root.get("Memory"));
  // The host config the daemon applies comes from where it came from before
  // (the client's HostConfig, the deprecated top-level fields, or none),
  // except that a cgroup parent always goes into a HostConfig.
  if (injected.cgroupParent !== undefined) {
    expect(after.hostConfig).toBe(after.root.get("HostConfig"));
  } else {
    expect(after.hostConfig === undefined).toBe(before.hostConfig === undefined);
    expect(after.hostConfig === after.root.get("HostConfig")).toBe(before.hostConfig === before.root.get("HostConfig"));
  }
  expect(after.hostConfig?.get("CgroupParent")).toEqual(injected.cgroupParent ?? before.hostConfig?.get("CgroupParent"));
  expect(after.hostConfig?.get("Memory")).toEqual(before.hostConfig?.get("Memory"));
  // Deprecated top-level host settings keep applying, except when the cgroup
  // parent has to add a HostConfig: then the daemon reads that one (and
  // copies over only a few resource limits such as Memory).
  const addedHostConfig = injected.cgroupParent !== undefined && before.hostConfig !== undefined && before.hostConfig !== before.root.get("HostConfig");
  if (!addedHostConfig) expect(after.hostConfig?.get("Binds")).toEqual(before.hostConfig?.get("Binds"));
  expectMountsLabelled(before.hostConfig, after.hostConfig, injected);
  return "rewritten";
}

function checkServiceSpec(input: string, injected: Injected): Outcome {
  const pluginTask = namesPluginTask(input);
  const result = rewriteOrRefusal(() => rewriteServiceSpec(Buffer.from(input, "utf8"), injected), pluginTask);
  if (result === "refused") return "refused";
  // A plugin task makes swarm install a plugin, which cannot carry labels: it must be refused.
  expect(pluginTask).toBe(false);
  const output = result.toString("utf8");
  expect(() => JSON.parse(output)).not.toThrow();
  expect(rewriteServiceSpec(result, injected).toString("utf8")).toBe(output);

  const decode = (text: string) => goDecode(serviceSpec, referenceParse(text), undefined) as GoStruct;
  let before: GoStruct;
  try {
    before = decode(input);
  } catch (error) {
    if (!(error instanceof GoTypeError)) throw error;
    expect(() => decode(output)).toThrow(GoTypeError);
    return "go-rejects";
  }
  const after = decode(output);
  expect(labelsObject(after.get("Labels"))).toEqual(merged(labelsObject(before.get("Labels")), injected));
  expect(after.get("Name")).toEqual(before.get("Name"));

  const taskBefore = structOrUndefined(before.get("TaskTemplate"));
  const taskAfter = structOrUndefined(after.get("TaskTemplate"));
  expect(taskAfter).toBeDefined();
  for (const field of ["PluginSpec", "NetworkAttachmentSpec", "Runtime"]) {
    expect(taskAfter?.get(field)).toEqual(taskBefore?.get(field));
  }
  const specBefore = structOrUndefined(taskBefore?.get("ContainerSpec"));
  const specAfter = structOrUndefined(taskAfter?.get("ContainerSpec"));
  if (specAfter === undefined) {
    // Only a network-attachment task may go without container labels, and only if it sent no ContainerSpec.
    expect(specBefore).toBeUndefined();
    expect(hasAttachmentMember(input)).toBe(true);
  } else {
    expect(labelsObject(specAfter.get("Labels"))).toEqual(merged(labelsObject(specBefore?.get("Labels")), injected));
    expect(specAfter.get("Image")).toEqual(specBefore?.get("Image"));
    expectMountsLabelled(specBefore, specAfter, injected);
  }
  return "rewritten";
}

/** Whether some member of a TaskTemplate (as Go binds keys) satisfies `test`. */
function someTaskTemplateMember(input: string, test: (key: string, value: Ref) => boolean): boolean {
  const root = referenceParse(input);
  if (root.t !== "object") return false;
  return root.members.some(
    ([key, value]) => goFold(key) === goFold("TaskTemplate") && value.t === "object" && value.members.some(([inner, innerValue]) => test(goFold(inner), innerValue)),
  );
}

/** A TaskTemplate with a non-null PluginSpec, or Runtime "plugin" in any case. */
function namesPluginTask(input: string): boolean {
  return someTaskTemplateMember(
    input,
    (key, value) =>
      (key === goFold("PluginSpec") && value.t !== "null") ||
      (key === goFold("Runtime") && value.t === "string" && value.value.toLowerCase() === "plugin"),
  );
}

/** A TaskTemplate with a NetworkAttachmentSpec member (plugin tasks are refused, so only these run no container). */
function hasAttachmentMember(input: string): boolean {
  return someTaskTemplateMember(input, (key) => key === goFold("NetworkAttachmentSpec"));
}

function tally(outcomes: Outcome[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { rewritten: 0, refused: 0, "go-rejects": 0 };
  for (const outcome of outcomes) counts[outcome]++;
  return counts;
}

// ---------------------------------------------------------------------------

const injected: Injected = { labels: new Map([["ci.job", "42"]]) };
const withCgroup: Injected = { labels: new Map([["ci.job", "42"]]), cgroupParent: "/ci" };
const container = (text: string, inject: Injected = injected) =>
  rewriteContainerCreate(Buffer.from(text, "utf8"), inject).toString("utf8");


describe("rewriteContainerCreate: DAEMON-FACTS regressions", () => {
  it('reads "labels" in lower case as Labels', () => {
    expect(container('{"labels":{"a":"b"}}')).toBe('{"Labels":{"a":"b","ci.job":"42"}}');
  });

  it('honours "Labelſ":null after Labels (the client\'s labels are erased, ours stay)', () => {
    expect(container('{"Labels":{"a":"b"},"Labelſ":null}')).toBe('{"Labels":{"ci.job":"42"}}');
  });

  it('honours {"Labels":{"a":"b"},"labels":null}', () => {
    expect(container('{"Labels":{"a":"b"},"labels":null}')).toBe('{"Labels":{"ci.job":"42"}}');
  });

  it('replaces "hostconfig":{"cgroupparent":"/x"} with the injected cgroup parent', () => {
    expect(container('{"hostconfig":{"cgroupparent":"/x","Memory":1}}', withCgroup)).toBe(
      '{"Labels":{"ci.job":"42"},"HostConfig":{"Memory":1,"CgroupParent":"/ci"}}',
    );
  });

  it('keeps "Memory": 9007199254740993 exactly', () => {
    const output = container('{"Image":"alpine","HostConfig":{"Memory": 9007199254740993, "NanoCpus": -9223372036854775808}}');
    expect(output).toBe(
      '{"Image":"alpine","Labels":{"ci.job":"42"},"HostConfig":{"Memory":9007199254740993,"NanoCpus":-9223372036854775808}}',
    );
  });

  it("adds no HostConfig the client did not send: the deprecated top-level host settings still apply, as they would directly", () => {
    expect(container('{"Image":"alpine","Binds":["/a:/b"],"HostConfig":null}')).toBe(
      '{"Image":"alpine","Binds":["/a:/b"],"HostConfig":null,"Labels":{"ci.job":"42"}}',
    );
    // The cgroup parent needs one, whatever the client sent.
    expect(container('{"Image":"alpine","Binds":["/a:/b"]}', withCgroup)).toBe(
      '{"Image":"alpine","Binds":["/a:/b"],"Labels":{"ci.job":"42"},"HostConfig":{"CgroupParent":"/ci"}}',
    );
  });

  it("refuses trailing garbage (dockerd 20.10 would ignore it, newer daemons reject it)", () => {
    const error = refusal(() => container('{"Image":"alpine"} garbage'));
    expect(error.code).toBe("DCP_INVALID_JSON");
    expect(error.status).toBe(400);
  });
});

describe("rewriteContainerCreate", () => {
  it("treats an empty or blank body as {}", () => {
    expect(container("")).toBe('{"Labels":{"ci.job":"42"}}');
    expect(container(" \r\n", withCgroup)).toBe('{"Labels":{"ci.job":"42"},"HostConfig":{"CgroupParent":"/ci"}}');
  });

  it.each(["[]", "null", '"x"', "1", "true"])("refuses the top-level value %s", (text) => {
    const error = refusal(() => container(text));
    expect(error.code).toBe("DCP_INVALID_JSON");
    expect(error.message).toMatch(/request body must be a JSON object/);
  });

  it("creates HostConfig when it is null, so dockerd 20.10 cannot fall back to top-level host fields", () => {
    expect(container('{"HostConfig":null}', withCgroup)).toBe('{"Labels":{"ci.job":"42"},"HostConfig":{"CgroupParent":"/ci"}}');
  });

  it("removes every fold variant of CgroupParent", () => {
    expect(container('{"HostConfig":{"CgroupParent":"/a","cgroupparent":"/b","CGROUPPARENT":null}}', withCgroup)).toBe(
      '{"Labels":{"ci.job":"42"},"HostConfig":{"CgroupParent":"/ci"}}',
    );
  });

  it("leaves the client's CgroupParent alone when none is injected", () => {
    expect(container('{"HostConfig":{"CgroupParent":"/a"}}')).toBe('{"Labels":{"ci.job":"42"},"HostConfig":{"CgroupParent":"/a"}}');
  });

  it("refuses HostConfig given twice (Go merges the two field by field)", () => {
    const error = refusal(() => container('{"HostConfig":{"Memory":1},"hostconfig":{"CgroupParent":"/x"}}', withCgroup));
    expect(error.code).toBe("DCP_AMBIGUOUS_FIELD");
    expect(error.message).toMatch(/HostConfig appears 2 times/);
  });

  it.each(['{"Mounts":[]}', '{"mounts":null}', '{"CgroupParent":"/x"}', '{"cgroupParent":""}'])(
    "refuses the deprecated top-level host field in %s",
    (text) => {
      const error = refusal(() => container(text));
      expect(error.code).toBe("DCP_AMBIGUOUS_FIELD");
      expect(error.message).toMatch(/belong inside HostConfig/);
    },
  );

  it("labels the volumes that Mounts of type volume create", () => {
    const output = container(
      '{"HostConfig":{"Mounts":[{"Type":"volume","Source":"data","Target":"/d","VolumeOptions":{"Labels":{"a":"1","ci.job":"x"},"NoCopy":true}},' +
        '{"type":"volume","Target":"/anon"},{"Type":"bind","Source":"/h","Target":"/h"},{"Type":"Volume","Target":"/v"},null]}}',
    );
    expect(JSON.parse(output)).toEqual({
      Labels: { "ci.job": "42" },
      HostConfig: {
        Mounts: [
          { Type: "volume", Source: "data", Target: "/d", VolumeOptions: { NoCopy: true, Labels: { a: "1", "ci.job": "42" } } },
          { type: "volume", Target: "/anon", VolumeOptions: { Labels: { "ci.job": "42" } } },
          { Type: "bind", Source: "/h", Target: "/h" },
          // Swarm upper-cases a service mount's Type; a container create rejects "Volume" whatever it carries.
          { Type: "Volume", Target: "/v", VolumeOptions: { Labels: { "ci.job": "42" } } },
          null,
        ],
      },
    });
  });

  it("creates VolumeOptions when it is null and merges fold variants of its Labels", () => {
    expect(
      JSON.parse(container('{"HostConfig":{"Mounts":[{"Type":"volume","VolumeOptions":null}]}}')).HostConfig.Mounts,
    ).toEqual([{ Type: "volume", VolumeOptions: { Labels: { "ci.job": "42" } } }]);
    expect(
      JSON.parse(container('{"HostConfig":{"Mounts":[{"Type":"volume","volumeoptionſ":{"labels":{"a":"1"},"LABELS":{"b":"2"}}}]}}'))
        .HostConfig.Mounts,
    ).toEqual([{ Type: "volume", VolumeOptions: { Labels: { a: "1", b: "2", "ci.job": "42" } } }]);
  });

  it.each([
    ['{"HostConfig":{"Mounts":[],"mounts":[]}}', "DCP_AMBIGUOUS_FIELD", /HostConfig\.Mounts appears 2 times/],
    ['{"HostConfig":{"Mounts":{}}}', "DCP_INVALID_JSON", /HostConfig\.Mounts must be an array or null/],
    ['{"HostConfig":{"Mounts":["volume"]}}', "DCP_INVALID_JSON", /HostConfig\.Mounts\[0\] must be an object/],
    ['{"HostConfig":{"Mounts":[{"Type":"bind","type":"volume"}]}}', "DCP_AMBIGUOUS_FIELD", /Mounts\[0\]\.Type appears 2 times/],
    ['{"HostConfig":{"Mounts":[{"Type":1}]}}', "DCP_INVALID_JSON", /Mounts\[0\]\.Type must be a string/],
    [
      '{"HostConfig":{"Mounts":[{"Type":"volume","VolumeOptions":{},"VolumeOptions":{}}]}}',
      "DCP_AMBIGUOUS_FIELD",
      /Mounts\[0\]\.VolumeOptions appears 2 times/,
    ],
    [
      '{"HostConfig":{"Mounts":[{"Type":"volume","VolumeOptions":{"Labels":{"a":null}}}]}}',
      "DCP_INVALID_LABELS",
      /HostConfig\.Mounts\[0\]\.VolumeOptions\.Labels\["a"\] must be a string/,
    ],
    ['{"Labels":{"a":1}}', "DCP_INVALID_LABELS", /Labels\["a"\] must be a string, not a number/],
    ['{"Labels":"a=b"}', "DCP_INVALID_LABELS", /Labels must be a JSON object/],
  ])("refuses %s", (text, code, message) => {
    const error = refusal(() => container(text));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it("survives adversarial bodies: the daemon sees every injected label and all of the client's others", () => {
    const outcomes: Outcome[] = [];
    fc.assert(
      fc.property(containerBody, printStyle, injectedArbitrary, (document, style, inject) => {
        outcomes.push(checkContainerCreate(printRef(document, style), inject));
      }),
      fuzzParams(1500),
    );
    const counts = tally(outcomes);
    // The generator is meant to exercise the rewrite, not only the refusals.
    expect(counts.rewritten).toBeGreaterThan(outcomes.length * 0.3);
    expect(counts.refused).toBeGreaterThan(0);
  });
});

describe("rewriteLabelsOnly", () => {
  const labelsOnly = (text: string) => rewriteLabelsOnly(Buffer.from(text, "utf8"), withCgroup).toString("utf8");

  it("rewrites only the top-level Labels", () => {
    expect(labelsOnly('{"Name":"n","labels":{"a":"b"},"Driver":"local","Labelſ":{"c":"d"}}')).toBe(
      '{"Name":"n","Driver":"local","Labels":{"a":"b","c":"d","ci.job":"42"}}',
    );
    expect(labelsOnly('{"Name":"n","Options":{"Labels":{"x":"y"}}}')).toBe(
      '{"Name":"n","Options":{"Labels":{"x":"y"}},"Labels":{"ci.job":"42"}}',
    );
  });

  it("keeps int64 literals and treats an empty body as {}", () => {
    expect(labelsOnly('{"Size": 9007199254740993}')).toBe('{"Size":9007199254740993,"Labels":{"ci.job":"42"}}');
    expect(labelsOnly("")).toBe('{"Labels":{"ci.job":"42"}}');
  });

  it("refuses trailing garbage and non-objects", () => {
    expect(refusal(() => labelsOnly('{"Name":"n"}x')).code).toBe("DCP_INVALID_JSON");
    expect(refusal(() => labelsOnly("[]")).code).toBe("DCP_INVALID_JSON");
  });

  it("survives adversarial label members", () => {
    const body = fc.array(fc.oneof(labelsMember, lookalikeMember, fc.tuple(fc.constant("Name"), fc.constant(str("n")))), { maxLength: 6 }).map(obj);
    const schema: Schema = { kind: "struct", pointer: true, fields: { Labels: labelsMap, Name: { kind: "string" } } };
    let rewritten = 0;
    fc.assert(
      fc.property(body, printStyle, injectedArbitrary, (document, style, inject) => {
        const input = printRef(document, style);
        const result = rewriteOrRefusal(() => rewriteLabelsOnly(Buffer.from(input, "utf8"), inject));
        if (result === "refused") return;
        rewritten++;
        const before = goDecode(schema, referenceParse(input), undefined) as GoStruct;
        const after = goDecode(schema, referenceParse(result.toString("utf8")), undefined) as GoStruct;
        expect(labelsObject(after.get("Labels"))).toEqual(merged(labelsObject(before.get("Labels")), inject));
        expect(after.get("Name")).toEqual(before.get("Name"));
      }),
      fuzzParams(800),
    );
    expect(rewritten).toBeGreaterThan(300);
  });
});

describe("rewriteServiceSpec", () => {
  const service = (text: string) => rewriteServiceSpec(Buffer.from(text, "utf8"), injected).toString("utf8");

  it("labels the service and its task containers, creating TaskTemplate and ContainerSpec", () => {
    expect(service('{"Name":"web"}')).toBe(
      '{"Name":"web","Labels":{"ci.job":"42"},"TaskTemplate":{"ContainerSpec":{"Labels":{"ci.job":"42"}}}}',
    );
  });

  it("finds fold variants of TaskTemplate and ContainerSpec", () => {
    expect(JSON.parse(service('{"Tas\u212ATemplate":{"containerſpec":{"Image":"a","labels":{"x":"y"}}}}'))).toEqual({
      Labels: { "ci.job": "42" },
      TaskTemplate: { ContainerSpec: { Image: "a", Labels: { x: "y", "ci.job": "42" } } },
    });
  });

  it("labels volumes made by the task's Mounts", () => {
    expect(
      JSON.parse(service('{"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Type":"volume","Source":"v"}]}}}')).TaskTemplate
        .ContainerSpec,
    ).toEqual({ Labels: { "ci.job": "42" }, Mounts: [{ Type: "volume", Source: "v", VolumeOptions: { Labels: { "ci.job": "42" } } }] });
  });

  it("refuses a plugin task (swarm would install the plugin, which carries no labels)", () => {
    for (const body of [
      '{"TaskTemplate":{"PluginSpec":{"Name":"p"},"Runtime":"plugin"}}',
      '{"TaskTemplate":{"Runtime":"Plugin"}}',
      '{"TaskTemplate":{"PluginSpec":{},"ContainerSpec":{"Image":"a"}}}',
      '{"tasktemplate":{"pluginſpec":{"Name":"p"}}}',
    ]) {
      expect(refusal(() => service(body)), body).toMatchObject({ code: "DCP_CANNOT_LABEL", status: 403 });
    }
    expect(JSON.parse(service('{"TaskTemplate":{"PluginSpec":null,"ContainerSpec":{"Image":"a"}}}')).TaskTemplate.ContainerSpec).toEqual({
      Image: "a",
      Labels: { "ci.job": "42" },
    });
  });

  it("adds no ContainerSpec to a network-attachment task", () => {
    expect(service('{"TaskTemplate":{"NetworkAttachmentSpec":null}}')).toBe(
      '{"Labels":{"ci.job":"42"},"TaskTemplate":{"NetworkAttachmentSpec":null}}',
    );
  });

  it("refuses TaskTemplate or ContainerSpec given twice", () => {
    expect(refusal(() => service('{"TaskTemplate":{},"tasktemplate":{}}')).code).toBe("DCP_AMBIGUOUS_FIELD");
    expect(refusal(() => service('{"TaskTemplate":{"ContainerSpec":{},"ContainerSpec":null}}')).code).toBe("DCP_AMBIGUOUS_FIELD");
  });

  it("survives adversarial service specs", () => {
    const outcomes: Outcome[] = [];
    fc.assert(
      fc.property(serviceBody, printStyle, injectedArbitrary, (document, style, inject) => {
        outcomes.push(checkServiceSpec(printRef(document, style), inject));
      }),
      fuzzParams(1500),
    );
    const counts = tally(outcomes);
    expect(counts.rewritten).toBeGreaterThan(outcomes.length * 0.3);
    expect(counts.refused).toBeGreaterThan(0);
  });
});
