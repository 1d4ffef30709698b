/**
 * Rewriters for the JSON bodies of resource-creating API calls.
 *
 * Each one parses the whole body, edits the AST and prints the whole document
 * again, so the daemon only ever reads bytes the proxy printed. Whatever the
 * proxy cannot interpret with certainty is refused with a RewriteError (400).
 */
import { RewriteError } from "../errors.js";
import type { Injected } from "./injected.js";
import type { JsonObject } from "./json-document.js";
import { isBlankJson, jsonObject, jsonString, parseJson, serializeJson } from "./json-document.js";
import { withInjectedLabels } from "./labels.js";
import {
  describeKind,
  membersForField,
  nestedStruct,
  refuseField,
  withField,
  withUpdatedNestedStruct,
} from "./struct-fields.js";
import { withLabelledVolumeMounts } from "./volume-mounts.js";

export type { Injected } from "./injected.js";

/**
 * POST /containers/create: `Labels`, the volumes made by
 * `HostConfig.Mounts[]` of type volume, and `HostConfig.CgroupParent`.
 */
export function rewriteContainerCreate(body: Buffer, injected: Injected): Buffer {
  const root = parseBodyObject(body);
  // dockerd 20.10 on Linux decodes the body into a wrapper that also EMBEDS
  // a HostConfig (runconfig/config_unix.go, "Deprecated ... read attributes
  // from json that are not in the inner host config"). Without a "HostConfig"
  // member, top-level "Mounts"/"CgroupParent" become the container's host
  // config: they are refused, so that neither an unlabelled volume nor a
  // parent of the client's choosing can come in that way.
  const deprecatedWhy = "host settings belong inside HostConfig (old daemons read them at the top level)";
  refuseField(root, "Mounts", "Mounts", deprecatedWhy);
  refuseField(root, "CgroupParent", "CgroupParent", deprecatedWhy);

  const labelled = withInjectedLabels(root, "Labels", injected.labels);
  // A HostConfig is written only where there is something to write into: the
  // client's (its volume mounts get labels) or the cgroup parent. An empty
  // one added to a body without it is not neutral: it hides the other
  // top-level host settings that the daemon would otherwise apply, and
  // dockerd 20.10 takes longer over a create that has one (about 1.3 ms more
  // on the benchmark machine, measured with the same body with and without
  // `"HostConfig":{}` sent directly).
  if (injected.cgroupParent === undefined && nestedStruct(labelled, "HostConfig", "HostConfig") === undefined) {
    return printBody(labelled);
  }
  const rewritten = withUpdatedNestedStruct(labelled, "HostConfig", "HostConfig", (hostConfig) => {
    const withMounts = withLabelledVolumeMounts(hostConfig, injected.labels, "HostConfig");
    if (injected.cgroupParent === undefined) return withMounts;
    return withField(withMounts, "CgroupParent", jsonString(injected.cgroupParent));
  });
  return printBody(rewritten);
}

/**
 * Calls whose only labels are the top-level `Labels`: networks/create,
 * volumes/create, secrets/create and configs/create, their updates, and the
 * container Config body of POST /commit.
 */
export function rewriteLabelsOnly(body: Buffer, injected: Injected): Buffer {
  const root = parseBodyObject(body);
  return printBody(withInjectedLabels(root, "Labels", injected.labels));
}

/**
 * POST /services/create and /services/{id}/update: the service's own `Labels`
 * and the labels of its task containers, `TaskTemplate.ContainerSpec.Labels`
 * (plus the volumes made by `TaskTemplate.ContainerSpec.Mounts[]`).
 */
export function rewriteServiceSpec(body: Buffer, injected: Injected): Buffer {
  const root = parseBodyObject(body);
  const labelled = withInjectedLabels(root, "Labels", injected.labels);
  const rewritten = withUpdatedNestedStruct(labelled, "TaskTemplate", "TaskTemplate", (taskTemplate) =>
    withContainerSpecLabels(taskTemplate, injected.labels),
  );
  return printBody(rewritten);
}

const CONTAINER_SPEC_PATH = "TaskTemplate.ContainerSpec";

function withContainerSpecLabels(taskTemplate: JsonObject, labels: ReadonlyMap<string, string>): JsonObject {
  refusePluginTasks(taskTemplate);
  // A network-attachment task runs no container, and a ContainerSpec added
  // next to its spec could make the daemon reject the service. But a
  // ContainerSpec the client did send is always labelled: the daemon picks the
  // runtime from TaskTemplate.Runtime, not from which specs are present.
  const clientSpec = nestedStruct(taskTemplate, "ContainerSpec", CONTAINER_SPEC_PATH);
  if (clientSpec === undefined && runsNonContainerTasks(taskTemplate)) return taskTemplate;
  return withUpdatedNestedStruct(taskTemplate, "ContainerSpec", CONTAINER_SPEC_PATH, (containerSpec) =>
    withLabelledVolumeMounts(
      withInjectedLabels(containerSpec, "Labels", labels, CONTAINER_SPEC_PATH),
      labels,
      CONTAINER_SPEC_PATH,
    ),
  );
}

function runsNonContainerTasks(taskTemplate: JsonObject): boolean {
  return membersForField(taskTemplate, "NetworkAttachmentSpec").length > 0;
}

/**
 * A plugin service (Runtime "plugin", experimental daemons) makes swarm
 * install its plugin on every node: a plugin carries no labels, and
 * installing one is refused everywhere else. So is any task template that
 * names a plugin runtime or carries a PluginSpec.
 */
function refusePluginTasks(taskTemplate: JsonObject): void {
  const names = membersForField(taskTemplate, "Runtime").some(([, value]) => value.kind === "string" && value.value.toLowerCase() === "plugin");
  const specs = membersForField(taskTemplate, "PluginSpec").some(([, value]) => value.kind !== "null");
  if (names || specs) {
    throw new RewriteError(
      "DCP_CANNOT_LABEL",
      "a plugin service is not accepted through dockerd-ci-proxy: swarm would install its plugin, which carries no labels; manage plugins on the daemon directly",
      403,
    );
  }
}

/**
 * The body as a JSON object. An empty body is `{}`: the daemon's ReadJSON
 * treats a zero-length body as a zero-valued request.
 */
function parseBodyObject(body: Buffer): JsonObject {
  if (isBlankJson(body)) return jsonObject([]);
  const document = parseJson(body, "request body");
  if (document.kind !== "object") {
    throw new RewriteError("DCP_INVALID_JSON", `request body must be a JSON object, not ${describeKind(document)}`);
  }
  return document;
}

function printBody(document: JsonObject): Buffer {
  return Buffer.from(serializeJson(document), "utf8");
}
