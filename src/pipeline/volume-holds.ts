/**
 * Volume names in flight through this proxy, so that a volume it creates
 * ahead of a container create (create-bind-volumes) cannot be removed
 * before the create has made the container use it. Otherwise the daemon
 * would make the volume again for the container, without labels.
 *
 * Two kinds of entries, each kept until its request's exchange is finished
 * (or HOLD_LIMIT_MS, if that never comes: a client gone before the answer):
 * - held: names created ahead of a create that is not answered yet. Deletes
 *   and prunes that arrive meanwhile are refused (guard-held-volumes).
 * - removing: deletes and prunes forwarded and not answered yet. The daemon
 *   may carry them out later (queued behind a slow request on their
 *   connection), so a create that needs one of those names is refused
 *   meanwhile, before anything is created.
 */
export const HOLD_LIMIT_MS = 5 * 60_000;

/** Stands for "every unused volume": a prune under way. */
const ALL_VOLUMES = "\0prune";

export class VolumeHolds {
  private readonly held = new Map<string, number>();
  private readonly removing = new Map<string, number>();

  /** Holds `names` until the returned release is called (once is enough; later calls do nothing). */
  hold(names: readonly string[], limitMs = HOLD_LIMIT_MS): () => void {
    return track(this.held, names, limitMs);
  }

  /** A delete of `name` is under way, until the returned release. */
  removal(name: string, limitMs = HOLD_LIMIT_MS): () => void {
    return track(this.removing, [name], limitMs);
  }

  /** A prune is under way, until the returned release. */
  prune(limitMs = HOLD_LIMIT_MS): () => void {
    return track(this.removing, [ALL_VOLUMES], limitMs);
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

function track(counts: Map<string, number>, names: readonly string[], limitMs: number): () => void {
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    clearTimeout(timer);
    for (const name of names) {
      const left = (counts.get(name) ?? 1) - 1;
      if (left > 0) counts.set(name, left);
      else counts.delete(name);
    }
  };
  const timer = setTimeout(release, limitMs);
  timer.unref();
  return release;
}
