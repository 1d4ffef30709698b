/**
 * The `changes` parameter of image import and commit: Dockerfile instructions
 * applied to the new image's config.
 *
 * The daemon joins ALL `changes` values with "\n" and parses the result as
 * one Dockerfile (builder/dockerfile BuildFromConfig), then runs the
 * instructions in order, so a LABEL appended last wins for its key. Because
 * it is one Dockerfile, a client's line can reach into the lines after it:
 * - a line ending in the escape character continues onto our LABEL line;
 * - a heredoc (`ONBUILD RUN <<EOF`) swallows the lines after it;
 * - a leading `# escape=` directive changes how our quoting is read;
 * - embedded newlines make any of these possible mid-value.
 * Client changes that could do any of that are refused.
 *
 * Our line is `LABEL "<key>"="<value>"`. LABEL words go through the shell
 * lexer (ProcessWord: quotes removed, `$VAR` expanded), and inside double
 * quotes `\` escapes exactly `"`, `$` and `\`, so those three are escaped.
 */
import { RewriteError } from "../errors.js";
import { quoteForMessage } from "./message-text.js";

/** The Dockerfile line that sets one label, quoted so the daemon reads it literally. */
export function labelChangeLine(key: string, value: string): string {
  if (key === "") {
    throw new RewriteError("DCP_INVALID_LABELS", "an injected label has an empty key");
  }
  // The LABEL parser cuts each word at its first '=', quotes or not.
  if (key.includes("=")) {
    throw new RewriteError(
      "DCP_INVALID_LABELS",
      `label key ${quoteForMessage(key)} contains '=', which a Dockerfile LABEL cannot carry`,
    );
  }
  if (/[\r\n]/.test(key) || /[\r\n]/.test(value)) {
    throw new RewriteError(
      "DCP_INVALID_LABELS",
      `label ${quoteForMessage(key)} contains a line break, which a Dockerfile LABEL cannot carry`,
    );
  }
  return `LABEL "${escapeForDoubleQuotes(key)}"="${escapeForDoubleQuotes(value)}"`;
}

/** Refuses a client `changes` value that could alter how the lines after it are parsed. */
export function assertChangeIsSelfContained(change: string): void {
  const refuse = (why: string): never => {
    throw new RewriteError("DCP_BAD_QUERY", `changes value ${quoteForMessage(change)} is not accepted: ${why}`);
  };
  if (/[\r\n]/.test(change)) refuse("it contains a line break; send one instruction per changes value");
  if (change.trimStart().startsWith("#")) refuse("comments and parser directives are not accepted");
  // Either character may be the escape token; the parser ignores trailing blanks after it.
  if (/[\\`]$/.test(change.trimEnd())) refuse("it ends with a line continuation");
  if (change.includes("<<")) refuse("heredocs are not accepted");
}

function escapeForDoubleQuotes(text: string): string {
  return text.replace(/["$\\]/g, (character) => `\\${character}`);
}
