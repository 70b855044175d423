'use strict';
// The server the classic WebSocket guides show (the `ws` README's "broadcast to all clients"
// example): every message received is sent to every open client, one `send()` per client.
// Usage: node relay.js <port>
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 8800);
const wss = new WebSocketServer({ host: '127.0.0.1', port });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    wss.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    });
  });
});

wss.on('listening', () => console.log(`relay listening on 127.0.0.1:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
