/**
 * Volume names in flight through this proxy, so that a volume it creates
 * ahead of a container create (create-bind-volumes) cannot be removed
 * before the create has made the container use it. Otherwise the daemon
 * would make the volume again for the container, without labels.
 *
 * Two kinds of entries, each kept until its request's exchange is finished
 * or its client connection is gone (connection.ts). There is no time limit:
 * a request can wait at the daemon behind a slow one for as long as the
 * client likes, and a hold that lapsed meanwhile would let a delete through.
 * - held: names created ahead of a create that is not answered yet. Deletes
 *   and prunes that arrive meanwhile are refused (guard-held-volumes).
 * - removing: deletes and prunes forwarded and not answered yet. The daemon
 *   may carry them out later (queued behind a slow request on their
 *   connection), so a create that needs one of those names is refused
 *   meanwhile, before anything is created.
 */
/** Stands for "every unused volume": a prune under way. */
const ALL_VOLUMES = "\0prune";

export class VolumeHolds {
  private readonly held = new Map<string, number>();
  private readonly removing = new Map<string, number>();

  /** Holds `names` until the returned release is called (once is enough; later calls do nothing). */
  hold(names: readonly string[]): () => void {
    return track(this.held, names);
  }

  /** A delete of `name` is under way, until the returned release. */
  removal(name: string): () => void {
    return track(this.removing, [name]);
  }

  /** A prune is under way, until the returned release. */
  prune(): () => void {
    return track(this.removing, [ALL_VOLUMES]);
  }

  isHeld(name: string): boolean {
    return this.held.has(name);
  }

  get anyHeld(): boolean {
    return this.held.size > 0;
  }

  /** The first of `names` a delete or prune under way may remove, if any ("every unused volume" for a prune). */
  beingRemoved(names: readonly string[]): string | undefined {
    if (this.removing.has(ALL_VOLUMES)) return "every unused volume (a prune)";
    return names.find((name) => this.removing.has(name));
  }
}

function track(counts: Map<string, number>, names: readonly string[]): () => void {
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const name of names) {
      const left = (counts.get(name) ?? 1) - 1;
      if (left > 0) counts.set(name, left);
      else counts.delete(name);
    }
  };
}
