/** String literals for the languages our generated files are written in. */

/** A YAML double-quoted scalar (JSON's string syntax is a subset of YAML's). */
export function yamlQuote(s: string): string {
  return JSON.stringify(s);
}

/** A Ruby double-quoted string literal, with `#` escaped so `#{...}` never interpolates. */
export function rubyQuote(s: string): string {
  return JSON.stringify(s).replace(/#/g, '\\#');
}
