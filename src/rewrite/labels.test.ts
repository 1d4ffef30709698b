import { describe, expect, it } from "vitest";
import type { JsonObject } from "./json-document.js";
import { parseJson, serializeJson } from "./json-document.js";
import { decodeStringMap, effectiveLabels, mergeLabels, withInjectedLabels } from "./labels.js";
import { refusal } from "./test-support.js";

function object(text: string): JsonObject {
  const value = parseJson(Buffer.from(text, "utf8"));
  if (value.kind !== "object") throw new Error("test input must be an object");
  return value;
}

const labelsOf = (text: string) => Object.fromEntries(effectiveLabels(object(text), "Labels"));
const injected = new Map([["ci.job", "42"]]);


describe("effectiveLabels", () => {
  it("is empty when the field is absent", () => {
    expect(labelsOf('{"Image":"alpine"}')).toEqual({});
  });

  it('reads "labels" in lower case (DAEMON-FACTS: "labels" sets Labels)', () => {
    expect(labelsOf('{"labels":{"a":"b"}}')).toEqual({ a: "b" });
  });

  it('lets "Labelſ":null after Labels erase them (DAEMON-FACTS)', () => {
    expect(labelsOf('{"Labels":{"a":"b"},"Labelſ":null}')).toEqual({});
  });

  it('lets {"Labels":{"a":"b"},"labels":null} end with no labels (DAEMON-FACTS)', () => {
    expect(labelsOf('{"Labels":{"a":"b"},"labels":null}')).toEqual({});
  });

  it("merges repeated maps in order, later keys winning", () => {
    expect(labelsOf('{"Labels":{"a":"1","b":"1"},"LABELS":{"b":"2","c":"2"}}')).toEqual({ a: "1", b: "2", c: "2" });
  });

  it("starts again after a null", () => {
    expect(labelsOf('{"Labels":{"a":"1"},"labels":null,"Labels":{"b":"2"}}')).toEqual({ b: "2" });
  });

  it("lets a later duplicate key inside one map win, keys being case-sensitive", () => {
    expect(labelsOf('{"Labels":{"a":"1","A":"x","a":"2"}}')).toEqual({ a: "2", A: "x" });
  });

  it("ignores keys that only look like the field", () => {
    expect(labelsOf('{"Label":{"a":"1"},"Labels ":{"b":"1"},"\u212Aabels":{"c":"1"}}')).toEqual({});
  });

  it.each([
    ['{"Labels":"a=b"}', /Labels must be a JSON object of strings or null, not a string/],
    ['{"Labels":["a"]}', /not an array/],
    ['{"Labels":{"a":1}}', /Labels\["a"\] must be a string, not a number/],
    ['{"Labels":{"a":null}}', /Labels\["a"\] must be a string, not null/],
    ['{"Labels":{"a":{"b":"c"}}}', /not an object/],
    ['{"Labels":{},"labels":true}', /not a boolean/],
  ])("refuses %s", (text, message) => {
    const error = refusal(() => effectiveLabels(object(text), "Labels"));
    expect(error.code).toBe("DCP_INVALID_LABELS");
    expect(error.status).toBe(400);
    expect(error.message).toMatch(message);
  });

  it("names the full path in its errors", () => {
    const error = refusal(() => effectiveLabels(object('{"Labels":{"a":1}}'), "Labels", "HostConfig.Mounts[0].VolumeOptions"));
    expect(error.message).toContain('HostConfig.Mounts[0].VolumeOptions.Labels["a"]');
  });
});

describe("decodeStringMap and mergeLabels", () => {
  it("decodes one object, last duplicate winning", () => {
    const value = parseJson(Buffer.from('{"a":"1","a":"2"}'));
    expect(Object.fromEntries(decodeStringMap(value, "labels"))).toEqual({ a: "2" });
  });

  it("lets injected labels win and keeps the client's others", () => {
    const merged = mergeLabels(new Map([["a", "1"], ["ci.job", "client"]]), injected);
    expect(Object.fromEntries(merged)).toEqual({ a: "1", "ci.job": "42" });
  });
});

describe("withInjectedLabels", () => {
  const rewrite = (text: string) => serializeJson(withInjectedLabels(object(text), "Labels", injected));

  it("adds the field when it is absent", () => {
    expect(rewrite('{"Image":"alpine"}')).toBe('{"Image":"alpine","Labels":{"ci.job":"42"}}');
  });

  it("replaces every variant with one canonical member holding the effective labels", () => {
    expect(rewrite('{"labels":{"a":"1"},"Image":"x","LABELſ":{"b":"2"},"Labels":{"a":"3"}}')).toBe(
      '{"Image":"x","Labels":{"a":"3","b":"2","ci.job":"42"}}',
    );
  });

  it("keeps a null reset: labels set before it are gone", () => {
    expect(rewrite('{"Labels":{"a":"b"},"labels":null}')).toBe('{"Labels":{"ci.job":"42"}}');
  });

  it("overrides a client value for an injected key", () => {
    expect(rewrite('{"Labels":{"ci.job":"forged"}}')).toBe('{"Labels":{"ci.job":"42"}}');
  });

  it("leaves look-alike keys alone", () => {
    expect(rewrite('{"Label":{"a":"1"}}')).toBe('{"Label":{"a":"1"},"Labels":{"ci.job":"42"}}');
  });
});
