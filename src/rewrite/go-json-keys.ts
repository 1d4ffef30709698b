/**
 * Which JSON object keys Go's encoding/json binds to a struct field.
 *
 * Go prefers an exact match, then accepts any key equal to the field name
 * under Unicode simple case folding (decode.go: `foldName`, before Go 1.21
 * `equalFoldRight`/`asciiEqualFold`). Docker's field names are ASCII, and only
 * two non-ASCII runes fold onto ASCII letters: U+017F LATIN SMALL LETTER LONG S
 * (ſ → s) and U+212A KELVIN SIGN (K → k). So a key matches when it has as
 * many runes as the name and each rune is the name's letter in either ASCII
 * case, ſ in place of s, or K in place of k; any other character must be
 * identical.
 */

const LONG_S = 0x017f;
const KELVIN_SIGN = 0x212a;

/** True when Go would decode the member `key` into the struct field named `asciiFieldName`. */
export function keyMatches(key: string, asciiFieldName: string): boolean {
  if (key === asciiFieldName) return true;
  let fieldIndex = 0;
  for (const character of key) {
    if (fieldIndex >= asciiFieldName.length) return false;
    const fieldChar = asciiFieldName.charCodeAt(fieldIndex++);
    const keyChar = character.codePointAt(0);
    if (keyChar === undefined || !runeFoldsTo(keyChar, fieldChar)) return false;
  }
  return fieldIndex === asciiFieldName.length;
}

function runeFoldsTo(keyChar: number, fieldChar: number): boolean {
  if (keyChar === fieldChar) return true;
  const fieldLower = toAsciiLower(fieldChar);
  if (fieldLower === undefined) return false; // not a letter: must be identical
  if (keyChar < 0x80) return toAsciiLower(keyChar) === fieldLower;
  if (keyChar === LONG_S) return fieldLower === 0x73; // s
  if (keyChar === KELVIN_SIGN) return fieldLower === 0x6b; // k
  return false;
}

/** The lower-case code of an ASCII letter, undefined for anything else. */
function toAsciiLower(code: number): number | undefined {
  if (code >= 0x41 && code <= 0x5a) return code + 0x20;
  if (code >= 0x61 && code <= 0x7a) return code;
  return undefined;
}
