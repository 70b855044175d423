/*
 * realtime.mjs: the ES module entry of the browser client, for bundlers (esbuild, Vite, webpack,
 * Rollup) and for <script type="module">. The client itself is realtime.js, the classic script the
 * {% realtime_client %} tag loads: one source, no build step either way (docs/client-bundlers.md).
 *
 *   import { connect } from "django-realtime-hub-client";   // or "/static/realtime/realtime.mjs"
 *   const client = connect({ url: "/ws/realtime/" });
 *
 * A bundler sees realtime.js as CommonJS (it assigns module.exports) and hands its API over as the
 * default of the namespace; a browser loading this file natively runs realtime.js as a module with no
 * `module` in scope, so realtime.js hangs its API on window.realtime as it does for the script tag.
 */
import * as loaded from "./realtime.js";

const api = loaded.default && typeof loaded.default.Client === "function" ? loaded.default : globalThis.realtime;

export const connect = api.connect;
export const Client = api.Client;
export const RealtimeError = api.RealtimeError;
export const buildUrl = api.buildUrl;
export const randomId = api.randomId;
export const STATES = api.STATES;
export const policy = api.policy;
export const config = api.config;
export default api;
