import { describe, expect, it } from "vitest";
import type { JsonObject } from "./json-document.js";
import { jsonString, parseJson, serializeJson } from "./json-document.js";
import {
  membersForField,
  nestedStruct,
  refuseField,
  singleMemberForField,
  withField,
  withoutField,
  withUpdatedNestedStruct,
} from "./struct-fields.js";
import { refusal } from "./test-support.js";

function object(text: string): JsonObject {
  const value = parseJson(Buffer.from(text, "utf8"));
  if (value.kind !== "object") throw new Error("test input must be an object");
  return value;
}


describe("field lookup and replacement", () => {
  it("finds every member Go binds to the field", () => {
    const members = membersForField(object('{"hostconfig":1,"x":2,"HOSTCONFIG":3,"Hoſtconfig":4}'), "HostConfig");
    expect(members.map(([key]) => key)).toEqual(["hostconfig", "HOSTCONFIG", "Hoſtconfig"]);
  });

  it("removes every variant and appends one canonical member", () => {
    const rewritten = withField(object('{"cgroupparent":"/a","Image":"x","CGROUPPARENT":"/b"}'), "CgroupParent", jsonString("/ci"));
    expect(serializeJson(rewritten)).toBe('{"Image":"x","CgroupParent":"/ci"}');
    expect(serializeJson(withoutField(rewritten, "CgroupParent"))).toBe('{"Image":"x"}');
  });
});

describe("nested structs", () => {
  it("returns the single object, or undefined when absent or null", () => {
    expect(nestedStruct(object('{"hostconfig":{"a":1}}'), "HostConfig", "HostConfig")).toEqual(object('{"a":1}'));
    expect(nestedStruct(object("{}"), "HostConfig", "HostConfig")).toBeUndefined();
    expect(nestedStruct(object('{"HostConfig":null}'), "HostConfig", "HostConfig")).toBeUndefined();
  });

  it("refuses a struct given more than once, since Go merges the repeats field by field", () => {
    const error = refusal(() =>
      nestedStruct(object('{"HostConfig":{},"hostconfig":{"CgroupParent":"/x"}}'), "HostConfig", "HostConfig"),
    );
    expect(error.code).toBe("DCP_AMBIGUOUS_FIELD");
    expect(error.status).toBe(400);
    expect(error.message).toContain('"HostConfig", "hostconfig"');
  });

  it("refuses a repeat even when one of them is null", () => {
    const error = refusal(() => singleMemberForField(object('{"HostConfig":null,"HostConfig":{}}'), "HostConfig", "HostConfig"));
    expect(error.code).toBe("DCP_AMBIGUOUS_FIELD");
  });

  it("refuses a struct that is not an object", () => {
    const error = refusal(() => nestedStruct(object('{"HostConfig":[]}'), "HostConfig", "HostConfig"));
    expect(error.code).toBe("DCP_INVALID_JSON");
    expect(error.message).toMatch(/HostConfig must be a JSON object or null, not an array/);
  });

  it("creates the struct when absent or null and keeps the client's members otherwise", () => {
    const addMarker = (inner: JsonObject) => withField(inner, "Marker", jsonString("m"));
    expect(serializeJson(withUpdatedNestedStruct(object('{"a":1}'), "HostConfig", "HostConfig", addMarker))).toBe(
      '{"a":1,"HostConfig":{"Marker":"m"}}',
    );
    expect(serializeJson(withUpdatedNestedStruct(object('{"HostConfig":null}'), "HostConfig", "HostConfig", addMarker))).toBe(
      '{"HostConfig":{"Marker":"m"}}',
    );
    expect(
      serializeJson(withUpdatedNestedStruct(object('{"hostConfig":{"Memory":9007199254740993}}'), "HostConfig", "HostConfig", addMarker)),
    ).toBe('{"HostConfig":{"Memory":9007199254740993,"Marker":"m"}}');
  });

  it("refuseField refuses any variant of the field", () => {
    expect(() => refuseField(object('{"a":1}'), "Mounts", "Mounts", "why")).not.toThrow();
    const error = refusal(() => refuseField(object('{"mountſ":[]}'), "Mounts", "Mounts", "why"));
    expect(error.message).toBe("Mounts is not accepted here: why");
  });
});
