import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { parseEventFrame, tapSocketIO } from "./socketTap";

describe("parseEventFrame", () => {
  it("parses an EVENT packet on the default namespace", () => {
    expect(parseEventFrame('42["credits_changed",{"credits":12}]')).toEqual({ name: "credits_changed", data: { credits: 12 } });
  });

  it("keeps only the first argument as data and allows events without one", () => {
    expect(parseEventFrame('42["queue_item_status_changed",{"item_id":7},"extra"]')).toEqual({
      name: "queue_item_status_changed",
      data: { item_id: 7 },
    });
    expect(parseEventFrame('42["ping_me"]')).toEqual({ name: "ping_me", data: undefined });
  });

  it.each([
    ["engine.io ping", "2"],
    ["engine.io pong", "3"],
    ["Socket.IO connect", "40"],
    ["Socket.IO connect with payload", '40{"sid":"x7Qw"}'],
    ["Socket.IO ack", '430["credits_changed",{"credits":1}]'],
    ["engine.io open", '0{"sid":"abc","upgrades":[],"pingInterval":25000}'],
    ["broken JSON", '42["credits_changed",{"credits":'],
    ["an event without brackets", "42credits_changed"],
    ["a non-string event name", '42[12,{"credits":1}]'],
    ["an object instead of an array", '42{"name":"credits_changed"}'],
    ["garbage", "hello world"],
    ["an empty frame", ""],
  ])("ignores %s", (_label, frame) => {
    expect(parseEventFrame(frame)).toBeNull();
  });

  it("ignores binary frames", () => {
    expect(parseEventFrame(new ArrayBuffer(8))).toBeNull();
    expect(parseEventFrame(new Blob(["42[]"]))).toBeNull();
    expect(parseEventFrame(null)).toBeNull();
  });
});

/** Stands in for the browser's WebSocket: no network, events dispatched by the test. */
class FakeWebSocket extends EventTarget {
  static instances: FakeWebSocket[] = [];
  readonly url: string;
  readonly protocols: string | string[] | undefined;
  constructor(url: string | URL, protocols?: string | string[]) {
    super();
    this.url = String(url);
    this.protocols = protocols;
    FakeWebSocket.instances.push(this);
  }
  open(): void {
    this.dispatchEvent(new Event("open"));
  }
  receive(data: unknown): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }
}

describe("tapSocketIO", () => {
  const original = window.WebSocket;

  beforeEach(() => {
    FakeWebSocket.instances = [];
    window.WebSocket = FakeWebSocket as unknown as typeof WebSocket;
  });
  afterEach(() => {
    window.WebSocket = original;
  });

  it("delivers parsed events and the open of a socket to /ws/socket.io", () => {
    const onEvent = vi.fn();
    const onOpen = vi.fn();
    tapSocketIO(onEvent, onOpen);

    const socket = new window.WebSocket("wss://studio.pingvas.example/ws/socket.io/?EIO=4&transport=websocket", ["chat"]);
    const fake = socket as unknown as FakeWebSocket;
    expect(fake).toBeInstanceOf(FakeWebSocket);
    expect(FakeWebSocket.instances).toEqual([fake]);
    expect(fake.url).toBe("wss://studio.pingvas.example/ws/socket.io/?EIO=4&transport=websocket");
    expect(fake.protocols).toEqual(["chat"]);

    fake.open();
    expect(onOpen).toHaveBeenCalledTimes(1);

    fake.receive("2");
    fake.receive("40");
    fake.receive('430["credits_changed",{"credits":99}]');
    expect(onEvent).not.toHaveBeenCalled();

    fake.receive('42["credits_changed",{"credits":12}]');
    expect(onEvent).toHaveBeenCalledTimes(1);
    expect(onEvent).toHaveBeenCalledWith({ name: "credits_changed", data: { credits: 12 } });
  });

  it("lets the page's own listeners still see every message", () => {
    tapSocketIO(vi.fn(), vi.fn());
    const socket = new window.WebSocket("ws://localhost:9090/ws/socket.io/?EIO=4");
    const seen = vi.fn();
    socket.addEventListener("message", (m) => seen(m.data));
    (socket as unknown as FakeWebSocket).receive('42["credits_changed",{"credits":3}]');
    expect(seen).toHaveBeenCalledWith('42["credits_changed",{"credits":3}]');
  });

  it("accepts a URL object", () => {
    const onEvent = vi.fn();
    tapSocketIO(onEvent, vi.fn());
    const socket = new window.WebSocket(new URL("wss://studio.pingvas.example/ws/socket.io/?EIO=4"));
    (socket as unknown as FakeWebSocket).receive('42["credits_changed",{"credits":5}]');
    expect(onEvent).toHaveBeenCalledWith({ name: "credits_changed", data: { credits: 5 } });
  });

  it("leaves sockets to other URLs alone", () => {
    const onEvent = vi.fn();
    const onOpen = vi.fn();
    tapSocketIO(onEvent, onOpen);
    const socket = new window.WebSocket("wss://studio.pingvas.example/other/socket");
    const fake = socket as unknown as FakeWebSocket;
    expect(fake.url).toBe("wss://studio.pingvas.example/other/socket");
    fake.open();
    fake.receive('42["credits_changed",{"credits":12}]');
    expect(onOpen).not.toHaveBeenCalled();
    expect(onEvent).not.toHaveBeenCalled();
  });

  it("taps a custom path", () => {
    const onEvent = vi.fn();
    tapSocketIO(onEvent, vi.fn(), "/custom/io");
    const tapped = new window.WebSocket("ws://host/custom/io/?EIO=4") as unknown as FakeWebSocket;
    const untapped = new window.WebSocket("ws://host/ws/socket.io/?EIO=4") as unknown as FakeWebSocket;
    untapped.receive('42["credits_changed",{"credits":1}]');
    expect(onEvent).not.toHaveBeenCalled();
    tapped.receive('42["credits_changed",{"credits":2}]');
    expect(onEvent).toHaveBeenCalledWith({ name: "credits_changed", data: { credits: 2 } });
  });
});
