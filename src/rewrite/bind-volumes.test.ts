import { describe, expect, it } from "vitest";
import { namedBindVolumes, volumeNameOf } from "./bind-volumes.js";
import { parseJson } from "./json-document.js";
import type { JsonObject } from "./json-document.js";

function volumesOf(body: string) {
  return namedBindVolumes(parseJson(Buffer.from(body)) as JsonObject);
}

describe("volumeNameOf (the daemon's Linux bind syntax)", () => {
  it.each([
    ["cache:/data", "cache"],
    ["cache:/data:ro", "cache"],
    ["cache:/data:ro,nocopy,z", "cache"],
    ["my.vol-1_x:/d", "my.vol-1_x"],
    // Entries the daemon rejects are still named: a labelled, unused volume
    // is the cheap mistake, an unlabelled one the expensive one.
    ["cache:ro", "cache"],
    ["./relative:/d", "./relative"],
    ["cache:/d:bogus-mode", "cache"],
  ])("%j names volume %j", (entry, name) => {
    expect(volumeNameOf(entry)).toBe(name);
  });

  it.each([
    ["/data", "a bare target: an anonymous volume"],
    ["/host/path:/data", "an absolute source: a host path"],
    ["/host/path:/data:ro", "a host path with a mode"],
    [":/data", "an empty source, refused by the daemon"],
    ["a:b:c:d", "more than three parts, refused by the daemon"],
    ["", "an empty entry, refused by the daemon"],
  ])("%j names no volume (%s)", (entry) => {
    expect(volumeNameOf(entry)).toBeUndefined();
  });
});

describe("namedBindVolumes", () => {
  it("reads HostConfig.Binds, with HostConfig.VolumeDriver, each name once", () => {
    expect(
      volumesOf('{"Image":"x","HostConfig":{"Binds":["a:/a","/h:/h","b:/b:ro","a:/again"],"VolumeDriver":"local"}}'),
    ).toEqual([
      { name: "a", driver: "local" },
      { name: "b", driver: "local" },
    ]);
  });

  it("binds keys the way Go does (any case, ſ for s)", () => {
    expect(volumesOf('{"hostconfig":{"bindſ":["a:/a"],"volumedriver":"d"}}')).toEqual([{ name: "a", driver: "d" }]);
  });

  it("without a HostConfig member, reads the deprecated top-level Binds and VolumeDriver", () => {
    expect(volumesOf('{"Image":"x","Binds":["top:/t"],"VolumeDriver":"d"}')).toEqual([{ name: "top", driver: "d" }]);
    expect(volumesOf('{"Image":"x","Binds":["top:/t"],"HostConfig":null}')).toEqual([{ name: "top", driver: "" }]);
  });

  it("with a HostConfig member, ignores top-level Binds but takes a top-level VolumeDriver when HostConfig has none", () => {
    const body = '{"Binds":["top:/t"],"VolumeDriver":"outer","HostConfig":{"Binds":["in:/i"]}}';
    expect(volumesOf(body)).toEqual([{ name: "in", driver: "outer" }]);
    expect(volumesOf('{"VolumeDriver":"outer","HostConfig":{"Binds":["in:/i"],"VolumeDriver":"inner"}}')).toEqual([
      { name: "in", driver: "inner" },
    ]);
  });

  it("names nothing for a create without binds, or with null ones", () => {
    expect(volumesOf('{"Image":"x"}')).toEqual([]);
    expect(volumesOf('{"HostConfig":{"Binds":null}}')).toEqual([]);
    expect(volumesOf('{"HostConfig":{"Binds":["/h:/h"]}}')).toEqual([]);
  });

  it.each([
    ['{"HostConfig":{"Binds":["a:/a"],"binds":["b:/b"]}}', /appears 2 times/],
    ['{"HostConfig":{"Binds":"a:/a"}}', /HostConfig.Binds must be an array/],
    ['{"HostConfig":{"Binds":["a:/a",7]}}', /HostConfig.Binds\[1\] must be a string/],
    ['{"HostConfig":{"Binds":[null]}}', /HostConfig.Binds\[0\] must be a string/],
    ['{"HostConfig":{"Binds":["a:/a"],"VolumeDriver":1}}', /HostConfig.VolumeDriver must be a string/],
    ['{"HostConfig":{},"hostconfig":{"Binds":["a:/a"]}}', /HostConfig appears 2 times/],
  ])("refuses %j, which it cannot read with certainty (or the daemon would refuse)", (body, message) => {
    expect(() => volumesOf(body)).toThrow(message);
  });
});
