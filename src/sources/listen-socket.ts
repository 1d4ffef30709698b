/**
 * The listen socket, as an observable of accepted client connections.
 *
 * Before listening it deals with what a previous run may have left: a socket
 * file nobody answers on (a killed proxy) is replaced; one that answers means
 * another proxy is running, and startup stops rather than steal its path; a
 * path that is not a socket at all is never deleted.
 */
import { chmodSync, chownSync, lstatSync, statSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Observable } from "rxjs";
import { ConfigError } from "../errors.js";

export interface ListenOptions {
  readonly path: string;
  /** File mode of the socket, e.g. 0o660. */
  readonly mode: number;
  /** Group to own the socket; undefined keeps the process's group. */
  readonly gid: number | undefined;
}

export interface ListeningSocket {
  readonly server: Server;
  readonly connections$: Observable<Socket>;
  /** Stops accepting and removes the socket file. */
  close(): void;
}

export async function listenSocket(options: ListenOptions): Promise<ListeningSocket> {
  await removeStaleSocket(options.path);
  // allowHalfOpen: a client that shuts down its write side (stdin done) still reads the output.
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: false });
  const connections$ = new Observable<Socket>((subscriber) => {
    const onConnection = (socket: Socket) => subscriber.next(socket);
    server.on("connection", onConnection);
    return () => server.off("connection", onConnection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ path: options.path, backlog: 1024 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(options.path, options.mode);
  if (options.gid !== undefined) chownSync(options.path, process.getuid?.() ?? 0, options.gid);
  let closed = false;
  return {
    server,
    connections$,
    close() {
      if (closed) return;
      closed = true;
      server.close();
      try {
        unlinkSync(options.path);
      } catch {
        // Already gone: nothing to clean.
      }
    },
  };
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new ConfigError(`listen socket path ${path} exists and is not a socket; refusing to replace it`);
  }
  if (await answers(path)) {
    throw new ConfigError(`listen socket ${path} is in use by another process`, "DCP_LISTEN_SOCKET_IN_USE");
  }
  unlinkSync(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe: Socket = connect({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

/** The group that owns the daemon socket: whoever may use the daemon may use the proxy. */
export function groupOf(path: string): number | undefined {
  try {
    return statSync(path).gid;
  } catch {
    return undefined;
  }
}
