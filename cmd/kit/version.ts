/** The version `l2 --version` prints and `/status` reports. @module */

/** Release version of l2. */
export const VERSION = "0.1.0";
