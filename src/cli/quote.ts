/** Quoting for printed commands; no imports, so the Node launchers (src/launch/) load it too. */

/** Quotes `word` for a POSIX shell when it needs it, so a printed command can be pasted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\/.:=@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
