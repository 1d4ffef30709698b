/**
 * The floor of any Node.js relay: a blind byte copy between a listening UNIX
 * socket and the upstream, one upstream connection per client connection,
 * nothing parsed. The benchmark runs it as the `node-pipe` target so that the
 * proxy's own cost (parsing, classifying, framing) shows apart from what Node's
 * sockets cost at all.
 *
 * Usage: node node-pipe.js <listen socket> <upstream socket>
 */
import { createConnection, createServer } from "node:net";
import { pipeline } from "node:stream";

const [listenPath, upstreamPath] = process.argv.slice(2);
if (!listenPath || !upstreamPath) {
  process.stderr.write("usage: node-pipe <listen socket> <upstream socket>\n");
  process.exit(2);
}

const server = createServer({ allowHalfOpen: true }, (client) => {
  const upstream = createConnection({ path: upstreamPath, allowHalfOpen: true });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  pipeline(client, upstream, (error) => error && close());
  pipeline(upstream, client, (error) => error && close());
});
server.listen(listenPath);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
