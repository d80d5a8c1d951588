// The same broadcast server on Bun (uWebSockets inside): `Bun.serve` with one pub/sub topic per
// room (`?room=` in the URL); `server.publish` reaches every subscriber, the sender included.
// No authentication, parsing or validation. Used by benches/compare.sh.
// Usage: bun bun.js PORT
const port = Number(process.argv[2] || 9002);

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(request, server) {
    const room = new URL(request.url).searchParams.get('room') || '';
    if (server.upgrade(request, { data: { room } })) return undefined;
    return new Response('WebSocket only', { status: 400 });
  },
  websocket: {
    perMessageDeflate: false,
    open(socket) {
      socket.subscribe(socket.data.room);
    },
    message(socket, message) {
      server.publish(socket.data.room, message);
    },
  },
});
console.log(`bun listening on 127.0.0.1:${server.port}`);
