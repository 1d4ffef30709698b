/**
 * Client-supplied text quoted for an error message, cut short so a huge key or
 * parameter cannot flood the reply (the CLI prints the whole message).
 */
export function quoteForMessage(text: string): string {
  const limit = 60;
  return JSON.stringify(text.length > limit ? `${text.slice(0, limit)}...` : text);
}
