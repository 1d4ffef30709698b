// Swarm mode for tests that compare the daemon's networks before and after a request.
import { dockerApi } from "./docker-api.js";
import { getJson } from "./labels/daemon-state.js";
import { waitFor } from "./wait-for.js";

/** Networks the daemon makes by itself once it is a swarm node, not at any client's request. */
const SWARM_OWN_NETWORKS = ["ingress", "docker_gwbridge"];

/**
 * Makes the daemon a single-node swarm and returns once the networks swarm
 * mode creates on its own exist. `/swarm/init` answers before they do
 * (docker_gwbridge came ~1.5 s later on an idle machine, later under load):
 * a test comparing the daemon's networks before and after a refused request
 * would otherwise count one of them as made by that request (a CI failure).
 */
export async function initSwarm(socketPath: string): Promise<void> {
  const init = await dockerApi(socketPath, "POST", "/swarm/init", { ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1" });
  if (init.status !== 200) throw new Error(`swarm init failed: ${init.status} ${init.body}`);
  await waitFor(`the swarm's own networks (${SWARM_OWN_NETWORKS.join(", ")})`, async () => {
    const names = new Set((await getJson<Array<{ Name: string }>>(socketPath, "/networks")).map((network) => network.Name));
    return SWARM_OWN_NETWORKS.every((name) => names.has(name)) ? true : undefined;
  }, 60_000);
}
