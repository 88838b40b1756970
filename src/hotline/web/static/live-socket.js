// One live WebSocket per page, shared by the desktop, the wallboard and the interpreter's page:
// it reconnects after a drop (0.5 s, doubling up to 10 s; the server sends a fresh snapshot on
// every connection) and shows its state in the page's #connection element. The server keeps
// the connection alive with WebSocket pings (heartbeat), so pages send no keep-alives.
"use strict";
window.liveSocket = function (path, onMessage) {
  let ws = null;
  let retry = 500;
  const shown = (text, cls) => {
    const el = document.getElementById("connection");
    el.textContent = text;
    el.className = cls;
  };
  function connect() {
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
    ws.onopen = () => { shown("live", "connection"); retry = 500; };
    ws.onmessage = onMessage;
    ws.onclose = (ev) => {
      if (ev.code === 4001) {  // the session ended (logout, another login, the user disabled): log in again
        location.href = "/login?next=" + encodeURIComponent(location.pathname);
        return;
      }
      shown("reconnecting…", "connection down");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  connect();
  return {
    send(m) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); },
    drop() { if (ws) ws.close(); },  // the reconnect follows
  };
};
