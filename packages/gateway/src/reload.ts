/**
 * Hot reload of the gateway's configuration (issue 9 item 5; docs/operations.md "Reload
 * and key rotation"; docs/decisions/0020-hot-reload.md).
 *
 * A reload reads the config source again (the YAML file and the environment), validates
 * it as at start, loads its key files and TLS certificate, and only when all of that
 * succeeded hands the gateway one new frozen config to swap in. Nothing half-applies: an
 * invalid file, an unreadable key or a bad certificate refuses the whole reload, names the
 * bad key, and the running config stays.
 *
 *   trigger (SIGHUP | Gateway.reload() | file watch, debounced on the Clock)
 *     -> source.load()              config schema (JANUS_ERR_CONFIG_INVALID, key named)
 *     -> planReload(running, next)  which changed keys apply now, which need a restart
 *     -> loadKeyRing(effective)     key files (JANUS_ERR_KEY_INVALID, file named)
 *     -> loadListenerTls(...)       wss certificate and key (JANUS_ERR_CONFIG_INVALID)
 *     -> hooks.apply(...)           the gateway swaps config, keys, router, limits, instances
 *
 * Keys that cannot change on a running gateway (listeners, identity, channel pool sizes)
 * are not refused: the reload applies everything else, keeps their running values and
 * reports them in `restartRequired` with a warning, so an operator can prepare the next
 * restart in the same file and still rotate keys today.
 */
import { KeyObject } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { ErrorCode, JanusError, type ErrorCodeValue } from '@janus/protocol';
import type { Clock, TimerHandle } from './clock.js';
import { deepFreeze, loadConfigFile, type GatewayConfig } from './config.js';
import { loadKeyRing, type KeyRing } from './keys.js';
import { loadListenerTls, type ListenerTls } from './listener-tls.js';

/** What started a reload (logged, and echoed in the result). */
export type ReloadTrigger = 'signal' | 'api' | 'watch';

/** Where a reload reads the configuration again. */
export interface ConfigSource {
  /**
   * Reads and validates the configuration afresh.
   * @throws JanusError JANUS_ERR_CONFIG_INVALID naming the bad key.
   */
  load(): GatewayConfig;
  /** The config file, watched when `reload.watch` is on; none: no watch. */
  readonly file?: string;
  /** The environment key files are loaded with (`JANUS_TOKEN_KEYS`); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A config source reading `file` with {@link loadConfigFile} (what `janus gateway --config` uses). */
export function fileConfigSource(file: string, env: NodeJS.ProcessEnv = process.env): ConfigSource {
  return { file, env, load: () => loadConfigFile(file, env) };
}

/** How one kind of versioned key changed. */
export interface VersionChanges {
  /** Versions held after the reload, ascending. */
  versions: number[];
  added: number[];
  removed: number[];
  /** Versions whose key file now holds a different key. */
  replaced: number[];
}

/** How the key ring changed (versions and counts only: never key material). */
export interface KeyRingChanges {
  /** Accepted client key versions (PROTOCOL.md 5, 7.2 `cert_version`). */
  clientKeys: VersionChanges;
  /** Held server signing-key versions (PROTOCOL.md 7.2 `server_cert_version`). */
  serverKeys: VersionChanges;
  /** Token keys (unversioned; the first issues): how many now, added, removed. */
  tokenKeys: { count: number; added: number; removed: number };
}

/** A reload that took effect. */
export interface ReloadApplied {
  ok: true;
  trigger: ReloadTrigger;
  /** Config keys (dotted paths, sorted) whose new values are in effect now. */
  applied: string[];
  /** Config keys that changed in the source but keep their running values until a restart. */
  restartRequired: string[];
  /** Key ring changes; null when the gateway's keys were given by its embedder (GatewayOptions.keys). */
  keys: KeyRingChanges | null;
  /** The wss:// certificate and key were read again and differ: new TLS handshakes use them. */
  tlsReloaded: boolean;
  /** One sentence per thing an operator should know (restart needed, a key not in use). */
  warnings: string[];
}

/** A reload that was refused; the running config, keys and certificate stay. */
export interface ReloadRefused {
  ok: false;
  trigger: ReloadTrigger;
  error: {
    /** JANUS_ERR_CONFIG_INVALID, JANUS_ERR_KEY_INVALID or JANUS_ERR_RELOAD_UNAVAILABLE. */
    code: ErrorCodeValue;
    message: string;
    /** The bad config key (dotted path) when one is to blame. */
    key?: string;
  };
}

/** What `Gateway.reload()` returns (JSON-safe: the body of `POST /v1/admin/reload`). */
export type ReloadResult = ReloadApplied | ReloadRefused;

type Path = readonly string[];

/**
 * Subtrees whose new value a running gateway takes. The longest rule matching a changed
 * key decides; a key no rule matches (a section added later, say) needs a restart until
 * someone makes it reloadable here.
 */
const RELOADABLE: readonly Path[] = [
  ['limits'],
  ['timeouts'],
  ['modules'],
  ['routes'],
  ['services'],
  ['discovery', 'static'],
  ['keys'],
  ['log', 'level'],
  ['reload'],
  ['listen', 'ws', 'tls'],
];

/** Keys inside reloadable subtrees that size something built once at start. */
const RESTART_ONLY: readonly Path[] = [
  // The backend channels' receive limit and the WebSocket server's maxPayload are sized from these.
  ['limits', 'maxFrameBytes'],
  ['limits', 'maxInflateBytes'],
  // One zlib pool for the whole gateway.
  ['limits', 'zlibConcurrency'],
  // The backend channel pool's options.
  ['timeouts', 'tunnelConnectMs'],
  ['timeouts', 'tunnelHalfCloseMs'],
];

function startsWith(path: Path, prefix: Path): boolean {
  return prefix.length <= path.length && prefix.every((k, i) => path[i] === k);
}

function longest(path: Path, rules: readonly Path[]): number {
  let n = -1;
  for (const r of rules) if (r.length > n && startsWith(path, r)) n = r.length;
  return n;
}

/** Whether a running gateway takes a new value of config key `path` (listen.ws.tls: only while TLS stays on). */
export function isReloadable(path: Path, tlsStaysOn = true): boolean {
  if (startsWith(path, ['listen', 'ws', 'tls']) && !tlsStaysOn) return false;
  const yes = longest(path, RELOADABLE);
  return yes >= 0 && yes > longest(path, RESTART_ONLY);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The paths of the leaves where `a` and `b` differ (arrays are leaves). */
export function changedKeys(a: unknown, b: unknown, path: string[] = [], out: string[][] = []): string[][] {
  if (isDeepStrictEqual(a, b)) return out;
  if (isRecord(a) && isRecord(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) changedKeys(a[k], b[k], [...path, k], out);
  } else {
    out.push(path);
  }
  return out;
}

function getAt(o: unknown, path: Path): unknown {
  let v = o;
  for (const k of path) v = isRecord(v) ? v[k] : undefined;
  return v;
}

function setAt(o: Record<string, unknown>, path: Path, value: unknown): void {
  let cur = o;
  for (const k of path.slice(0, -1)) {
    if (!isRecord(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete cur[last];
  else cur[last] = structuredClone(value);
}

const dotted = (p: Path): string => p.join('.');

/** What a reload would do with a validated `next` config. */
export interface ReloadPlan {
  /** `next` with every restart-only key at its running value, frozen: the config to run. */
  effective: GatewayConfig;
  /** Changed keys that take effect (dotted, sorted). */
  applied: string[];
  /** Changed keys kept at their running values until a restart (dotted, sorted). */
  restartRequired: string[];
}

/**
 * Splits the difference between the running config and a validated new one into what
 * applies now and what waits for a restart, and builds the config to run.
 */
export function planReload(running: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const tlsStaysOn = running.listen.ws.tls !== undefined && next.listen.ws.tls !== undefined;
  const effective = structuredClone(next) as unknown as Record<string, unknown>;
  const applied: string[] = [];
  const restartRequired: string[] = [];
  for (const p of changedKeys(running, next)) {
    // A whole tls section appearing or going is one key: turning wss on or off rebinds the listener.
    const key = startsWith(p, ['listen', 'ws', 'tls']) && !tlsStaysOn ? ['listen', 'ws', 'tls'] : p;
    if (isReloadable(key, tlsStaysOn)) {
      applied.push(dotted(key));
    } else {
      setAt(effective, key, getAt(running, key));
      if (!restartRequired.includes(dotted(key))) restartRequired.push(dotted(key));
    }
  }
  return { effective: deepFreeze(effective as unknown as GatewayConfig), applied: applied.sort(), restartRequired: restartRequired.sort() };
}

function sameKey(a: { handle: unknown }, b: { handle: unknown }): boolean {
  if (a.handle === b.handle) return true;
  return a.handle instanceof KeyObject && b.handle instanceof KeyObject && a.handle.equals(b.handle);
}

function versionChanges(before: ReadonlyMap<number, { handle: unknown }>, after: ReadonlyMap<number, { handle: unknown }>): VersionChanges {
  const versions = [...after.keys()].sort((x, y) => x - y);
  return {
    versions,
    added: versions.filter((v) => !before.has(v)),
    removed: [...before.keys()].filter((v) => !after.has(v)).sort((x, y) => x - y),
    replaced: versions.filter((v) => before.has(v) && !sameKey(before.get(v)!, after.get(v)!)),
  };
}

/** How `after` differs from `before` (versions and counts only). */
export function keyRingChanges(before: KeyRing, after: KeyRing): KeyRingChanges {
  const has = (list: readonly Uint8Array[], k: Uint8Array) => list.some((x) => Buffer.from(x).equals(k));
  return {
    clientKeys: versionChanges(before.clientKeys, after.clientKeys),
    serverKeys: versionChanges(before.serverKeys, after.serverKeys),
    tokenKeys: {
      count: after.tokenKeys.length,
      added: after.tokenKeys.filter((k) => !has(before.tokenKeys, k)).length,
      removed: before.tokenKeys.filter((k) => !has(after.tokenKeys, k)).length,
    },
  };
}

/** A validated reload handed to the gateway to install. */
export interface ReloadChange {
  /** The config running until now. */
  previous: GatewayConfig;
  /** The config to run from now on (restart-only keys at their running values). */
  config: GatewayConfig;
  /** The new key ring; null when the gateway does not own its keys. */
  keys: KeyRing | null;
  /** The wss certificate and key to install; null when they did not change. */
  tls: ListenerTls | null;
}

/** Options of {@link Reloader}. */
export interface ReloaderOptions {
  /** The running config. */
  config: GatewayConfig;
  /** The running key ring when the gateway loaded it from the config; null: the embedder's keys, left alone. */
  keys: KeyRing | null;
  /** The certificate and key the wss listener runs with; null: plain ws. */
  tls: ListenerTls | null;
  /** Whether `discovery.static` is the gateway's discovery (false: an embedder's or another adapter). */
  staticDiscovery: boolean;
  /** Where the config is read again; null: reload() is refused (JANUS_ERR_RELOAD_UNAVAILABLE). */
  source: ConfigSource | null;
  clock: Clock;
  log: Logger;
  /**
   * Installs a validated change. Steps that can still fail run first, before anything is
   * swapped: a throw refuses the reload (the loaders already checked what they can).
   */
  apply(change: ReloadChange): void;
  /** Told of every reload attempt's result, whatever triggered it. */
  onReload?(result: ReloadResult): void;
}

/** Runs reloads for one gateway and owns its config-file watch. */
export class Reloader {
  private running: GatewayConfig;
  private keys: KeyRing | null;
  private tls: ListenerTls | null;
  private watcher: ConfigFileWatcher | null = null;
  private closed = false;

  constructor(private readonly o: ReloaderOptions) {
    this.running = o.config;
    this.keys = o.keys;
    this.tls = o.tls;
    this.syncWatcher();
  }

  /** The running config. */
  get config(): GatewayConfig {
    return this.running;
  }

  /**
   * Reads the source again and applies what changed (module header). Never throws: a
   * failure is a {@link ReloadRefused} naming the bad key, and nothing changed.
   * Synchronous from start to end, so two reloads never interleave.
   */
  reload(trigger: ReloadTrigger): ReloadResult {
    const result = this.attempt(trigger);
    this.watcher?.remember();
    if (result.ok) {
      this.o.log.info(
        { trigger, applied: result.applied, restartRequired: result.restartRequired, keys: result.keys, tlsReloaded: result.tlsReloaded },
        'config reloaded',
      );
      for (const w of result.warnings) this.o.log.warn({ trigger }, w);
    } else {
      this.o.log.error({ trigger, code: result.error.code, key: result.error.key, err: result.error.message }, 'config reload refused; the running config stays');
    }
    try {
      this.o.onReload?.(result);
    } catch (err) {
      this.o.log.error({ err }, 'onReload callback failed');
    }
    return result;
  }

  /** Stops the watch; later reloads are refused. Idempotent. */
  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
  }

  private attempt(trigger: ReloadTrigger): ReloadResult {
    const { source } = this.o;
    if (this.closed) return refused(trigger, new JanusError(ErrorCode.ReloadUnavailable, 'the gateway is closing'));
    if (!source) {
      return refused(trigger, new JanusError(ErrorCode.ReloadUnavailable, 'no config source: this gateway was built from a config object (GatewayOptions.configSource)'));
    }
    let plan: ReloadPlan;
    let keys: KeyRing | null = null;
    let tls: ListenerTls | null = null;
    try {
      plan = planReload(this.running, source.load());
      if (this.keys) keys = loadKeyRing(plan.effective, source.env ?? process.env);
      const files = plan.effective.listen.ws.tls;
      if (this.tls && files) tls = loadListenerTls(files);
    } catch (err) {
      return refused(trigger, err);
    }
    const keyChanges = this.keys && keys ? keyRingChanges(this.keys, keys) : null;
    const tlsReloaded = tls !== null && this.tls !== null && !(tls.cert.equals(this.tls.cert) && tls.key.equals(this.tls.key));
    const warnings: string[] = [];
    if (plan.restartRequired.length > 0) {
      warnings.push(`config keys changed that take effect only after a restart (running values kept): ${plan.restartRequired.join(', ')}`);
    }
    if (!this.o.staticDiscovery && plan.applied.some((k) => k.startsWith('discovery.static'))) {
      warnings.push('discovery.static changed but this gateway takes its instances from another discovery adapter: not used');
    }
    if (!this.keys && plan.applied.some((k) => k.startsWith('keys'))) {
      warnings.push('keys.* changed but this gateway was given its key ring by its embedder: not reloaded');
    }
    try {
      this.o.apply({ previous: this.running, config: plan.effective, keys, tls: tlsReloaded ? tls : null });
    } catch (err) {
      // The gateway's hook runs its steps that can fail (instance lists, certificate) before it swaps anything.
      return refused(trigger, err);
    }
    this.running = plan.effective;
    if (keys) this.keys = keys;
    if (tlsReloaded) this.tls = tls;
    this.syncWatcher();
    return { ok: true, trigger, applied: plan.applied, restartRequired: plan.restartRequired, keys: keyChanges, tlsReloaded, warnings };
  }

  /** Starts, retunes or stops the file watch to match `reload.watch` / `reload.debounceMs`. */
  private syncWatcher(): void {
    const file = this.o.source?.file;
    const { watch: on, debounceMs } = this.running.reload;
    if (this.closed || !on || !file) {
      this.watcher?.close();
      this.watcher = null;
      return;
    }
    if (this.watcher) {
      this.watcher.debounceMs = debounceMs;
      return;
    }
    try {
      this.watcher = new ConfigFileWatcher(file, debounceMs, this.o.clock, this.o.log, () => void this.reload('watch'));
    } catch (err) {
      // No inotify watch left, a directory gone: the gateway runs on, reloads by SIGHUP or the route.
      this.o.log.warn({ err: (err as Error).message, file }, 'cannot watch the config file (reload.watch); reload with SIGHUP');
    }
  }
}

function refused(trigger: ReloadTrigger, err: unknown): ReloadRefused {
  if (err instanceof JanusError) {
    const key = typeof err.details.key === 'string' ? err.details.key : err.code === ErrorCode.KeyInvalid ? 'keys' : undefined;
    return { ok: false, trigger, error: { code: err.code, message: err.message, ...(key ? { key } : {}) } };
  }
  // Nothing else is expected from the loaders; still a refusal, never a crash of the gateway.
  return { ok: false, trigger, error: { code: ErrorCode.ConfigInvalid, message: `reload failed: ${(err as Error).message}` } };
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Watches a config file and calls `onChange` once its text changed and no change event
 * came for `debounceMs` (an editor's several writes, a rename into place: one reload).
 *
 * It watches the file's directory, not the file: editors and Kubernetes ConfigMaps replace
 * the file (rename, symlink swap), which ends a watch on the old inode. Any event in the
 * directory re-arms the debounce timer (on the Clock port); when it fires, the file is read
 * and compared with the text of the last reload, so a key file written next to it, or a
 * save without changes, reloads nothing.
 */
export class ConfigFileWatcher {
  private readonly fsWatcher: FSWatcher;
  private timer: TimerHandle | null = null;
  private seen: string | null;
  private closed = false;

  /**
   * @param debounceMs quiet time after the last event before the file is compared (ms).
   * @param onChange called with the file's text changed since the last {@link remember}.
   */
  constructor(
    private readonly file: string,
    public debounceMs: number,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onChange: () => void,
  ) {
    this.seen = readText(file);
    this.fsWatcher = watch(dirname(file), { persistent: false }, () => this.poke());
    this.fsWatcher.on('error', (err) => {
      this.log.warn({ err: err.message, file }, 'config file watch failed and stopped; reload with SIGHUP');
      this.close();
    });
    this.log.debug({ file, debounceMs }, 'watching the config file');
  }

  /** Takes the file's current text as the reloaded one (called after every reload). */
  remember(): void {
    this.seen = readText(this.file);
  }

  private poke(): void {
    if (this.closed) return;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => this.fire(), this.debounceMs);
  }

  private fire(): void {
    this.timer = null;
    if (this.closed) return;
    const text = readText(this.file);
    // Unreadable (mid-rename, deleted): the event that puts it back re-arms the timer.
    if (text === null || text === this.seen) return;
    this.seen = text;
    this.onChange();
  }

  /** Stops watching. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.fsWatcher.close();
  }
}
