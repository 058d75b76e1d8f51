// Listens, without sending anything, to the Socket.IO connection InvokeAI's UI opens: the studio's
// credit badge needs one event (`credits_changed`) and should not open a second connection for it.
// Installed before the UI's bundle runs; every WebSocket the page opens to /ws/socket.io is tapped.

export type SocketEvent = { name: string; data: unknown };

/** A Socket.IO EVENT packet on the default namespace, as engine.io frames it: `42["name",data]`. */
export function parseEventFrame(frame: unknown): SocketEvent | null {
  if (typeof frame !== "string" || !frame.startsWith("42")) return null;
  const start = frame.indexOf("[");
  if (start < 0) return null;
  try {
    const packet = JSON.parse(frame.slice(start));
    return Array.isArray(packet) && typeof packet[0] === "string" ? { name: packet[0], data: packet[1] } : null;
  } catch {
    return null;
  }
}

export function tapSocketIO(onEvent: (event: SocketEvent) => void, onOpen: () => void, path = "/ws/socket.io"): void {
  const Native = window.WebSocket;
  class TappedWebSocket extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      if (String(url).includes(path)) {
        this.addEventListener("open", onOpen);
        this.addEventListener("message", (message: MessageEvent) => {
          const event = parseEventFrame(message.data);
          if (event) onEvent(event);
        });
      }
    }
  }
  window.WebSocket = TappedWebSocket;
}
