// An independent Socket.IO peer: the seed's socket.io-client 4.8.1, connecting with the seed's
// handshake. Usage: node peer.mjs URL TOKEN CONVERSATION_ID
// Prints one JSON object per line: {"event": ..., "data": ...}; reads commands from stdin:
// "typing true" / "typing false" emit typing for the conversation; "quit" disconnects.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, token, conversationId] = process.argv.slice(2);
const say = (event, data) => process.stdout.write(JSON.stringify({ event, data }) + "\n");

const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
socket.on("connect", () => {
  socket.emit("join", { conversationId }, (ack) => say("join-ack", ack));
});
socket.on("connect_error", (err) => say("connect_error", { message: err.message, data: err.data }));
socket.onAny((event, data) => say(event, data));

createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, arg] = line.trim().split(/\s+/);
  if (command === "typing") {
    socket.emit("typing", { conversationId, isTyping: arg === "true" }, (ack) => say("typing-ack", ack));
  } else if (command === "quit") {
    socket.disconnect();
    process.exit(0);
  }
});
