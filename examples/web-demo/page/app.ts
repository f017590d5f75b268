/**
 * The web demo page: pick a name, get a dev token from the demo server (POST /token),
 * connect with the SDK's browser entry, join a room and chat (docs/demo.md, "Web demo").
 * It shows the connection state, the heartbeat RTT, reconnects and every push.
 */
import { JanusClient, SCServerLogout_Code, type CloseReason, type Packet, type StateChange } from '@janus/client';

/** What POST /token answers. */
interface TokenReply {
  token: string;
  uid: string;
  name: string;
  gateway: { host: string; port: number; path: string; tls?: boolean };
  clientKeyPem: string;
  clientCertVersion: number;
  serverKeys: Record<number, string>;
}

const ROOM_MOD = 4;
const RoomSeq = { Join: 1, Leave: 2, Say: 3, Event: 10, Message: 11 } as const;
/** Shown with a final ServerLogout: what happened, in words. */
const LOGOUT_TEXT: Partial<Record<SCServerLogout_Code, string>> = {
  [SCServerLogout_Code.ConflictingLogin]: 'this name logged in elsewhere (another tab?)',
  [SCServerLogout_Code.AdminKickOut]: 'kicked by an operator',
  [SCServerLogout_Code.Banned]: 'banned',
  [SCServerLogout_Code.Unauthorized]: 'the token was refused',
  [SCServerLogout_Code.TokenExpired]: 'the token expired: connect again',
};

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const enc = new TextEncoder();
const dec = new TextDecoder();
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));

let client: JanusClient | null = null;
let room = 0n;
let reconnects = 0;

function logEvent(text: string): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('events').prepend(li);
}

function addMessage(text: string, from?: string): void {
  const li = document.createElement('li');
  if (from === undefined) li.className = 'system';
  else {
    const b = document.createElement('b');
    b.textContent = from;
    li.append(b);
  }
  li.append(text);
  const list = $('messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function closeText(r: CloseReason): string {
  if (r.kind === 'logout') return `logged out: ${r.name}${LOGOUT_TEXT[r.code] ? ` (${LOGOUT_TEXT[r.code]})` : ''}`;
  return r.error ? `closed: ${r.error.message}` : 'closed';
}

function showState(s: StateChange): void {
  const el = $('state');
  el.dataset.state = s.state;
  if (s.state === 'open') el.textContent = 'open';
  else if (s.state === 'reconnecting') el.textContent = `reconnecting: attempt ${s.attempt} in ${s.delayMs} ms`;
  else if (s.state === 'connecting') el.textContent = `connecting (attempt ${s.attempt})`;
  else el.textContent = closeText(s.reason);
  if (s.state === 'reconnecting') logEvent(`connection lost (${closeText(s.reason)}); attempt ${s.attempt} in ${s.delayMs} ms`);
  else logEvent(`state ${s.state}`);
}

function onPush(p: Packet): void {
  const body = dec.decode(p.data);
  logEvent(`push mod ${p.mod} seq ${p.seq} obj ${p.obj}: ${body}`);
  if (p.mod !== ROOM_MOD || p.obj !== room) return;
  const m = JSON.parse(body) as { event?: string; uid?: number; name?: string; text?: string };
  if (p.seq === RoomSeq.Message) addMessage(m.text ?? '', m.name ?? `player ${m.uid}`);
  else if (p.seq === RoomSeq.Event) addMessage(m.event === 'join' ? `${m.name} joined` : `player ${m.uid} left`);
}

async function join(c: JanusClient, name: string): Promise<void> {
  const reply = await c.request(ROOM_MOD, RoomSeq.Join, json({ name }), { obj: room });
  const r = JSON.parse(dec.decode(reply.data)) as { members: number[] };
  addMessage(`you are in room ${room} with ${r.members.length - 1} other player(s)`);
}

async function connect(name: string): Promise<void> {
  const res = await fetch('/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  const t = (await res.json()) as TokenReply | { error: string };
  if ('error' in t) throw new Error(t.error);
  const host = ['0.0.0.0', '::'].includes(t.gateway.host) ? location.hostname : t.gateway.host;
  $('state').textContent = 'connecting';
  const c = await JanusClient.connect({
    transport: 'ws',
    host,
    port: t.gateway.port,
    path: t.gateway.path,
    tls: t.gateway.tls ?? location.protocol === 'https:',
    token: t.token,
    clientKeyPem: t.clientKeyPem,
    clientCertVersion: t.clientCertVersion,
    serverKeys: t.serverKeys,
    // A short heartbeat interval, so that the RTT shown stays fresh.
    heartbeatIntervalMs: 5000,
    reconnect: { retries: 30, minDelayMs: 500, maxDelayMs: 8000 },
  });
  client = c;
  $('who').textContent = `${t.name} (uid ${t.uid})`;
  $('crypto').textContent = c.cryptoName;
  c.on('state', showState);
  c.on('push', onPush);
  c.on('heartbeat', (h) => ($('rtt').textContent = `${h.rttMs.toFixed(1)} ms`));
  c.on('serverError', (e) => logEvent(`server error mod ${e.mod} seq ${e.seq}: ${e.msg}`));
  c.on('reconnect', () => {
    $('reconnects').textContent = String(++reconnects);
    // Room membership belongs to the old connection's room stream: join again.
    join(c, name).catch((err: Error) => logEvent(`join after reconnect failed: ${err.message}`));
  });
  c.on('close', (r) => {
    addMessage(closeText(r));
    $('login').hidden = false;
    $<HTMLButtonElement>('send').disabled = true;
    client = null;
  });
  $('room-title').textContent = `Room ${room}`;
  $('login').hidden = true;
  $('chat').hidden = false;
  $<HTMLButtonElement>('send').disabled = false;
  await join(c, name);
  c.heartbeat().catch(() => {}); // a first RTT right away
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  room = BigInt($<HTMLInputElement>('room').value);
  connect($<HTMLInputElement>('name').value).catch((err: Error) => {
    $('state').dataset.state = 'closed';
    $('state').textContent = `failed: ${err.message}`;
    logEvent(`connect failed: ${err.message}`);
  });
});

$('say').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('text');
  const text = input.value;
  if (!client || text === '') return;
  input.value = '';
  client.request(ROOM_MOD, RoomSeq.Say, json({ text }), { obj: room }).catch((err: Error) => logEvent(`say failed: ${err.message}`));
});

$('leave').addEventListener('click', () => void client?.close());
