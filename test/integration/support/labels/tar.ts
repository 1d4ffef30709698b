// A minimal ustar writer: enough for build contexts and import rootfs tars
// made in memory, without shelling out.

export interface TarEntry {
  name: string;
  /** File contents; a directory when undefined and the name ends with "/". */
  content?: Buffer | string;
  mode?: number;
}

function header(name: string, size: number, mode: number, type: "0" | "5"): Buffer {
  if (Buffer.byteLength(name) > 99) throw new Error(`tar entry name too long: ${name}`);
  const block = Buffer.alloc(512, 0);
  block.write(name, 0, "utf8");
  block.write(`${mode.toString(8).padStart(7, "0")}\0`, 100, "latin1");
  block.write("0000000\0", 108, "latin1"); // uid
  block.write("0000000\0", 116, "latin1"); // gid
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "latin1");
  block.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, "0")}\0`, 136, "latin1");
  block.write("        ", 148, "latin1");
  block.write(type, 156, "latin1");
  block.write("ustar\0" + "00", 257, "latin1");
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}

export function tar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (entry.content === undefined) {
      parts.push(header(entry.name.endsWith("/") ? entry.name : `${entry.name}/`, 0, entry.mode ?? 0o755, "5"));
      continue;
    }
    const content = Buffer.isBuffer(entry.content) ? entry.content : Buffer.from(entry.content, "utf8");
    parts.push(header(entry.name, content.length, entry.mode ?? 0o644, "0"), content);
    const pad = (512 - (content.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

/** A build context holding just this Dockerfile. */
export function dockerfileContext(dockerfile: string): Buffer {
  return tar([{ name: "Dockerfile", content: dockerfile }]);
}
