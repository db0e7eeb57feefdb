/** A POSIX shell single-quoted word: safe for any text, including quotes and `$`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
