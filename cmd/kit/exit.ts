/**
 * Exit codes shared by every subcommand: 0 ok, 1 runtime failure, 2 usage or
 * configuration error.
 *
 * @module
 */

/** Success. */
export const EXIT_OK = 0;
/** A runtime failure: a device, socket or peer did not do what was needed. */
export const EXIT_RUNTIME = 1;
/** The command line or the configuration is wrong; nothing was started. */
export const EXIT_USAGE = 2;
