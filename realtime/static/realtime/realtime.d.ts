// Type declarations of the browser client's public API (realtime.js; protocol: docs/protocol.md).
// Checked by tests/js/bundle.test.js with `tsc --noEmit` against a program that uses every name.

/** The connection's state, shown on [data-realtime-badge] elements. */
export type State = "connecting" | "live" | "reconnecting" | "offline";

/** Why the client is not live: "closed", "signed_out", "auth_failed", "network", "policy", "unavailable", "too_many_connections", "hidden". */
export type Reason = string | null;

export interface User {
  id: number;
  username: string;
}

/** The server's first frame on a connection. */
export interface HelloFrame {
  type: "hello";
  user: User | null;
  /** Seconds between pings. */
  heartbeat: number;
  /** Largest frame the server accepts, in bytes. */
  max_frame: number;
  /** Publishes that may be sent and unanswered at once (absent on older servers: 64). */
  max_in_flight?: number;
  /** The connection's request budget: requests a second (absent on older servers: no pacing). */
  request_rate?: number;
  /** ... and at once. */
  request_burst?: number;
}

/** A server event on a topic. `id` is the per-topic stored id (absent for ephemeral events). */
export interface EventFrame<Data = Record<string, unknown>> {
  type: "event";
  topic: string;
  event: string;
  data: Data;
  id?: number;
  /** ISO 8601 time it was stored. */
  at?: string;
}

/** The answer to a subscribe: the subscription is live; `history` stored events follow. */
export interface SubscribedFrame<TopicState = Record<string, unknown>> {
  type: "subscribed";
  ref: string;
  topic: string;
  last_id: number | null;
  history: number;
  /** More was missed than the server replays: rebuild what the page shows from the replay. */
  truncated: boolean;
  state: TopicState;
}

export interface KickedFrame {
  type: "kicked";
  topic: string;
  code: string;
  message: string;
}

/** The answer to a publish that succeeded. */
export interface AckFrame<Data = Record<string, unknown>> {
  type: "ack";
  ref: string;
  topic: string;
  id?: number;
  data: Data;
  published?: boolean;
  duplicate?: boolean;
}

export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  ref?: string;
  topic?: string;
  retry_after?: number;
}

/** What onEvent learns about an event besides the frame. */
export interface EventInfo {
  /** Part of a first subscribe's replay: old news (a list wants it, an overlay does not). */
  history: boolean;
  /** Part of a resume's replay: missed while away. */
  resumed: boolean;
}

/**
 * An error the server sent (`type: "error"`) or a local one: "offline", "connection_lost", "timeout",
 * "unsubscribed", "closed", "signed_out", "ticket_unavailable". Switch on `code`, not `message`.
 */
export interface RealtimeError extends Error {
  name: "RealtimeError";
  code: string;
  frame: ErrorFrame | null;
  /** Seconds, from the frame's retry_after. */
  retryAfter: number | null;
}

/** Makes a RealtimeError (called without `new`). */
export function RealtimeError(code: string, message?: string, frame?: ErrorFrame | null): RealtimeError;

export interface SubscribeHandlers<Data = Record<string, unknown>, TopicState = Record<string, unknown>> {
  onEvent?(this: Subscription, frame: EventFrame<Data>, info: EventInfo): void;
  onSubscribed?(this: Subscription, frame: SubscribedFrame<TopicState>): void;
  onKicked?(this: Subscription, frame: KickedFrame): void;
  /** A final refusal of the subscription (not_found, forbidden, auth_required, banned, ...). */
  onError?(this: Subscription, error: RealtimeError): void;
}

/** One page part's handle on a (possibly shared) server subscription. */
export interface Subscription {
  readonly client: Client;
  readonly topic: string;
  readonly handlers: SubscribeHandlers;
  /** Highest stored event id seen: where a resubscribe resumes. */
  readonly lastId: number | null;
  /** Subscribed on the current connection. */
  readonly ready: boolean;
  /** `subscribed.state` of the latest (re)subscribe. */
  readonly state: Record<string, unknown>;
  /** Stop receiving; the server is told once no other handle holds the topic. */
  unsubscribe(): void;
}

export interface PublishOptions {
  /** Wait while offline or while the topic's subscription is not live (default true). */
  queue?: boolean;
  /** Re-send after a dropped connection (default: true when data has a non-empty string client_id). */
  retry?: boolean;
  /** Ms to wait for the answer once sent (default 15000; 0 waits for ever). */
  timeout?: number;
}

export interface ClientOptions {
  /** ws path or absolute ws(s) URL (default: the script tag's data-url, else /ws/realtime/). */
  url?: string;
  /** Seconds between pings until the server's hello says otherwise (default 25). */
  heartbeat?: number | string;
  /** POST here for a fresh single-use ticket before every connect (non-cookie auth). */
  ticketUrl?: string | null;
  /** Injectable for tests and non-browser hosts. */
  WebSocket?: { new (url: string, protocols?: string | string[]): WebSocket };
  document?: Document | null;
  location?: { protocol: string; host: string };
  random?: () => number;
  fetch?: typeof fetch;
}

export interface StateChange {
  state: State;
  reason: Reason;
}

export interface ClientEventMap {
  statechange: StateChange;
  hello: HelloFrame;
  event: EventFrame;
  subscribed: SubscribedFrame;
  unsubscribed: { type: "unsubscribed"; ref: string; topic: string };
  kicked: KickedFrame;
  ack: AckFrame;
  error: RealtimeError;
  close: { code: number | undefined };
  presence: PresenceStateFrame | PresenceDiffFrame;
  /** Frames of a type this client does not know. */
  message: Record<string, unknown> & { type: string };
}

export interface ClientEvent<K extends keyof ClientEventMap> {
  type: K;
  detail: ClientEventMap[K];
  target: Client;
}

/** One connection's meta in a presence entry: one per tab or device. */
export interface PresenceMeta {
  conn: string;
  status: PresenceStatus | null;
}

/** The server's allow-list by default; a topic kind may allow others. */
export type PresenceStatus = "typing" | "away" | "active" | (string & {});

/** One user in a roster (key = the user's id as a string). Never an email. */
export interface PresenceEntry {
  name: string;
  avatar?: string | null;
  metas: PresenceMeta[];
}

export type PresenceRoster = Record<string, PresenceEntry>;

export interface PresenceStateFrame {
  type: "presence_state";
  topic: string;
  entries: PresenceRoster;
  /** Signed-in users listed. */
  count: number;
  /** Anonymous viewers: counted, never listed. */
  anonymous: number;
}

export interface PresenceDiffFrame {
  type: "presence_diff";
  topic: string;
  joins: PresenceRoster;
  leaves: PresenceRoster;
  count: number;
  anonymous: number;
}

/** `before` is undefined when the user was not listed. */
export type PresenceJoin = (key: string, before: PresenceEntry | undefined, joined: PresenceEntry) => void;
/** `after.metas` empty: the user left altogether. */
export type PresenceLeave = (key: string, after: PresenceEntry, left: PresenceEntry) => void;

/** What client.presence(topic) returns: the topic's roster, kept across reconnects without flicker. */
export interface Presence {
  readonly client: Client;
  readonly topic: string;
  /** The subscription handle it holds on the topic (presence frames only reach subscribers). */
  readonly subscription: Subscription;
  /** Signed-in users listed, as the server counts them. */
  readonly count: number;
  /** Anonymous viewers. */
  readonly anonymous: number;
  /** A presence_state has arrived. */
  readonly synced: boolean;
  /** The roster by key (a copy). */
  list(): PresenceRoster;
  list<T>(chooser: (key: string, entry: PresenceEntry) => T): T[];
  /** Each returns the function that removes the listener. */
  onJoin(fn: PresenceJoin): () => void;
  onLeave(fn: PresenceLeave): () => void;
  onSync(fn: (presence: Presence) => void): () => void;
  onError(fn: (err: RealtimeError) => void): () => void;
  /** This connection's status; at most one frame a second goes out (the latest wins). */
  setStatus(status: PresenceStatus | null): void;
  /** Unsubscribe this handle and forget the roster. */
  leave(): void;
}

/** One connection and everything that must survive its reconnects. */
export class Client {
  constructor(options?: ClientOptions);
  readonly url: string;
  readonly ticketUrl: string | null;
  heartbeat: number;
  readonly state: State;
  readonly reason: Reason;
  /** From hello: null for anonymous, undefined before the first hello. */
  readonly user: User | null | undefined;
  /** Consecutive failed connection attempts (the backoff's exponent). */
  readonly attempt: number;
  subscribe<Data = Record<string, unknown>, TopicState = Record<string, unknown>>(
    topic: string,
    handlers?: SubscribeHandlers<Data, TopicState>,
    since?: number,
  ): Subscription;
  publish<Data = Record<string, unknown>>(
    topic: string,
    event: string,
    data?: Record<string, unknown>,
    options?: PublishOptions,
  ): Promise<AckFrame<Data>>;
  addEventListener<K extends keyof ClientEventMap>(type: K, listener: (event: ClientEvent<K>) => void): void;
  removeEventListener<K extends keyof ClientEventMap>(type: K, listener: (event: ClientEvent<K>) => void): void;
  /** The short form: returns the function that removes the listener. */
  on<K extends keyof ClientEventMap>(type: K, listener: (event: ClientEvent<K>) => void): () => void;
  /** The topic's roster (subscribes to the topic); handlers as subscribe()'s. */
  presence(topic: string, handlers?: SubscribeHandlers): Presence;
  /** Reconnect delay of attempt `attempt` (0-based), in ms: full jitter up to min(30 s, 1 s * 2^attempt). */
  backoffDelay(attempt: number): number;
  /** Close for good; pending publishes are rejected with "closed". */
  close(): void;
}

/** What to do after a close with a given code (the actions of tests/protocol_cases.json). */
export interface ClosePlan {
  action: "stop" | "reconnect" | "reconnect_soon" | "refresh_ticket" | "retry_after" | "pause";
  reason?: string;
  /** For "pause": how long, in ms. */
  delay?: number;
  /** Whether the attempt counter (so the next backoff) grows. */
  penalty?: boolean;
}

/** The server's request budget mirrored a margin inside it (90% of the rate, a tenth of the burst kept); times in ms. */
export declare class RequestPacer {
  /** `spent`: requests already sent on the connection before its hello. */
  constructor(rate: number, burst: number, now: number, spent?: number);
  /** Spend a token for one request to send now; false: wait until readyAt(). */
  take(now: number): boolean;
  readyAt(): number;
  /** The server answered rate_limited with this retry_after (ms). */
  refused(retryAfterMs: number, now: number): void;
}

/** The client's decision points, as pure functions. */
export interface Policy {
  backoffDelay(attempt: number, random: () => number): number;
  publishRetryable(code: string, retryAfter?: number | null): boolean;
  subscribeRetryable(code: string, retryAfter?: number | null): boolean;
  maxInFlight(hello: Partial<HelloFrame> | null | undefined): number;
  RequestPacer: typeof RequestPacer;
  /** The pacer for a connection whose hello was `hello`; null when it announces no budget. */
  requestPacer(hello: Partial<HelloFrame> | null | undefined, now: number, spent?: number): RequestPacer | null;
  closePlan(code: number | undefined, hasTicketUrl: boolean): ClosePlan;
  /** Phoenix's syncState: the roster after `fresh`, reporting only the real differences. */
  syncState(roster: PresenceRoster, fresh: PresenceRoster, onJoin?: PresenceJoin, onLeave?: PresenceLeave): PresenceRoster;
  /** Phoenix's syncDiff: joins, then leaves; the roster given is not changed. */
  syncDiff(
    roster: PresenceRoster,
    diff: { joins?: PresenceRoster; leaves?: PresenceRoster },
    onJoin?: PresenceJoin,
    onLeave?: PresenceLeave,
  ): PresenceRoster;
}

/** The tab's one shared Client, created on first call (from the script tag's data-* when there is one). */
export function connect(options?: ClientOptions): Client;
/** ws: or wss: from the page's own scheme; absolute ws(s) URLs are kept. */
export function buildUrl(path: string | undefined, location?: { protocol: string; host: string }): string;
export function randomId(): string;
export const STATES: State[];
export const policy: Policy;
/** The script tag's data-* attributes (empty when loaded as a module). */
export const config: Readonly<Record<string, string>>;

declare const realtime: {
  connect: typeof connect;
  Client: typeof Client;
  RealtimeError: typeof RealtimeError;
  buildUrl: typeof buildUrl;
  randomId: typeof randomId;
  STATES: typeof STATES;
  policy: Policy;
  config: typeof config;
};
export default realtime;

// -- live.js (issue 21) ------------------------------------------------------------------------------
// live.js is a companion classic script ({% live_scripts %} loads it after realtime.js); it sets
// window.realtime.live, typed here as `Live`. Wire shapes: docs of realtime.live.

/** What a live topic's `subscribed.state` and events carry, by form. */
export type LivePayload =
  | { form: "fragment"; html: string; deleted?: boolean }
  | { form: "rows"; order: string[]; html: Record<string, string> }
  | { form: "value"; value: unknown }
  | { form: "change"; op: "create" | "update" | "delete"; pk: unknown; fields: Record<string, unknown> };

export interface LiveInfo {
  /** true for a (re)subscribe's state, false for a later event. */
  initial: boolean;
  topic: string;
}

/** The detail of the "realtime:live" DOM event fired on an element after each update. */
export interface LiveEventDetail {
  topic: string;
  form: "fragment" | "rows" | "value";
  initial: boolean;
  payload: LivePayload;
}

/** window.realtime.live */
export interface Live {
  /** The value of a value topic now (if known) and after each change; returns stop(). */
  value<V = unknown>(topic: string, callback: (value: V, info: LiveInfo) => void): () => void;
  /** Every payload of a topic, any form (a model topic's changes come as form "change"); returns stop(). */
  on(topic: string, callback: (payload: LivePayload, info: LiveInfo) => void): () => void;
  /** Subscribe the live elements inside node now (the MutationObserver does it a moment later anyway). */
  scan(node?: Element): void;
  /** Make el's children look like html, keeping focus and typed input, as updates do. */
  morph(el: Element, html: string): void;
  /** The page's shared client (its `state`, "statechange"), null before the first live topic. */
  client(): Client | null;
  /** The connection's state and reason (changes: the document's "realtime:state" event), null before the first live topic. */
  state(): { state: State; reason: Reason } | null;
  /** The topics subscribed now. */
  topics(): string[];
  start(): void;
  stop(): void;
}
