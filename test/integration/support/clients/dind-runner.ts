// Entry point of child-dind.ts: starts a dind in THIS process, prints its
// socket on one JSON line and stops it when stdin closes (the parent ended or
// died) or on SIGTERM.
import { startDind } from "../dind.js";

const dind = await startDind();
process.stdout.write(`${JSON.stringify({ socketPath: dind.socketPath, containerId: dind.containerId })}\n`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await dind.stop().catch((err: unknown) => process.stderr.write(`dind stop failed: ${String(err)}\n`));
  process.exit(0);
}
process.stdin.on("end", () => void shutdown());
process.stdin.on("error", () => void shutdown());
process.stdin.resume();
process.once("SIGTERM", () => void shutdown());
process.once("SIGINT", () => void shutdown());
