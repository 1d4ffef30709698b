// What the daemon behind the proxy holds, read DIRECTLY from its socket (never
// through the proxy): the labels of each kind of resource, and snapshots of
// everything that exists, so a test can name exactly what one request created.
import { dockerApi } from "../docker-api.js";

/** The proxy's default label. */
export const DEFAULT_LABEL_NAME = "Created-Via";
export const DEFAULT_LABEL_VALUE = "dockerd-ci-proxy";
export const DEFAULT_LABELS: Readonly<Record<string, string>> = { [DEFAULT_LABEL_NAME]: DEFAULT_LABEL_VALUE };

export type Labels = Record<string, string>;

/** GET `path` on the daemon as JSON; anything but 200 is an error naming the path. */
export async function getJson<T>(socketPath: string, path: string): Promise<T> {
  const res = await dockerApi(socketPath, "GET", path);
  if (res.status !== 200) throw new Error(`GET ${path} on ${socketPath}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as T;
}

/** GET `path` as raw text (for checks JSON.parse would spoil, such as int64 numbers). */
export async function getText(socketPath: string, path: string): Promise<string> {
  const res = await dockerApi(socketPath, "GET", path);
  if (res.status !== 200) throw new Error(`GET ${path} on ${socketPath}: ${res.status} ${res.body}`);
  return res.body;
}

export async function exists(socketPath: string, path: string): Promise<boolean> {
  const res = await dockerApi(socketPath, "GET", path);
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw new Error(`GET ${path} on ${socketPath}: ${res.status} ${res.body}`);
}

const labelsOf = (labels: Labels | null | undefined): Labels => labels ?? {};

export async function containerLabels(socketPath: string, id: string): Promise<Labels> {
  return labelsOf((await getJson<{ Config: { Labels: Labels | null } }>(socketPath, `/containers/${id}/json`)).Config.Labels);
}

export async function imageLabels(socketPath: string, ref: string): Promise<Labels> {
  return labelsOf((await getJson<{ Config: { Labels: Labels | null } }>(socketPath, `/images/${ref}/json`)).Config.Labels);
}

export async function volumeLabels(socketPath: string, name: string): Promise<Labels> {
  return labelsOf((await getJson<{ Labels: Labels | null }>(socketPath, `/volumes/${name}`)).Labels);
}

export async function networkLabels(socketPath: string, idOrName: string): Promise<Labels> {
  return labelsOf((await getJson<{ Labels: Labels | null }>(socketPath, `/networks/${idOrName}`)).Labels);
}

export interface ServiceSpecLabels {
  service: Labels;
  containerSpec: Labels;
}

export async function serviceLabels(socketPath: string, idOrName: string): Promise<ServiceSpecLabels> {
  const service = await getJson<{
    Spec: { Labels?: Labels | null; TaskTemplate?: { ContainerSpec?: { Labels?: Labels | null } } };
  }>(socketPath, `/services/${idOrName}`);
  return {
    service: labelsOf(service.Spec.Labels),
    containerSpec: labelsOf(service.Spec.TaskTemplate?.ContainerSpec?.Labels),
  };
}

export async function secretLabels(socketPath: string, idOrName: string): Promise<Labels> {
  return labelsOf((await getJson<{ Spec: { Labels?: Labels | null } }>(socketPath, `/secrets/${idOrName}`)).Spec.Labels);
}

export async function configLabels(socketPath: string, idOrName: string): Promise<Labels> {
  return labelsOf((await getJson<{ Spec: { Labels?: Labels | null } }>(socketPath, `/configs/${idOrName}`)).Spec.Labels);
}

/** `{"label":[...]}` as a `filters` query value. */
export function labelFilter(...labels: string[]): string {
  return encodeURIComponent(JSON.stringify({ label: labels }));
}

/** IDs of all containers (running or not) that carry every one of `labels` ("k" or "k=v"). */
export async function containerIdsWithLabels(socketPath: string, ...labels: string[]): Promise<string[]> {
  const list = await getJson<Array<{ Id: string }>>(socketPath, `/containers/json?all=1&filters=${labelFilter(...labels)}`);
  return list.map((c) => c.Id);
}

/** Everything of the kinds that creation calls can make, as IDs or names. */
export interface DaemonSnapshot {
  containers: Set<string>;
  volumes: Set<string>;
  networks: Set<string>;
  /** Top-level images (what `docker images` lists, dangling ones included). */
  images: Set<string>;
}

export type SnapshotKind = keyof DaemonSnapshot;
const ALL_KINDS: readonly SnapshotKind[] = ["containers", "volumes", "networks", "images"];

export async function snapshot(socketPath: string, kinds: readonly SnapshotKind[] = ALL_KINDS): Promise<DaemonSnapshot> {
  const result: DaemonSnapshot = { containers: new Set(), volumes: new Set(), networks: new Set(), images: new Set() };
  await Promise.all(
    kinds.map(async (kind) => {
      switch (kind) {
        case "containers":
          for (const c of await getJson<Array<{ Id: string }>>(socketPath, "/containers/json?all=1")) result.containers.add(c.Id);
          return;
        case "volumes":
          for (const v of (await getJson<{ Volumes: Array<{ Name: string }> | null }>(socketPath, "/volumes")).Volumes ?? []) {
            result.volumes.add(v.Name);
          }
          return;
        case "networks":
          for (const n of await getJson<Array<{ Id: string }>>(socketPath, "/networks")) result.networks.add(n.Id);
          return;
        case "images":
          for (const i of await getJson<Array<{ Id: string }>>(socketPath, "/images/json")) result.images.add(i.Id);
          return;
      }
    }),
  );
  return result;
}

/** What is in `after` and was not in `before`. */
export function created(before: DaemonSnapshot, after: DaemonSnapshot): DaemonSnapshot {
  const minus = (a: Set<string>, b: Set<string>) => new Set([...a].filter((x) => !b.has(x)));
  return {
    containers: minus(after.containers, before.containers),
    volumes: minus(after.volumes, before.volumes),
    networks: minus(after.networks, before.networks),
    images: minus(after.images, before.images),
  };
}

export function isEmpty(snap: DaemonSnapshot): boolean {
  return snap.containers.size + snap.volumes.size + snap.networks.size + snap.images.size === 0;
}

export function describeSnapshot(snap: DaemonSnapshot): string {
  const part = (name: string, set: Set<string>) => (set.size ? `${name}: ${[...set].map((x) => x.slice(0, 19)).join(", ")}` : "");
  return [part("containers", snap.containers), part("volumes", snap.volumes), part("networks", snap.networks), part("images", snap.images)]
    .filter(Boolean)
    .join("; ") || "nothing";
}

/** Labels of every resource in `snap`, keyed "<kind> <id>". */
export async function labelsOfAll(socketPath: string, snap: DaemonSnapshot): Promise<Map<string, Labels>> {
  const out = new Map<string, Labels>();
  for (const id of snap.containers) out.set(`container ${id}`, await containerLabels(socketPath, id));
  for (const name of snap.volumes) out.set(`volume ${name}`, await volumeLabels(socketPath, name));
  for (const id of snap.networks) out.set(`network ${id}`, await networkLabels(socketPath, id));
  for (const id of snap.images) out.set(`image ${id}`, await imageLabels(socketPath, id));
  return out;
}

/** Removes what `snap` names (containers first, so their volumes and images are free). */
export async function removeAll(socketPath: string, snap: DaemonSnapshot): Promise<void> {
  for (const id of snap.containers) await dockerApi(socketPath, "DELETE", `/containers/${id}?force=1&v=1`);
  for (const name of snap.volumes) await dockerApi(socketPath, "DELETE", `/volumes/${name}?force=1`);
  for (const id of snap.networks) await dockerApi(socketPath, "DELETE", `/networks/${id}`);
  for (const id of snap.images) await dockerApi(socketPath, "DELETE", `/images/${id}?force=1`);
}
