import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertChangeIsSelfContained, labelChangeLine } from "./dockerfile-changes.js";
import { refusal } from "./test-support.js";
import { fuzzParams } from "../test-fuzz.js";

// ---------------------------------------------------------------------------
// Reference: how the Dockerfile parser and shell lexer read one LABEL line
// with the default escape token '\' (buildkit parser.parseWords, then
// shell.Lex.ProcessWord on each key and value).
// ---------------------------------------------------------------------------

function parseWords(rest: string): string[] {
  const words: string[] = [];
  let word = "";
  let phase: "spaces" | "word" | "quote" = "spaces";
  let quote = "";
  let blankOk = false;
  const characters = [...rest];
  for (let i = 0; i <= characters.length; i++) {
    const atEnd = i === characters.length;
    let character = characters[i] ?? "";
    if (phase === "spaces") {
      if (atEnd) break;
      if (/\s/u.test(character)) continue;
      phase = "word";
    }
    if (atEnd) {
      if (blankOk || word.length > 0) words.push(word);
      break;
    }
    if (phase === "word") {
      if (/\s/u.test(character)) {
        phase = "spaces";
        if (blankOk || word.length > 0) words.push(word);
        word = "";
        blankOk = false;
        continue;
      }
      if (character === "'" || character === '"') {
        quote = character;
        blankOk = true;
        phase = "quote";
      }
      if (character === "\\") {
        if (i + 1 === characters.length) continue;
        word += character;
        character = characters[++i] ?? "";
      }
      word += character;
      continue;
    }
    // phase === "quote"
    if (character === quote) phase = "word";
    if (character === "\\" && quote !== "'") {
      if (i + 1 === characters.length) {
        phase = "word";
        continue;
      }
      word += character;
      character = characters[++i] ?? "";
    }
    word += character;
  }
  return words;
}

/** ProcessWord for the words we print: quotes removed, escapes applied; any live `$` would expand, so it fails. */
function processWord(word: string): string {
  const characters = [...word];
  let out = "";
  for (let i = 0; i < characters.length; i++) {
    const character = characters[i] ?? "";
    if (character === "$") throw new Error("unescaped $ would be expanded");
    if (character === "\\") {
      out += characters[++i] ?? "";
    } else if (character === "'") {
      for (i++; i < characters.length && characters[i] !== "'"; i++) out += characters[i] ?? "";
    } else if (character === '"') {
      for (i++; i < characters.length && characters[i] !== '"'; i++) {
        const inner = characters[i] ?? "";
        if (inner === "$") throw new Error("unescaped $ would be expanded");
        if (inner === "\\" && ['"', "$", "\\"].includes(characters[i + 1] ?? "")) {
          out += characters[++i] ?? "";
        } else {
          out += inner;
        }
      }
    } else {
      out += character;
    }
  }
  return out;
}

function interpretLabelLine(line: string): Array<[string, string]> {
  const match = /^LABEL\s+(.*)$/su.exec(line);
  if (match === null) throw new Error("not a LABEL line");
  return parseWords(match[1] ?? "").map((word) => {
    const equals = word.indexOf("=");
    if (equals < 0) throw new Error("no '=' in a LABEL word");
    return [processWord(word.slice(0, equals)), processWord(word.slice(equals + 1))];
  });
}


describe("labelChangeLine", () => {
  it("prints a quoted LABEL instruction", () => {
    expect(labelChangeLine("ci.job", "42")).toBe('LABEL "ci.job"="42"');
  });

  it('escapes \\, " and $ so the shell lexer reads them literally', () => {
    expect(labelChangeLine("k", 'a\\b"c$HOME')).toBe('LABEL "k"="a\\\\b\\"c\\$HOME"');
    expect(interpretLabelLine(labelChangeLine("k", 'a\\b"c$HOME'))).toEqual([["k", 'a\\b"c$HOME']]);
  });

  it("is read back as exactly the label it was made from", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 12 });
    fc.assert(
      fc.property(
        text.filter((key) => key !== "" && !/[=\r\n]/.test(key)),
        text.filter((value) => !/[\r\n]/.test(value)),
        (key, value) => {
          expect(interpretLabelLine(labelChangeLine(key, value))).toEqual([[key, value]]);
        },
      ),
      fuzzParams(2000),
    );
  });

  it.each([
    ["", "v", /empty key/],
    ["a=b", "v", /contains '='/],
    ["a\nb", "v", /line break/],
    ["k", "line\nbreak", /line break/],
    ["k", "carriage\rreturn", /line break/],
  ])("refuses the label %j=%j", (key, value, message) => {
    const error = refusal(() => labelChangeLine(key, value));
    expect(error.code).toBe("DCP_INVALID_LABELS");
    expect(error.message).toMatch(message);
  });
});

describe("assertChangeIsSelfContained", () => {
  it.each(["LABEL a=b", 'ENV PATH="/x:$PATH"', "CMD [\"sh\", \"-c\", \"echo\"]", "EXPOSE 80", "", "WORKDIR C:\\\\x y"])(
    "accepts %j",
    (change) => {
      expect(() => assertChangeIsSelfContained(change)).not.toThrow();
    },
  );

  it.each([
    ["a line continuation", "LABEL a=b \\"],
    ["a continuation followed by blanks", "LABEL a=b \\  \t"],
    ["a backtick continuation", "LABEL a=b `"],
    ["an embedded newline", "LABEL a=b\nLABEL c=d"],
    ["a carriage return", "LABEL a=b\r"],
    ["an escape directive", "# escape=`"],
    ["a comment", "  #x"],
    ["a heredoc", "ONBUILD RUN <<EOF"],
  ])("refuses %s", (_name, change) => {
    const error = refusal(() => assertChangeIsSelfContained(change));
    expect(error.code).toBe("DCP_BAD_QUERY");
  });
});
