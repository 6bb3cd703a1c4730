"""A real HTTP server on 127.0.0.1 for the download tests (no network needed)."""

import http.server
import threading


class LocalServer:
    """Serves a request handler class on 127.0.0.1 from a daemon thread."""

    def serve(self, handler):
        """Start serving `handler` (a `BaseHTTPRequestHandler` subclass); sets `url`."""
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
