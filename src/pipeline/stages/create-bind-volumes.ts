/**
 * create-bind-volumes: the named volumes that a container create makes through
 * `Binds` (`docker run -v cache:/data`) are created by the proxy first, with
 * the injected labels, so that the daemon finds them and creates nothing
 * unlabelled. A bind entry has no field for labels, and rewriting it into a
 * `Mounts` entry would change what the container's inspect shows and drop
 * options `Mounts` cannot say (SELinux `z`/`Z`).
 *
 * It runs after serialize and reads the bytes the daemon will read. Creating
 * a volume is idempotent: a volume that already exists is returned as it is,
 * labels untouched, so volumes made outside the proxy stay unlabelled. When
 * the daemon refuses a volume, the create is refused with the daemon's own
 * status and message, which is what the daemon would have answered the create.
 *
 * Until the daemon has answered the create, nothing uses those volumes, so
 * a delete or prune could remove one and the daemon would make it again,
 * unlabelled: the names are held meanwhile, and deletes and prunes of them
 * that come through this proxy wait for the create's answer
 * (guard-held-volumes). A create whose names a delete or prune under way
 * may remove waits for that one's answer before it makes anything.
 *
 * Not covered, and documented: anonymous volumes (no name to create ahead),
 * and deletes that do not come through this proxy during that time.
 */
import { type DaemonAnswer, type DaemonClient, daemonMessage } from "../../daemon-client.js";
import { DaemonError, DaemonRefusalError, RewriteError } from "../../errors.js";
import { type BindVolume, namedBindVolumes } from "../../rewrite/bind-volumes.js";
import { parseJson } from "../../rewrite/json-document.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";
import { claimUntilAnswered, type VolumeHolds } from "../volume-holds.js";

/** Creates one volume with labels; resolves when it exists (new or not), rejects with a ProxyError. */
export type VolumeCreator = (volume: BindVolume, labels: ReadonlyMap<string, string>) => Promise<void>;

export function createBindVolumesStage(createVolume: VolumeCreator, holds: VolumeHolds): Stage {
  return {
    name: "create-bind-volumes",
    process(request: ProxyRequest): ProxyRequest | Promise<ProxyRequest> {
      const labels = request.injection.labels;
      if (request.plan?.kind !== "json-body" || request.plan.target !== "container" || labels === undefined) return request;
      const body = request.rewrite.body ?? request.bufferedBody;
      if (body === undefined) {
        throw new RewriteError("DCP_INTERNAL", "container create body was not buffered before its volumes were read", 500);
      }
      if (!mayNameBinds(body)) return request;
      const document = parseJson(body, "request body");
      if (document.kind !== "object") return request; // serialize already refused anything else
      const volumes = namedBindVolumes(document);
      if (volumes.length === 0) return request;
      const prepare = () => prepareVolumes(request, volumes, labels, createVolume, holds);
      const earlier = request.exchangeEnds.earlierOver(request);
      return earlier === undefined ? prepare() : earlier.then(prepare);
    },
  };
}

/**
 * Runs once every earlier request on the connection is answered, so that the
 * create reaches a daemon connection with nothing queued before it: its
 * volumes are held only for the time the daemon takes to create it, and
 * when the client goes the proxy knows which create the daemon may be
 * running (connection.ts reads that answer before it lets go).
 */
async function prepareVolumes(
  request: ProxyRequest,
  volumes: readonly BindVolume[],
  labels: ReadonlyMap<string, string>,
  createVolume: VolumeCreator,
  holds: VolumeHolds,
): Promise<ProxyRequest> {
  // Held until the create is answered: deletes and prunes through this
  // proxy cannot remove them in between. A delete or prune already on its
  // way could still run after the volume is made: wait for its answer first.
  const waiting = claimUntilAnswered(holds, request, { kind: "use", names: volumes.map((volume) => volume.name) });
  if (waiting !== undefined) await waiting;
  await createAll(volumes, labels, createVolume);
  // And nothing follows it to the daemon until it is answered.
  request.answerBeforeNext = true;
  return request;
}

/**
 * False only when no member of the body can be Go's `Binds`: a key that
 * binds to it spells "bind" in ASCII letters of any case, unless it is
 * written with `\u` escapes. Skips a second parse of most creates.
 */
function mayNameBinds(body: Buffer): boolean {
  const text = body.toString("latin1");
  return /bind/i.test(text) || text.includes("\\u");
}

async function createAll(volumes: readonly BindVolume[], labels: ReadonlyMap<string, string>, createVolume: VolumeCreator): Promise<void> {
  // One after the other, in the order of the entries: a refusal then names
  // the first volume the daemon would have refused too.
  for (const volume of volumes) await createVolume(volume, labels);
}

/** A VolumeCreator that calls `POST /volumes/create` on the daemon. */
export function volumeCreator(daemon: DaemonClient): VolumeCreator {
  return async (volume, labels) => {
    const request = { Name: volume.name, ...(volume.driver !== "" ? { Driver: volume.driver } : {}), Labels: Object.fromEntries(labels) };
    let answer: DaemonAnswer;
    try {
      answer = await daemon.call("POST", "/volumes/create", request);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new DaemonError("DCP_DAEMON_UNREACHABLE", `cannot reach the Docker daemon to create volume ${volume.name}: ${reason}`, { cause: error });
    }
    if (answer.status >= 300) throw new DaemonRefusalError("DCP_VOLUME_NOT_CREATED", answer.status, daemonMessage(answer));
  };
}
