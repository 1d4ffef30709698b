// A stand-in daemon socket: a UNIX socket server that forwards every
// connection to the real daemon socket. Tests start it late (daemon missing
// at start), stop it mid-stream (daemon going away), cut responses after
// their head, and watch whether the proxy closed its side.
import { rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface RelayConnection {
  /** The proxy's connection to the relay. */
  readonly downstream: Socket;
  /** The relay's connection to the real daemon. */
  readonly upstream: Socket;
  /** Resolves when the proxy's side has closed. */
  readonly downstreamClosed: Promise<void>;
  /** Bytes received from the proxy. */
  bytesIn: number;
}

export interface RelayOptions {
  /** Cut both sides as soon as a response head has been passed on (its body never is). */
  cutAfterResponseHead?: boolean;
}

export class DaemonRelay {
  readonly connections: RelayConnection[] = [];
  private server: Server | undefined;

  constructor(
    readonly path: string,
    private readonly daemonSocket: string,
    private options: RelayOptions = {},
  ) {}

  setOptions(options: RelayOptions): void {
    this.options = options;
  }

  start(): Promise<void> {
    rmSync(this.path, { force: true });
    const server = createServer({ allowHalfOpen: true }, (downstream) => this.accept(downstream));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.path, () => resolve());
    });
  }

  /** Stops accepting and destroys every connection in both directions, as a daemon crash would. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.connections) {
      c.downstream.destroy();
      c.upstream.destroy();
    }
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }

  private accept(downstream: Socket): void {
    const upstream = connect({ path: this.daemonSocket, allowHalfOpen: true });
    const downstreamClosed = new Promise<void>((resolve) => downstream.once("close", () => resolve()));
    const connection: RelayConnection = { downstream, upstream, downstreamClosed, bytesIn: 0 };
    this.connections.push(connection);
    downstream.on("error", () => {});
    upstream.on("error", () => downstream.destroy());
    downstream.on("data", (chunk: Buffer) => {
      connection.bytesIn += chunk.length;
      if (!upstream.write(chunk)) {
        downstream.pause();
        upstream.once("drain", () => downstream.resume());
      }
    });
    downstream.on("end", () => upstream.end());
    downstream.on("close", () => upstream.destroy());
    let head = Buffer.alloc(0);
    const cut = this.options.cutAfterResponseHead === true;
    upstream.on("data", (chunk: Buffer) => {
      if (!cut) {
        if (!downstream.write(chunk)) {
          upstream.pause();
          downstream.once("drain", () => upstream.resume());
        }
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      downstream.write(head.subarray(0, end + 4), () => {
        downstream.destroy();
        upstream.destroy();
      });
    });
    upstream.on("end", () => downstream.end());
  }
}
