/**
 * Optional packages. `janus demo` needs the demo backend, `janus client` the client SDK,
 * and `discovery.etcd` the etcd adapter (@janus/discovery-etcd); none is a runtime
 * dependency of the gateway (a production install of @janus/gateway stays without them),
 * so they are loaded on use, saying what is missing when they are not installed.
 */
import { ErrorCode, JanusError } from '@janus/protocol';

/**
 * Runs `load` (a dynamic `import()` of `specifier`) for `command`.
 * @param specifier the package name, e.g. `@janus/demo-backend`.
 * @param command the command that needs it, e.g. `janus demo` (for the message).
 * @param hint how to get it, the end of the message: e.g. `install @janus/client beside the gateway`.
 * @param code the code of the error raised when it is missing: JANUS_ERR_ARG_INVALID (a
 *   command) by default, JANUS_ERR_CONFIG_INVALID for a config key.
 * @throws JanusError `code` when `specifier` itself is not installed, naming the package
 *   and how to get it; any other load failure is rethrown unchanged.
 */
export async function importOptional<T>(
  specifier: string,
  command: string,
  hint: string,
  load: () => Promise<T>,
  code: typeof ErrorCode.ArgInvalid | typeof ErrorCode.ConfigInvalid = ErrorCode.ArgInvalid,
): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Only the package itself missing: a broken install of it (one of its own imports
    // missing) names another specifier and is better shown as it is.
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(`'${specifier}'`)) {
      throw new JanusError(
        code,
        `${command} needs ${specifier}, which this install of the gateway does not include (it is no runtime dependency): ${hint}`,
        { package: specifier },
        { cause: err },
      );
    }
    throw err;
  }
}
