// A one-file tar stream written straight to a raw connection, for uploads of
// any size without holding them in memory.
import type { RawConnection } from "./raw-http.js";

/** Writes a one-file tar stream of `size` bytes, respecting the socket's backpressure. */
export async function writeTar(connection: RawConnection, name: string, size: number, chunked: boolean): Promise<void> {
  const header = Buffer.alloc(512);
  header.write(name, 0, "latin1");
  header.write("0000644\0", 100, "latin1");
  header.write("0000000\0", 108, "latin1");
  header.write("0000000\0", 116, "latin1");
  header.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "latin1");
  header.write("00000000000\0", 136, "latin1");
  header.write("        ", 148, "latin1");
  header.write("0", 156, "latin1");
  header.write("ustar\0" + "00", 257, "latin1");
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  const block = Buffer.alloc(1024 * 1024, 0x61);
  const socket = connection.socket;
  const send = async (data: Buffer) => {
    const framed = chunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]) : data;
    if (!socket.write(framed)) await new Promise((resolve) => socket.once("drain", resolve));
  };
  await send(header);
  for (let written = 0; written < size; written += block.length) await send(block);
  await send(Buffer.alloc(1024));
  if (chunked) socket.write("0\r\n\r\n");
}
