/** The version `chat --version` prints and `welcome` carries. */
export const VERSION = "0.1.0";
/** Port used when none is given. */
export const DEFAULT_PORT = 7777;
