/** A setting's comma-separated entries, each trimmed, empty ones dropped: `a, b,,c` → a, b, c. */
export const commaList = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
