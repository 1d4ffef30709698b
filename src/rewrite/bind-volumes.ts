/**
 * The named volumes that a container create makes on the fly through
 * `Binds` (`docker run -v name:/path`).
 *
 * A bind entry carries no field for labels, so the proxy creates those
 * volumes itself, labelled, before it forwards the create (see the
 * create-bind-volumes stage). This module only reads the body the daemon will
 * read: which host config applies, which entries name a volume, and with
 * which driver.
 *
 * It errs towards naming a volume. A name the daemon would not have created
 * (an entry it rejects for another reason) costs a labelled, unused volume
 * that `docker volume prune` removes; missing one the daemon does create
 * would leave an unlabelled volume behind, which is what the proxy exists to
 * prevent.
 */
import { RewriteError } from "../errors.js";
import type { JsonObject, JsonValue } from "./json-document.js";
import { describeKind, nestedStruct, singleMemberForField } from "./struct-fields.js";

export interface BindVolume {
  /** The volume's name, as written in the bind entry. */
  readonly name: string;
  /** `HostConfig.VolumeDriver`; "" lets the daemon choose (its default, or the driver of an existing volume). */
  readonly driver: string;
}

/** The named volumes a container create's `Binds` would make, in order, each name once. */
export function namedBindVolumes(root: JsonObject): BindVolume[] {
  // Which host config applies follows dockerd's ContainerConfigWrapper
  // (runconfig/config_unix.go, getHostConfig): the "HostConfig" member when
  // there is one, else the deprecated host settings at the top level. A
  // top-level VolumeDriver still fills in an empty one inside HostConfig.
  const inner = nestedStruct(root, "HostConfig", "HostConfig");
  const topLevelDriver = stringField(root, "VolumeDriver", "VolumeDriver");
  const binds = inner === undefined ? stringList(root, "Binds", "Binds") : stringList(inner, "Binds", "HostConfig.Binds");
  if (binds.length === 0) return [];
  const innerDriver = inner === undefined ? "" : stringField(inner, "VolumeDriver", "HostConfig.VolumeDriver");
  const driver = innerDriver || topLevelDriver;

  const names = new Set<string>();
  for (const entry of binds) {
    const name = volumeNameOf(entry);
    if (name !== undefined) names.add(name);
  }
  return [...names].map((name) => ({ name, driver }));
}

/**
 * The volume a bind entry names, per the daemon's Linux parser
 * (volume/mounts/linux_parser.go, ParseMountRaw): `source:target[:mode]`
 * where the source is not an absolute path. Entries that name no volume:
 * a bare target (an anonymous volume, which has no name to create ahead),
 * an absolute source (a host path), and specs the daemon rejects whatever
 * they say (more than three parts, an empty source).
 */
export function volumeNameOf(entry: string): string | undefined {
  const parts = entry.split(":");
  if (parts.length < 2 || parts.length > 3) return undefined;
  const source = parts[0]!;
  if (source === "" || source.startsWith("/")) return undefined;
  return source;
}

function stringList(object: JsonObject, fieldName: string, path: string): string[] {
  const value = singleMemberForField(object, fieldName, path);
  if (value === undefined || value.kind === "null") return [];
  if (value.kind !== "array") throw notA("an array of strings or null", path, value);
  return value.elements.map((element, index) => {
    // The daemon refuses the whole create over an element that is not a
    // string (Go: "cannot unmarshal ... into ... of type string"), so no
    // volume of this body could be made: refusing it here is equivalent.
    if (element.kind !== "string") throw notA("a string", `${path}[${index}]`, element);
    return element.value;
  });
}

function stringField(object: JsonObject, fieldName: string, path: string): string {
  const value = singleMemberForField(object, fieldName, path);
  if (value === undefined || value.kind === "null") return "";
  if (value.kind !== "string") throw notA("a string or null", path, value);
  return value.value;
}

function notA(expected: string, path: string, value: JsonValue): RewriteError {
  return new RewriteError("DCP_INVALID_JSON", `${path} must be ${expected}, not ${describeKind(value)}`);
}
