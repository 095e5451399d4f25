// A failed plugin run as the CRI caller sees it: the plugin's own error code and
// message, the plugin and verb that failed, and a gRPC code that fits the cause.
import { Code, WorkdError } from '../../errors.js';
import { CNI_ERROR_CODES, type CniCommand } from './spec.js';

/** Why a plugin run failed, beside the plugin's own error object. */
export type CniFailure = 'plugin-error' | 'timeout' | 'missing-plugin' | 'bad-output' | 'no-config' | 'bad-config';

/** The one table from a CNI error code to a gRPC code. */
function codeFor(cniCode: number): Code {
  switch (cniCode) {
    case 1: // incompatible version
    case 2: // unsupported field
    case 7: // invalid network config
      return Code.FAILED_PRECONDITION;
    case 3:
      return Code.NOT_FOUND;
    case 11: // try again later
    case 50:
    case 51:
      return Code.UNAVAILABLE;
    case 4: // our environment was wrong: a defect on our side
    case 5:
    case 6:
      return Code.INTERNAL;
    default:
      // Plugin-specific codes (100+, and 999 for errors a plugin did not classify): the plugin alone knows.
      return Code.UNKNOWN;
  }
}

const FAILURE_CODES: Readonly<Record<Exclude<CniFailure, 'plugin-error'>, Code>> = {
  timeout: Code.DEADLINE_EXCEEDED,
  'missing-plugin': Code.FAILED_PRECONDITION,
  'bad-output': Code.UNKNOWN,
  'no-config': Code.FAILED_PRECONDITION,
  'bad-config': Code.FAILED_PRECONDITION,
};

export class CniError extends WorkdError {
  constructor(
    readonly failure: CniFailure,
    message: string,
    /** The plugin's error code (plugin-error only). */
    readonly cniCode?: number,
    readonly plugin?: string,
    readonly command?: CniCommand,
  ) {
    super(failure === 'plugin-error' ? codeFor(cniCode ?? 999) : FAILURE_CODES[failure], message);
  }
}

/** `CNI plugin bridge ADD (network "n"): <msg>: <details> (CNI error 11, try again later)`. */
export function pluginError(plugin: string, command: CniCommand, network: string, body: { code: number; msg: string; details?: string }): CniError {
  const known = CNI_ERROR_CODES[body.code];
  const what = `${body.msg}${body.details ? `: ${body.details}` : ''}`;
  return new CniError('plugin-error', `CNI plugin ${plugin} ${command} (network ${JSON.stringify(network)}) failed: ${what} (CNI error code ${body.code}${known ? `, ${known}` : ''})`, body.code, plugin, command);
}
