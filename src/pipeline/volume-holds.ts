/**
 * Names of volumes the proxy has created ahead of a container create that
 * has not been answered yet (create-bind-volumes). Until the container
 * exists, such a volume is in use by nothing, and a delete or prune could
 * remove it, after which the daemon would make it again for the container,
 * without labels. While a name is held, the guard-held-volumes stage refuses
 * deletes of it, and prunes, that come through this proxy.
 *
 * A hold ends when its request's exchange is finished, or after
 * HOLD_LIMIT_MS if that never comes (a client gone before the answer).
 */
export const HOLD_LIMIT_MS = 5 * 60_000;

export class VolumeHolds {
  private readonly counts = new Map<string, number>();

  /** Holds `names` until the returned release is called (once is enough; later calls do nothing). */
  hold(names: readonly string[], limitMs = HOLD_LIMIT_MS): () => void {
    for (const name of names) this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      for (const name of names) {
        const left = (this.counts.get(name) ?? 1) - 1;
        if (left > 0) this.counts.set(name, left);
        else this.counts.delete(name);
      }
    };
    const timer = setTimeout(release, limitMs);
    timer.unref();
    return release;
  }

  isHeld(name: string): boolean {
    return this.counts.has(name);
  }

  get anyHeld(): boolean {
    return this.counts.size > 0;
  }
}
