/**
 * One running gateway per advertised gRPC address (decision 0017). PROTOCOL.md 10 and 11
 * make that `host:port` both the gateway table's value ("which gateway holds the user")
 * and the gateway's own push channel, so two gateways sharing it (two hosts left on the
 * default 127.0.0.1:19100, or two workers of one host on one port) would delete each
 * other's live entries and take each other's kicks. The gateway claims its address in the
 * route table at start (key `janus.gate.owner_{host:port}`, value a per-process instance
 * id, TTL `routeTable.ownerClaimTtlS`, renewed every third of it) and refuses to start
 * while another live process holds it.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { ErrorCode, JanusError } from '@janus/protocol';
import type { Clock, TimerHandle } from './clock.js';
import type { RouteTable } from './route-table.js';

/** The claim key of a gateway address. */
export function gatewayClaimKey(address: string): string {
  return `janus.gate.owner_${address}`;
}

/** A fresh instance id: the gateway id, host name, pid and a random part (unique per process start). */
export function gatewayInstanceId(gatewayId: string): string {
  return `${gatewayId}@${hostname()}#${process.pid}#${randomUUID().slice(0, 8)}`;
}

/** This process's claim on its advertised gRPC address. */
export class GatewayAddressClaim {
  private timer: TimerHandle | null = null;
  private held = false;
  /** The renewal in flight (its two table operations); release() waits for it. */
  private renewing: Promise<void> | null = null;

  /**
   * @param address the advertised gRPC `host:port` (gateway table value, own push channel).
   * @param instanceId this process's id ({@link gatewayInstanceId}).
   * @param ttlS claim TTL (s); renewed every ttlS/3.
   */
  constructor(
    private readonly routes: RouteTable,
    readonly address: string,
    readonly instanceId: string,
    private readonly ttlS: number,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /**
   * Takes the claim. A claim held by another process is waited out for up to one TTL plus a
   * second (a crashed gateway's claim lapses by then; a live one keeps renewing it).
   * @throws JanusError JANUS_ERR_GATEWAY_ADDRESS_TAKEN (`details.address`, `details.holder`)
   *   when another live gateway holds it; JANUS_ERR_ROUTE_TABLE_UNAVAILABLE from the table.
   */
  async acquire(): Promise<void> {
    const key = gatewayClaimKey(this.address);
    const deadline = this.clock.monotonic() + this.ttlS * 1000 + 1000;
    for (;;) {
      const holder = await this.routes.setNX(key, this.instanceId, this.ttlS);
      if (holder === this.instanceId) break;
      if (this.clock.monotonic() >= deadline) {
        throw new JanusError(
          ErrorCode.GatewayAddressTaken,
          `gateway address ${this.address} is held by another running gateway (${holder}): give each gateway its own gateway.advertiseHost:listen.grpc.port`,
          { address: this.address, holder },
        );
      }
      this.log.warn({ address: this.address, holder }, 'gateway address claimed by another process; waiting for the claim to lapse');
      await new Promise<void>((r) => this.clock.setTimeout(r, 1000));
    }
    this.held = true;
    this.scheduleRenew();
  }

  private scheduleRenew(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.renewing = this.renew().finally(() => {
        this.renewing = null;
        if (this.held) this.scheduleRenew();
      });
    }, (this.ttlS * 1000) / 3);
  }

  /** Renews the claim, re-taking it if it vanished (a Redis restarted empty). */
  private async renew(): Promise<void> {
    const key = gatewayClaimKey(this.address);
    try {
      if (await this.routes.renewIfEquals(key, this.instanceId, this.ttlS)) return;
      // Released meanwhile: the claim is given up, not taken again.
      if (!this.held) return;
      const holder = await this.routes.setNX(key, this.instanceId, this.ttlS);
      if (holder !== this.instanceId) {
        this.log.error({ address: this.address, holder }, 'another gateway took this gateway\'s address: their sessions and ours now share gateway table entries and a push channel');
      }
    } catch (err) {
      this.log.warn({ err }, 'gateway address claim renewal failed');
    }
  }

  /**
   * Stops renewing and deletes the claim if still ours, after a renewal in flight: one that
   * found the claim gone (a Redis restarted empty) would otherwise take it again after the
   * delete, and hold the address for a TTL after this gateway stopped. Idempotent.
   */
  async release(): Promise<void> {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    if (!this.held) return;
    this.held = false;
    await this.renewing;
    await this.routes.deleteIfEquals(gatewayClaimKey(this.address), this.instanceId).catch((err: unknown) => this.log.warn({ err }, 'gateway address claim release failed'));
  }
}
