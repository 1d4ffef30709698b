// Before any integration test: make sure the local images exist in the Docker
// Engine the tests use (nothing can be pulled). The script rebuilds only what
// changed, so this costs well under a second on a warm machine and makes
// `npm test` enough on any machine with a reachable Docker Engine.
// Then compile dist/ from the sources, so that the tests that run the
// compiled proxy (`built: true`) run the code under test, not an old build.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const script = fileURLToPath(new URL("../../fixtures/build-images.sh", import.meta.url));
  execFileSync("bash", [script], { stdio: "inherit" });
  const repo = fileURLToPath(new URL("../../../", import.meta.url));
  execFileSync(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { cwd: repo, stdio: "inherit" });
}
