// The Node.js broadcast server of node-ws.js, scaled out the way teams usually do it: several
// processes, each relaying what its clients send through Redis PUB/SUB (ioredis), one channel per
// room. Every process publishes each text frame a client sends to `room:<room>`, and forwards
// every message of the channels it subscribes to to its own clients of that room, the sender
// included. No authentication, parsing or validation; at-most-once, like PUB/SUB itself.
// Used by benches/compare.sh for the cluster shapes.
// Usage: node node-ws-redis.js PORT REDIS_PORT
const { WebSocketServer } = require('ws');
const Redis = require('ioredis');

const port = Number(process.argv[2] || 9011);
const redisPort = Number(process.argv[3] || 6379);
const publisher = new Redis({ host: '127.0.0.1', port: redisPort });
const subscriber = new Redis({ host: '127.0.0.1', port: redisPort });
const rooms = new Map();
const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });

subscriber.on('messageBuffer', (channel, message) => {
  const members = rooms.get(channel.toString().slice('room:'.length));
  if (members) for (const member of members) member.send(message, { binary: false });
});

server.on('connection', (socket, request) => {
  const room = new URL(request.url, 'http://localhost').searchParams.get('room') || '';
  if (!rooms.has(room)) {
    rooms.set(room, new Set());
    subscriber.subscribe(`room:${room}`);
  }
  const members = rooms.get(room);
  members.add(socket);
  socket.on('message', (data) => publisher.publish(`room:${room}`, data));
  socket.on('close', () => {
    members.delete(socket);
    if (members.size === 0) {
      rooms.delete(room);
      subscriber.unsubscribe(`room:${room}`);
    }
  });
});
server.on('listening', () => console.log(`node-ws-redis listening on 127.0.0.1:${port}`));
