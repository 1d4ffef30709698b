/**
 * The kinds of resource the proxy labels, in the order they must go:
 * services first (their task containers would come back otherwise), then
 * containers (forced, with their anonymous volumes), then what containers
 * hold (networks, volumes), the swarm objects services used (secrets,
 * configs), and images last, only when asked.
 */
import { type DaemonAnswer, daemonMessage } from "../daemon-client.js";

export type KindName = "services" | "containers" | "networks" | "volumes" | "secrets" | "configs" | "images";

export interface Resource {
  readonly id: string;
  /** A name for people: the container's, the image's first tag, … ("" when none). */
  readonly name: string;
  /** Image references (tags, repo@digest), removed one by one before the image itself. */
  readonly tags?: readonly string[];
}

export interface Kind {
  readonly name: KindName;
  /** Swarm objects: a node that is not a swarm manager has none (503). */
  readonly swarm: boolean;
  listPath(labels: ReadonlyMap<string, string>): string;
  parseList(body: unknown): Resource[];
  /** The DELETE paths that remove one resource, in order; a 404 on any of them is fine. */
  removePaths(resource: Resource): string[];
}

type Json = Record<string, unknown>;

/** `filters={"label":["k=v",…]}`, percent-encoded: resources carrying ALL the labels. */
export function labelFilters(labels: ReadonlyMap<string, string>): string {
  const label = [...labels].map(([name, value]) => `${name}=${value}`);
  return `filters=${encodeURIComponent(JSON.stringify({ label }))}`;
}

const arrayOf = (body: unknown): Json[] => (Array.isArray(body) ? (body as Json[]) : []);
const text = (value: unknown): string => (typeof value === "string" ? value : "");
const specName = (item: Json): string => text((item["Spec"] as Json | undefined)?.["Name"]);
const id = (value: string) => encodeURIComponent(value);

const swarmObject = (name: "services" | "secrets" | "configs"): Kind => ({
  name,
  swarm: true,
  listPath: (labels) => `/${name}?${labelFilters(labels)}`,
  parseList: (body) => arrayOf(body).map((item) => ({ id: text(item["ID"]), name: specName(item) })),
  removePaths: (resource) => [`/${name}/${id(resource.id)}`],
});

export const SERVICES = swarmObject("services");
export const SECRETS = swarmObject("secrets");
export const CONFIGS = swarmObject("configs");

export const CONTAINERS: Kind = {
  name: "containers",
  swarm: false,
  listPath: (labels) => `/containers/json?all=1&${labelFilters(labels)}`,
  parseList: (body) =>
    arrayOf(body).map((item) => {
      const names = Array.isArray(item["Names"]) ? (item["Names"] as unknown[]).map(text) : [];
      return { id: text(item["Id"]), name: (names[0] ?? "").replace(/^\//, "") };
    }),
  // Forced (running ones too), with their anonymous volumes.
  removePaths: (resource) => [`/containers/${id(resource.id)}?force=1&v=1`],
};

export const NETWORKS: Kind = {
  name: "networks",
  swarm: false,
  listPath: (labels) => `/networks?${labelFilters(labels)}`,
  parseList: (body) => arrayOf(body).map((item) => ({ id: text(item["Id"]), name: text(item["Name"]) })),
  removePaths: (resource) => [`/networks/${id(resource.id)}`],
};

export const VOLUMES: Kind = {
  name: "volumes",
  swarm: false,
  listPath: (labels) => `/volumes?${labelFilters(labels)}`,
  parseList: (body) => {
    const volumes = body !== null && typeof body === "object" ? (body as Json)["Volumes"] : undefined;
    return arrayOf(volumes).map((item) => ({ id: text(item["Name"]), name: text(item["Name"]) }));
  },
  removePaths: (resource) => [`/volumes/${id(resource.id)}`],
};

export const IMAGES: Kind = {
  name: "images",
  swarm: false,
  listPath: (labels) => `/images/json?${labelFilters(labels)}`,
  parseList: (body) =>
    arrayOf(body).map((item) => {
      const tags = (Array.isArray(item["RepoTags"]) ? (item["RepoTags"] as unknown[]).map(text) : []).filter(
        (tag) => tag !== "" && tag !== "<none>:<none>",
      );
      const digests = Array.isArray(item["RepoDigests"]) ? (item["RepoDigests"] as unknown[]).map(text).filter((digest) => digest.includes("@") && digest !== "<none>@<none>") : [];
      return { id: text(item["Id"]), name: tags[0] ?? digests[0] ?? "", tags: [...tags, ...digests] };
    }),
  // Untagged one reference (tag, then repo@digest) at a time: the last one
  // deletes the image, and an ID with several references could only go
  // forced. Then by ID, for an image without references. Never forced: an
  // image a container still uses stays.
  removePaths: (resource) => [...(resource.tags ?? []).map((tag) => `/images/${id(tag)}`), `/images/${id(resource.id)}`],
};

/** The kinds to reap, in order; images only with `--images`. */
export function kindsToReap(options: { images: boolean }): Kind[] {
  return [SERVICES, CONTAINERS, NETWORKS, VOLUMES, SECRETS, CONFIGS, ...(options.images ? [IMAGES] : [])];
}

/** The daemon's answer to a swarm list on a node that is not a manager (or has no swarm). */
export function isSwarmInactive(answer: DaemonAnswer): boolean {
  return answer.status === 503 || /not a swarm manager|swarm mode/i.test(answer.status >= 400 ? daemonMessage(answer) : "");
}
