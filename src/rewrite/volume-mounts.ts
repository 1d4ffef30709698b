/**
 * Labels for the named volumes that a `Mounts` list creates on the fly.
 *
 * A mount of Type "volume" makes the daemon create its volume (when missing)
 * with `VolumeOptions.Labels`. A container create compares Type exactly
 * (volume/mounts parser: `case mount.TypeVolume`), but a service spec is
 * upper-cased first (daemon/cluster/convert: `Mount_MountType_value[
 * strings.ToUpper(...)]`), so "Volume" and "VOLUME" are volume mounts there.
 * Every ASCII case of "volume" gets labels: on a container the daemon
 * rejects the mount whatever it carries. (No other letter upper-cases into
 * V, O, L, U, M or E.)
 *
 * Repeated `Mounts` keys are refused: Go decodes a repeated slice into the
 * elements already there, merging old and new mounts field by field.
 */
import { RewriteError } from "../errors.js";
import type { JsonObject, JsonValue } from "./json-document.js";
import { withInjectedLabels } from "./labels.js";
import { describeKind, fieldPath, singleMemberForField, withField, withUpdatedNestedStruct } from "./struct-fields.js";

/** `owner` (a HostConfig or ContainerSpec) with the injected labels on each volume mount. */
export function withLabelledVolumeMounts(
  owner: JsonObject,
  injected: ReadonlyMap<string, string>,
  ownerPath: string,
): JsonObject {
  const path = fieldPath(ownerPath, "Mounts");
  const mounts = singleMemberForField(owner, "Mounts", path);
  if (mounts === undefined || mounts.kind === "null") return owner;
  if (mounts.kind !== "array") {
    throw new RewriteError("DCP_INVALID_JSON", `${path} must be an array or null, not ${describeKind(mounts)}`);
  }
  const elements = mounts.elements.map((mount, index) => withVolumeLabels(mount, injected, `${path}[${index}]`));
  return withField(owner, "Mounts", { kind: "array", elements });
}

function withVolumeLabels(mount: JsonValue, injected: ReadonlyMap<string, string>, path: string): JsonValue {
  // A null element decodes to an empty Mount, which the daemon rejects (no Type).
  if (mount.kind === "null") return mount;
  if (mount.kind !== "object") {
    throw new RewriteError("DCP_INVALID_JSON", `${path} must be an object, not ${describeKind(mount)}`);
  }
  const typePath = fieldPath(path, "Type");
  const type = singleMemberForField(mount, "Type", typePath);
  if (type === undefined || type.kind === "null") return mount;
  if (type.kind !== "string") {
    throw new RewriteError("DCP_INVALID_JSON", `${typePath} must be a string, not ${describeKind(type)}`);
  }
  if (type.value.toLowerCase() !== "volume") return mount;
  const optionsPath = fieldPath(path, "VolumeOptions");
  return withUpdatedNestedStruct(mount, "VolumeOptions", optionsPath, (options) =>
    withInjectedLabels(options, "Labels", injected, optionsPath),
  );
}
