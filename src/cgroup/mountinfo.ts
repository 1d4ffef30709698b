/**
 * The container ID in /proc/self/mountinfo.
 *
 * Docker bind-mounts `<data-root>/containers/<64 hex id>/hostname` onto
 * `/etc/hostname` of every container, whatever its hostname or network mode.
 * Only that line is read: other lines hold 64-hex strings too (overlay layer
 * directories, volume paths) that look exactly like container IDs.
 *
 * The root field is the path INSIDE the mounted filesystem, so when the data
 * root is its own filesystem (a tmpfs in dind, a dedicated disk) it starts at
 * `/containers/…` rather than at `/var/lib/docker/containers/…`.
 */
const HOSTNAME_SOURCE = /(?:^|\/)containers\/([0-9a-f]{64})\/hostname$/;

interface MountinfoLine {
  /** Field 4: the mounted path within its filesystem. */
  readonly root: string;
  /** Field 5: where it is mounted in this process's view. */
  readonly mountPoint: string;
}

/** The full container ID behind the /etc/hostname bind mount, or undefined. */
export function containerIdFromMountinfo(mountinfo: string): string | undefined {
  // The last mount on a path is the one this process sees.
  const hostnameMount = parseMountinfo(mountinfo)
    .filter((line) => line.mountPoint === "/etc/hostname")
    .at(-1);
  if (!hostnameMount) return undefined;
  return HOSTNAME_SOURCE.exec(hostnameMount.root)?.[1];
}

function parseMountinfo(text: string): MountinfoLine[] {
  const lines: MountinfoLine[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    lines.push({ root: unescapeOctal(root), mountPoint: unescapeOctal(mountPoint) });
  }
  return lines;
}

/** The kernel writes space, tab, newline and backslash in paths as `\ooo`. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
