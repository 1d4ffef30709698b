/**
 * Docker names a container's host after the first 12 hex digits of its ID,
 * unless the container was started with `--hostname` or host networking.
 * So a 12-hex hostname is only a guess, to be confirmed by the daemon.
 */
const SHORT_CONTAINER_ID = /^[0-9a-f]{12}$/;

/** The ID prefix the hostname suggests, or undefined when it cannot be one. */
export function containerIdPrefixFromHostname(hostname: string): string | undefined {
  const trimmed = hostname.trim();
  return SHORT_CONTAINER_ID.test(trimmed) ? trimmed : undefined;
}
