// A general-purpose WebSocket broadcast server on Node.js and `ws`: every text frame a client
// sends is relayed unchanged to every client of its room (`?room=` in the URL), the sender
// included. It does no authentication, parsing or validation. Used by benches/compare.sh.
// Usage: node node-ws.js PORT
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 9001);
const rooms = new Map();
const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });

server.on('connection', (socket, request) => {
  const room = new URL(request.url, 'http://localhost').searchParams.get('room') || '';
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(socket);
  socket.on('message', (data, isBinary) => {
    for (const member of members) member.send(data, { binary: isBinary });
  });
  socket.on('close', () => {
    members.delete(socket);
    if (members.size === 0) rooms.delete(room);
  });
});
server.on('listening', () => console.log(`node-ws listening on 127.0.0.1:${port}`));
