// How a dind container is run. Two ways, because `--privileged` fails on our
// CI machines (their capability bounding set lacks CAP_SYS_RESOURCE) while it
// is the normal way everywhere else:
//   default                  local/dind (test/fixtures/build-images.sh), all
//                            caps but SYS_RESOURCE, no seccomp, host cgroups.
//   DCP_TEST_DIND=official   docker:dind, privileged (pulled if missing).
import type { GenericContainer } from "testcontainers";

// testcontainers does not export its BindMount type.
type BindMount = Parameters<GenericContainer["withBindMounts"]>[0][number];

export interface Mode {
  name: "default" | "official";
  image: string;
  /** Added to the socket dir's bind mount (testcontainers keeps only one list). */
  binds: BindMount[];
  configure(container: GenericContainer, dockerdArgs: string[]): GenericContainer;
}

const defaultMode: Mode = {
  name: "default",
  image: "local/dind:latest",
  // Without --privileged, Docker mounts cgroupfs read-only; dockerd needs it
  // writable to create its containers' cgroups.
  binds: [{ source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", mode: "rw" }],
  configure: (container, dockerdArgs) =>
    container
      .withAddedCapabilities("ALL")
      .withDroppedCapabilities("SYS_RESOURCE")
      .withSecurityOpt("seccomp=unconfined")
      // Docker's tmpfs defaults to noexec, but runc executes container
      // binaries from /var/lib/docker.
      .withTmpFs({ "/var/lib/docker": "exec", "/run/docker": "" })
      .withCommand([
        "dockerd",
        ...dockerdArgs,
        // vfs as verified in ENVIRONMENT.md: it asks nothing of the kernel or
        // the backing fs. It copies each layer in full, fine for busybox.
        "--storage-driver=vfs",
        // No iptables binary in local/dind, and the host's rules stay untouched.
        "--iptables=false",
        "--ip6tables=false",
      ]),
};

const officialMode: Mode = {
  name: "official",
  image: "docker:dind",
  binds: [],
  configure: (container, dockerdArgs) =>
    container
      .withPrivilegedMode()
      // Empty: skip the entrypoint's TLS setup; we only listen on the socket.
      .withEnvironment({ DOCKER_TLS_CERTDIR: "" })
      .withCommand(["dockerd", ...dockerdArgs]),
};

export function selectedMode(): Mode {
  const wanted = process.env["DCP_TEST_DIND"] ?? "";
  if (wanted === "" || wanted === "default") return defaultMode;
  if (wanted === "official") return officialMode;
  throw new Error(`DCP_TEST_DIND=${wanted}: expected "official" or nothing`);
}
