"""A loopback HTTP server for CurlTransport's tests. Prints its port, then serves until killed.

/echo          answers JSON: method, path, headers, body length and SHA-256
/gzip          a gzip-encoded body
/slow?s=N      waits N seconds before answering
/reset         closes the connection without answering
/status/NNN    answers with that status
/big?n=N       N bytes of 'x'
/token?t=T     an OAuth token endpoint: answers {"access_token": T} and counts the calls
/stats         {"token_requests": N}

With `--tls CERT KEY` it serves HTTPS with that certificate instead.
"""
import gzip, hashlib, io, json, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs


token_requests = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status, payload, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def handle_any(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        data = self.body()
        if url.path == "/echo":
            payload = json.dumps({
                "method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                "length": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            }).encode()
            self.send(200, payload, [("Content-Type", "application/json")])
        elif url.path == "/gzip":
            self.send(200, gzip.compress(b"compressed hello " * 100), [("Content-Encoding", "gzip")])
        elif url.path == "/slow":
            time.sleep(float(query.get("s", ["3"])[0]))
            self.send(200, b"slow")
        elif url.path == "/reset":
            # SO_LINGER 0 makes close() send a RST; every reference to the socket must go for it to close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
            # The server still flushes and closes after the handler: give it harmless stand-ins.
            self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
        elif url.path.startswith("/status/"):
            self.send(int(url.path.split("/")[2]), b'{"error":{"code":1}}', [("Content-Type", "application/json")])
        elif url.path == "/token":
            global token_requests
            token_requests += 1
            token = query.get("t", ["ya29.test-token"])[0]
            payload = json.dumps({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}).encode()
            self.send(200, payload, [("Content-Type", "application/json")])
        elif url.path == "/stats":
            self.send(200, json.dumps({"token_requests": token_requests}).encode(), [("Content-Type", "application/json")])
        elif url.path == "/big":
            self.send(200, b"x" * int(query.get("n", ["1000"])[0]))
        else:
            self.send(404, b"not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    # The suite's tests run at once, and one of them opens 32 connections together: the default listen backlog
    # of 5 can overflow, and a connection the kernel dropped from the full queue may end in a reset that a test
    # reads as the server's (seen once: "Recv failure: Connection reset by peer" on a 3 MB upload).
    request_queue_size = 128


server = Server(("127.0.0.1", 0), Handler)
if len(sys.argv) == 4 and sys.argv[1] == "--tls":
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
# Exit with the test process, even when it crashes and cannot stop us: an orphan would hold the test
# runner's output pipe open and hang it.
import os, threading
parent = os.getppid()
def watch_parent():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
server.serve_forever()
